"""
keypoint_node against a real ROS 2: image + detections in, keypoints out.

Two node processes: one pairs images with the detections of the same stamp (the person boxes
come from the real YOLOv5n on bus.jpg, run in this test process), one takes the whole frame
(``use_detections:=false``). Each runs in its own namespace, so other ROS tests on this machine
that publish ``camera/image_raw`` or ``detections`` cannot disturb the pairing. Runs wherever
ROS 2 is sourced; skips elsewhere.
"""
import unittest

from conftest import require_ros
from conftest import SHARED

require_ros()

import launch  # noqa: E402,I100
import launch.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import rclpy  # noqa: E402
from rclpy.qos import DurabilityPolicy  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from ros_helpers import image_message  # noqa: E402
from ros_helpers import load_image  # noqa: E402
from ros_helpers import node_command  # noqa: E402
from ros_helpers import node_env  # noqa: E402
from ros_helpers import spin_until  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402
from vision_msgs.msg import LabelInfo  # noqa: E402

from jetauto_perception.detection.yolov5 import YoloV5Detector  # noqa: E402
from jetauto_perception.keypoints.coco17 import COCO_KEYPOINT_NAMES  # noqa: E402
from jetauto_perception.keypoints.coco17 import COCO_SKELETON  # noqa: E402
from jetauto_perception.keypoints.crop import boxes_to_crops  # noqa: E402
from jetauto_perception.nodes.conversions import detections_to_msg  # noqa: E402
from jetauto_perception.nodes.conversions import parse_label_info  # noqa: E402

NAMESPACE = '/keypoint_test'
FRAME_NAMESPACE = '/keypoint_frame_test'
POSE_MODEL = SHARED / 'models' / 'pose' / 'simplepose_mbv2_256x192.onnx'
DETECTOR_MODEL = SHARED / 'models' / 'yolov5' / 'yolov5n.onnx'


@pytest.mark.launch_test
def generate_test_description():
    paired = launch.actions.ExecuteProcess(
        cmd=node_command('keypoint_node', 'model_path:=%s' % POSE_MODEL, 'score_threshold:=0.0',
                         'device:=cpu', 'stats_period:=1.0') + ['-r', '__ns:=' + NAMESPACE],
        additional_env=node_env(), output='screen', name='keypoint_node')
    whole_frame = launch.actions.ExecuteProcess(
        cmd=node_command('keypoint_node', 'model_path:=%s' % POSE_MODEL, 'use_detections:=false',
                         'score_threshold:=0.0', 'flip_test:=true', 'decode:=dark')
        + ['-r', '__ns:=' + FRAME_NAMESPACE],
        additional_env=node_env(), output='screen', name='keypoint_frame_node')
    return launch.LaunchDescription([paired, whole_frame, launch_testing.actions.ReadyToTest()])


