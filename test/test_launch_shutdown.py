"""
Ctrl-C on ``ros2 launch perception.launch.py``: every node exits with 0, no traceback.

Seen before: with somebody watching the visualizer, ``visualizer_node`` died of "publisher's
context is invalid" (exit 1) from a callback still running after the context went down. Each
case starts the launch file on the shared video (the ament prefix of ament_prefix.py), waits
until the results flow (and a subscriber keeps the visualizer drawing), then sends SIGINT to
the launch's process group as a terminal's Ctrl-C does. Also the single-process mode: the
nodes in one perception_container, answering as separate nodes.
"""
import os
import re
import shutil
import signal
import subprocess
import time

from ament_prefix import make_install_prefix, PACKAGE

from conftest import require_ros, SHARED

require_ros()

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402,I100
import pytest  # noqa: E402
import rclpy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

VIDEO = SHARED / 'data' / 'video' / 'vtest.avi'


@pytest.fixture(scope='module')
def ros():
    if not VIDEO.is_file():
        pytest.skip('%s is not here' % VIDEO)
    if shutil.which('ros2') is None:
        pytest.skip('the ros2 command is not installed')
    prefix = make_install_prefix()
    env = dict(os.environ, PYTHONUNBUFFERED='1', AMENT_PREFIX_PATH=os.pathsep.join(
        [str(prefix), os.environ['AMENT_PREFIX_PATH']]))
    rclpy.init()
    node = rclpy.create_node('launch_shutdown_tester')
    yield prefix, env, node
    node.destroy_node()
    rclpy.shutdown()


def run_and_interrupt(ros, arguments, topics, seconds=150.0, ready=lambda: True):
    """Launch, wait for messages on each topic and ``ready()``, Ctrl-C; (exit code, output)."""
    prefix, env, node = ros
    launch_file = prefix / 'share' / PACKAGE / 'launch' / 'perception.launch.py'
    launch = subprocess.Popen(
        ['ros2', 'launch', str(launch_file), 'source:=%s' % VIDEO, 'rviz:=false'] + arguments,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    heard = {}
    subscriptions = [node.create_subscription(
        message_type, topic, lambda m, t=topic: heard.__setitem__(t, heard.get(t, 0) + 1), 10)
        for topic, message_type in topics.items()]
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and launch.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.1)
            if all(heard.get(topic, 0) >= 3 for topic in topics) and ready():
                break
        assert launch.poll() is None, launch.stdout.read()
        assert all(heard.get(topic, 0) >= 3 for topic in topics), heard
        os.killpg(launch.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        end = time.monotonic() + 40
        while launch.poll() is None and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)  # the visualizer's watcher stays
    finally:
        for subscription in subscriptions:
            node.destroy_subscription(subscription)
        if launch.poll() is None:
            os.killpg(launch.pid, signal.SIGKILL)
        launch.wait()
    return launch.returncode, launch.stdout.read()


def check_clean(code, output, processes):
    assert 'Traceback' not in output, output
    assert 'process has died' not in output, output
    finished = set(re.findall(r'\[INFO\] \[([\w-]+)-\d+\]: process has finished cleanly',
                              output))
    assert finished == set(processes), output
    assert code == 0, output


def test_ctrl_c_ends_every_process_of_separate_processes_cleanly(ros):
    statuses = {}
    diagnostics = ros[2].create_subscription(
        DiagnosticArray, '/diagnostics',
        lambda m: statuses.update((s.name, s) for s in m.status), 50)
    code, output = run_and_interrupt(
        ros, ['single_process:=false'],
        {'/detections': Detection2DArray, '/visualizer_node/image': Image,
         '/diagnostics': DiagnosticArray},
        # both reporters publish at 1 Hz: wait for the first report of each
        ready=lambda: {'camera_node: capture', 'yolov5_node: inference'} <= set(statuses))
    ros[2].destroy_subscription(diagnostics)
    check_clean(code, output, ['camera_node', 'yolov5_node', 'visualizer_node'])
    # the camera and the detector report on /diagnostics (the camera OK: frames flow)
    assert statuses['camera_node: capture'].level == DiagnosticStatus.OK
    assert 'frame rate (Hz)' in [kv.key for kv in statuses['camera_node: capture'].values]
    assert 'yolov5_node: inference' in statuses


def test_single_process_answers_as_separate_nodes_and_ends_cleanly(ros):
    code, output = run_and_interrupt(
        ros, ['single_process:=true', 'enable_keypoints:=true'],
        {'/detections': Detection2DArray, '/keypoints': Detection2DArray})
    check_clean(code, output, ['perception_container'])
    assert 'perception: starting camera_node, yolov5_node, keypoint_node, visualizer_node in ' \
        'one process' in output
    for name in ('camera_node', 'yolov5_node', 'keypoint_node', 'visualizer_node'):
        assert '[%s]' % name in output, output  # each logs under its own node name
