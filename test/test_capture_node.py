"""
camera_node against a real ROS 2: a folder with a calibration, the end of a source, errors.

Runs wherever ROS 2 is sourced; skips elsewhere.
"""
import os
import subprocess
import sys
import time

import cv2
import numpy as np

from conftest import REPO, require_ros

require_ros()

import pytest  # noqa: E402,I100
import rclpy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from jetauto_perception.sources.camera_info import load_calibration  # noqa: E402
from jetauto_perception.sources.capture import gstreamer_available  # noqa: E402

SAMPLE = REPO / 'config' / 'camera_info_sample.yaml'


def camera_command(*params):
    cmd = [sys.executable, '-m', 'jetauto_perception.nodes.camera_node', '--ros-args']
    for param in params:
        cmd += ['-p', param]
    return cmd


def camera_env():
    return dict(os.environ, PYTHONUNBUFFERED='1',
                PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))


def run_to_exit(*params, timeout=60):
    return subprocess.run(camera_command(*params), env=camera_env(), capture_output=True,
                          text=True, timeout=timeout)


def test_missing_calibration_is_one_line_and_exit_1(tmp_path):
    result = run_to_exit('source:=%s' % tmp_path,
                         'camera_info_url:=file://%s' % (tmp_path / 'none.yaml'))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'cannot read camera calibration' in output and 'none.yaml' in output
    assert 'Traceback' not in output


def test_wrong_parameter_type_is_one_line_and_exit_1():
    result = run_to_exit('source:=0', 'fps:=30')
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "parameter 'fps'" in output and 'Traceback' not in output


def test_csi_without_gstreamer_is_one_line_and_exit_1():
    if gstreamer_available():
        pytest.skip('this OpenCV has GStreamer')
    result = run_to_exit('source:=csi://0')
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'needs OpenCV built with GStreamer' in output and 'Traceback' not in output


def test_folder_with_calibration_is_published_then_the_node_exits(tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(40):
        cv2.imwrite(str(folder / ('f%03d.png' % i)), np.full((480, 640, 3), i * 6, np.uint8))
    process = subprocess.Popen(
        camera_command('source:=%s' % folder, 'fps:=20.0', 'exit_on_end:=true',
                       'frame_id:=test_optical', 'camera_info_url:=file://%s' % SAMPLE),
        env=camera_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    node = rclpy.create_node('camera_node_tester')
    images, infos = [], []
    node.create_subscription(Image, 'camera/image_raw', images.append, 50)
    node.create_subscription(CameraInfo, 'camera/camera_info', infos.append, 50)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        for _ in range(20):  # what was still in flight
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        if process.poll() is None:
            process.kill()
    output = process.stdout.read()
    assert process.returncode == 0, output
    assert 'end of image folder' in output and 'exiting' in output
    assert len(images) >= 20, output  # the first frames may go out before we subscribed
    values = [int(np.frombuffer(bytes(m.data), np.uint8)[0]) for m in images]
    assert values == sorted(values) and values[-1] == 39 * 6  # in order, to the last one
    image = images[-1]
    assert (image.width, image.height, image.encoding) == (640, 480, 'bgr8')
    assert image.header.frame_id == 'test_optical'
    stamps = [m.header.stamp.sec * 10 ** 9 + m.header.stamp.nanosec for m in images]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))  # one capture stamp per frame
    # paced at the fps parameter: the schedule itself is test_capture.py's (a virtual clock);
    # the rate reached here depends on this CPU (about 90 ms to publish 640x480 on a slow one)
    assert '20 fps' in output, output
    calib = load_calibration(str(SAMPLE))
    info = infos[-1]
    assert (info.width, info.height) == (640, 480)
    assert list(info.k) == pytest.approx(calib.k) and list(info.d) == pytest.approx(calib.d)
    assert list(info.p) == pytest.approx(calib.p)
    assert info.distortion_model == 'plumb_bob'
    assert {(m.header.stamp.sec, m.header.stamp.nanosec) for m in infos} <= \
        {(m.header.stamp.sec, m.header.stamp.nanosec) for m in images} | \
        {(m.header.stamp.sec, m.header.stamp.nanosec) for m in infos[:3]}