class TestKeypointNode(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('keypoint_node_tester', namespace=NAMESPACE)
        cls.keypoints = []
        cls.frame_keypoints = []
        cls.node.create_subscription(Detection2DArray, 'keypoints', cls.keypoints.append, 10)
        cls.node.create_subscription(Detection2DArray, FRAME_NAMESPACE + '/keypoints',
                                     cls.frame_keypoints.append, 10)
        cls.images = cls.node.create_publisher(Image, 'camera/image_raw', 10)
        cls.frame_images = cls.node.create_publisher(Image, FRAME_NAMESPACE + '/camera/image_raw',
                                                     10)
        cls.detections = cls.node.create_publisher(Detection2DArray, 'detections', 10)
        cls.bus = load_image(SHARED / 'data' / 'images' / 'bus.jpg')
        detector = YoloV5Detector.from_model(str(DETECTOR_MODEL))
        cls.found = detector.detect(cls.bus)
        detector.close()
        cls.people = cls.found.select(cls.found.class_ids == 0)

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def wait_for(self, received, sec, nanosec, publish, timeout=90.0):
        def match():
            return next((m for m in received if m.header.stamp.sec == sec
                         and m.header.stamp.nanosec == nanosec), None)
        ok = spin_until(self.node, lambda: match() is not None, timeout, publish)
        self.assertTrue(ok, 'no keypoints for stamp %d.%d' % (sec, nanosec))
        return match()

    def assert_coco_people(self, msg, boxes):
        self.assertEqual(len(msg.detections), len(boxes))
        for det, box in zip(msg.detections, boxes):
            self.assertEqual([r.hypothesis.class_id for r in det.results],
                             list(COCO_KEYPOINT_NAMES))
            self.assertAlmostEqual(det.bbox.size_x, float(box[2] - box[0]), places=2)
            crop = boxes_to_crops(np.array([box]), (256, 192))  # the box made 3:4, x1.25
            (cx, cy), (width, height) = crop.centers[0], crop.sizes[0]
            for result in det.results:
                position = result.pose.pose.position  # keypoints lie inside their crop
                self.assertLessEqual(abs(position.x - cx), width / 2 + 1, position)
                self.assertLessEqual(abs(position.y - cy), height / 2 + 1, position)
            self.assertGreater(max(r.hypothesis.score for r in det.results), 0.3)

    def test_1_image_and_detections_of_one_stamp_give_keypoints_per_person(self):
        self.assertGreaterEqual(len(self.people), 3)
        image = image_message(self.bus, 777, 42, 'test_cam')
        tracked = self.found.select(np.ones(len(self.found), bool))
        tracked.track_ids = np.arange(40, 40 + len(tracked))  # as yolov5_node's tracker sets
        detections = detections_to_msg(tracked, image.header)  # the bus too: not a person

        def publish():
            self.detections.publish(detections)  # detections first, the image after
            self.images.publish(image)
        msg = self.wait_for(self.keypoints, 777, 42, publish)
        self.assertEqual(msg.header.frame_id, 'test_cam')
        order = sorted(range(len(self.people)), key=lambda i: -self.people.scores[i])
        self.assert_coco_people(msg, self.people.boxes[order])
        person_ids = [str(40 + i) for i in np.flatnonzero(self.found.class_ids == 0)]
        # each person instance carries the id (track id) of its person box
        self.assertEqual([d.id for d in msg.detections], [person_ids[i] for i in order])
        for det in msg.detections:
            self.assertEqual((det.header.stamp.sec, det.header.stamp.nanosec), (777, 42))

    def test_2_an_image_without_its_detections_is_not_processed(self):
        lonely = image_message(self.bus, 900, 0)
        spin_until(self.node, lambda: False, 3.0, lambda: self.images.publish(lonely))
        self.assertFalse([m for m in self.keypoints if m.header.stamp.sec == 900])
        # Its detections arriving later still complete the pair.
        detections = detections_to_msg(self.found, lonely.header)
        msg = self.wait_for(self.keypoints, 900, 0, lambda: (self.images.publish(lonely),
                                                             self.detections.publish(detections)))
        self.assertEqual(len(msg.detections), len(self.people))

    def test_3_whole_frame_mode_survives_a_bad_image(self, proc_output):
        bad = image_message(self.bus, 60, 0)
        bad.data = bad.data[:100]  # data size != step * height
        for _ in range(30):  # best effort: one message may be lost, so repeat until it lands
            self.frame_images.publish(bad)
            try:
                proc_output.assertWaitFor('skipping a bad image message', timeout=1)
                break
            except AssertionError:
                continue
        else:
            self.fail('the node never logged the bad image')
        msg = self.wait_for(self.frame_keypoints, 61, 0,
                            lambda: self.frame_images.publish(image_message(self.bus, 61, 0)),
                            timeout=60)
        height, width = self.bus.shape[:2]
        self.assertEqual(len(msg.detections), 1)
        self.assertEqual(len(msg.detections[0].results), 17)
        self.assertAlmostEqual(msg.detections[0].bbox.size_x, width, places=3)
        self.assertAlmostEqual(msg.detections[0].bbox.size_y, height, places=3)

    def test_4_label_info_is_latched_with_names_and_skeleton(self):
        infos = []
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(LabelInfo, 'keypoints/label_info', infos.append, qos)
        self.assertTrue(spin_until(self.node, lambda: bool(infos), 20))
        names, edges = parse_label_info(infos[0])
        self.assertEqual(names, list(COCO_KEYPOINT_NAMES))
        self.assertEqual(edges, [tuple(e) for e in COCO_SKELETON])


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
