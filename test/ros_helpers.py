"""Helpers for the tests that run real ROS 2 nodes (only imported where ROS 2 is sourced)."""
import os
import sys
import time

import cv2
import numpy as np
import rclpy
from sensor_msgs.msg import Image

from conftest import REPO


def node_command(module, *params):
    """Run ``jetauto_perception.nodes.<module>`` from the source tree with ROS parameters."""
    cmd = [sys.executable, '-m', 'jetauto_perception.nodes.' + module, '--ros-args']
    for param in params:
        cmd += ['-p', param]
    return cmd


def node_env():
    """Environment additions for a node process: this checkout first on the Python path."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get('PYTHONPATH', '')) if p)
    return {'PYTHONPATH': path, 'PYTHONUNBUFFERED': '1'}


def image_message(image, sec=0, nanosec=0, frame_id='camera'):
    msg = Image()
    msg.header.stamp.sec = sec
    msg.header.stamp.nanosec = nanosec
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = 'bgr8'
    msg.step = int(image.shape[1] * 3)
    msg.data = np.ascontiguousarray(image).tobytes()
    return msg


def load_image(path):
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def spin_until(node, predicate, timeout, publish=None, period=0.5):
    """Spin ``node`` until ``predicate()`` is true, calling ``publish()`` every ``period``."""
    deadline = time.monotonic() + timeout
    last = 0.0
    while time.monotonic() < deadline:
        if publish is not None and time.monotonic() - last > period:
            publish()
            last = time.monotonic()
        rclpy.spin_once(node, timeout_sec=0.05)
        if predicate():
            return True
    return False
