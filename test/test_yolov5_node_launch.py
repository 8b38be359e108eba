"""
Proof of life of yolov5_node against a real ROS 2: image in, Detection2DArray out.

Runs wherever ROS 2 is sourced (launch_testing's pytest plugin collects it); skips elsewhere.
"""
import unittest

from conftest import require_ros, SHARED

require_ros()

import launch  # noqa: E402,I100
import launch.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import pytest  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
import rclpy  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile  # noqa: E402
from ros_helpers import (  # noqa: E402
    image_message, load_image, node_command, node_env, spin_until)
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402

MODEL = SHARED / 'models' / 'yolov5' / 'yolov5n.onnx'


@pytest.mark.launch_test
def generate_test_description():
    detector = launch.actions.ExecuteProcess(
        cmd=node_command('yolov5_node', 'model_path:=%s' % MODEL, 'stats_period:=1.0'),
        additional_env=node_env(), output='screen', name='yolov5_node')
    return launch.LaunchDescription([detector, launch_testing.actions.ReadyToTest()]), {
        'detector': detector}


class TestYoloV5Node(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('yolov5_node_tester')
        cls.received = []
        cls.node.create_subscription(Detection2DArray, 'detections', cls.received.append, 10)
        cls.publisher = cls.node.create_publisher(Image, 'camera/image_raw', 10)
        cls.bus = load_image(SHARED / 'data' / 'images' / 'bus.jpg')

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def wait_for_stamp(self, sec, nanosec, message, timeout=90.0):
        def found():
            return any(m.header.stamp.sec == sec and m.header.stamp.nanosec == nanosec
                       for m in self.received)
        ok = spin_until(self.node, found, timeout, lambda: self.publisher.publish(message))
        self.assertTrue(ok, 'no detections for stamp %d.%d' % (sec, nanosec))
        return next(m for m in self.received
                    if m.header.stamp.sec == sec and m.header.stamp.nanosec == nanosec)

    def test_1_detections_carry_the_image_header(self):
        msg = self.wait_for_stamp(1234, 5678, image_message(self.bus, 1234, 5678, 'test_cam'))
        self.assertEqual(msg.header.frame_id, 'test_cam')
        labels = [d.results[0].hypothesis.class_id for d in msg.detections]
        self.assertIn('bus', labels)
        self.assertGreaterEqual(labels.count('person'), 3)
        bus = next(d for d in msg.detections if d.results[0].hypothesis.class_id == 'bus')
        # Source pixels: the bus spans most of the 810-pixel-wide image.
        self.assertGreater(bus.bbox.size_x, 600)
        self.assertLess(bus.bbox.center.position.x + bus.bbox.size_x / 2, 811)
        for det in msg.detections:
            self.assertEqual(det.header.stamp.sec, 1234)

    def test_2_bad_image_then_good_image(self, proc_output):
        bad = image_message(self.bus, 50, 0)
        bad.data = bad.data[:100]   # data size != step * height
        unknown = image_message(self.bus, 51, 0)
        unknown.encoding = 'xyz16'
        logged = False
        for _ in range(20):   # best-effort delivery: repeat until the node has seen one
            self.publisher.publish(bad)
            self.publisher.publish(unknown)
            try:
                proc_output.assertWaitFor('skipping a bad image message', timeout=1.5)
                logged = True
                break
            except AssertionError:
                continue
        self.assertTrue(logged, 'the node did not report the bad image messages')
        msg = self.wait_for_stamp(52, 0, image_message(self.bus, 52, 0), timeout=30)
        self.assertTrue(msg.detections)

    def test_3_label_info_is_latched(self):
        infos = []
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(LabelInfo, 'detections/label_info', infos.append, qos)
        self.assertTrue(spin_until(self.node, lambda: bool(infos), 20))
        names = [c.class_name for c in infos[0].class_map]
        self.assertEqual(len(names), 80)
        self.assertEqual(names[0], 'person')
        self.assertAlmostEqual(infos[0].threshold, 0.25, places=6)

    def test_4_a_live_conf_threshold_is_in_the_new_label_info(self):
        client = self.node.create_client(SetParameters, '/yolov5_node/set_parameters')
        self.assertTrue(client.wait_for_service(timeout_sec=20))
        value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=0.6)
        future = client.call_async(SetParameters.Request(
            parameters=[Parameter(name='conf_threshold', value=value)]))
        self.assertTrue(spin_until(self.node, future.done, 20))
        self.assertTrue(future.result().results[0].successful, future.result().results[0].reason)
        # a subscriber that comes now gets the latched LabelInfo with the new threshold
        infos = []
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(LabelInfo, 'detections/label_info', infos.append, qos)
        self.assertTrue(spin_until(self.node, lambda: bool(infos), 20))
        self.assertAlmostEqual(infos[-1].threshold, 0.6, places=6)
        self.assertEqual(len(infos[-1].class_map), 80)
        # and the detections follow it
        msg = self.wait_for_stamp(60, 0, image_message(self.bus, 60, 0), timeout=30)
        scores = [d.results[0].hypothesis.score for d in msg.detections]
        self.assertTrue(scores)
        self.assertGreaterEqual(min(scores), 0.6)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
