"""
perception_container with the camera in another process: one image subscription for all.

The container hosts yolov5_node and pose_node (separate ROS nodes, each with its own topics);
the frames come from this test on ``camera/image_raw``. The graph must show exactly one
subscription to the images (the container's receiver, which decodes each frame once and hands
it to both models), both result topics must answer, and SIGINT must end it with exit code 0.
"""
import os
import signal
import subprocess
import sys
import time

from conftest import REPO, require_ros, SHARED

require_ros()

import pytest  # noqa: E402,I100
import rclpy  # noqa: E402
from ros_helpers import image_message, load_image, node_env  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402


@pytest.fixture(scope='module')
def container():
    if not (SHARED / 'models').is_dir():
        pytest.skip('the model nodes need the models in %s' % (SHARED / 'models'))
    env = dict(os.environ, **node_env())
    process = subprocess.Popen(
        [sys.executable, '-m', 'jetauto_perception.nodes.perception_container', '--nodes',
         'yolov5_node,pose_node', '--ros-args', '--params-file',
         str(REPO / 'config' / 'perception.yaml'), '-p', 'max_rate:=0.0'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    node = rclpy.create_node('container_tester')
    yield process, node
    if process.poll() is None:
        process.kill()
        process.wait()
    node.destroy_node()
    rclpy.shutdown()


def test_one_subscription_feeds_both_models_then_sigint_exits_0(container):
    process, node = container
    received = {'/detections': [], '/mediapipe/pose': []}
    for topic, messages in received.items():
        node.create_subscription(Detection2DArray, topic, messages.append, 10)
    publisher = node.create_publisher(Image, 'camera/image_raw', 10)
    image = load_image(SHARED / 'data' / 'images' / 'bus.jpg')
    deadline = time.monotonic() + 120
    sent = 0
    while time.monotonic() < deadline and not all(received.values()):
        assert process.poll() is None, process.stdout.read()
        sent += 1
        publisher.publish(image_message(image, 500 + sent, 0))
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
    assert all(received.values()), {t: len(m) for t, m in received.items()}
    names = set(node.get_node_names())
    assert {'yolov5_node', 'pose_node', 'perception_container'} <= names
    infos = node.get_subscriptions_info_by_topic('/camera/image_raw')
    assert [i.node_name for i in infos] == ['perception_container']
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert 'Traceback' not in output, output
