"""
face_detection_node and segmentation_node against a real ROS 2: image in, result out, header kept.

Both run side by side on camera/image_raw. Runs wherever ROS 2 is sourced (launch_testing's
pytest plugin collects it); skips elsewhere.
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

IMAGES = SHARED / 'data' / 'images'
FACES = 'mediapipe/face_detection'
MASKS = 'mediapipe/selfie_mask'


@pytest.mark.launch_test
def generate_test_description():
    nodes = {
        'faces': launch.actions.ExecuteProcess(
            cmd=node_command('face_detection_node'),  # the manifest's model
            additional_env=node_env(), output='screen', name='face_detection_node'),
        'masks': launch.actions.ExecuteProcess(
            cmd=node_command('segmentation_node', 'threshold:=0.5'),
            additional_env=node_env(), output='screen', name='segmentation_node'),
    }
    return launch.LaunchDescription(list(nodes.values())
                                    + [launch_testing.actions.ReadyToTest()]), nodes


class TestFaceDetectionAndSegmentationNodes(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('face_segmentation_tester')
        cls.faces, cls.masks = [], []
        cls.node.create_subscription(Detection2DArray, FACES, cls.faces.append, 10)
        cls.node.create_subscription(Image, MASKS, cls.masks.append, 10)
        cls.publisher = cls.node.create_publisher(Image, 'camera/image_raw', 10)
        cls.face_image = load_image(IMAGES / 'faces' / 'cofw_001766.jpg')
        # zidane at half size (640x360): large frames over best-effort DDS get lost under load
        full = load_image(IMAGES / 'zidane.jpg')
        cls.people_image = np.ascontiguousarray(full[::2, ::2])

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    @staticmethod
    def find(messages, sec, nanosec):
        return next((m for m in messages
                     if m.header.stamp.sec == sec and m.header.stamp.nanosec == nanosec), None)

    def answer(self, messages, image, sec, nanosec, frame_id, timeout=60.0):
        """Publish one stamped image (again, until answered) and return the answer to it."""
        message = image_message(image, sec, nanosec, frame_id)
        ok = spin_until(self.node, lambda: self.find(messages, sec, nanosec), timeout,
                        lambda: self.publisher.publish(message))
        self.assertTrue(ok, 'no answer for stamp %d.%d' % (sec, nanosec))
        return self.find(messages, sec, nanosec)

    def test_1_one_face_with_its_header_and_keypoints(self):
        msg = self.answer(self.faces, self.face_image, 1234, 5678, 'face_cam')
        self.assertEqual(msg.header.frame_id, 'face_cam')
        self.assertEqual(len(msg.detections), 1)
        det = msg.detections[0]
        self.assertEqual(det.header, msg.header)
        self.assertEqual(det.id, 'face')
        names = [r.hypothesis.class_id for r in det.results]
        self.assertEqual(names, ['right_eye', 'left_eye', 'nose_tip', 'mouth_center',
                                 'right_ear_tragion', 'left_ear_tragion', 'face/score'])
        score = det.results[6].hypothesis.score
        self.assertTrue(0.5 <= score <= 1.0)
        point = {n: r.pose.pose.position for n, r in zip(names, det.results)}
        self.assertLess(max(point['right_eye'].y, point['left_eye'].y), point['mouth_center'].y)
        self.assertLess(point['right_eye'].x, point['left_eye'].x)
        x1 = det.bbox.center.position.x - det.bbox.size_x / 2
        y1 = det.bbox.center.position.y - det.bbox.size_y / 2
        self.assertTrue(x1 <= point['nose_tip'].x <= x1 + det.bbox.size_x)
        self.assertTrue(y1 <= point['nose_tip'].y <= y1 + det.bbox.size_y)

    def test_2_no_face_is_an_empty_array(self):
        blank = np.full((240, 320, 3), 127, np.uint8)
        msg = self.answer(self.faces, blank, 1300, 0, 'face_cam')
        self.assertEqual(len(msg.detections), 0)

    def test_3_mask_of_the_two_people_with_the_header(self):
        msg = self.answer(self.masks, self.people_image, 2000, 42, 'people_cam')
        self.assertEqual(msg.header.frame_id, 'people_cam')
        height, width = self.people_image.shape[:2]
        self.assertEqual((msg.encoding, msg.height, msg.width, msg.step),
                         ('mono8', height, width, width))
        mask = np.frombuffer(bytes(msg.data), np.uint8).reshape(height, width)
        self.assertTrue(set(np.unique(mask).tolist()) <= {0, 255})  # threshold:=0.5
        fraction = (mask == 255).mean()
        self.assertTrue(0.4 <= fraction <= 0.7, fraction)

    def test_4_face_label_info_is_latched(self):
        infos = []
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(LabelInfo, FACES + '/label_info', infos.append, qos)
        self.assertTrue(spin_until(self.node, lambda: infos, 30))
        names = [c.class_name for c in infos[0].class_map]
        self.assertEqual(names[:6], ['right_eye', 'left_eye', 'nose_tip', 'mouth_center',
                                     'right_ear_tragion', 'left_ear_tragion'])
        self.assertTrue(all(n.startswith('edge:') for n in names[6:]) and names[6:])

    def test_5_malformed_image_is_logged_and_skipped(self, proc_output):
        bad = image_message(self.face_image, 50, 0)
        bad.data = bad.data[:100]  # data size != step * height
        self.publisher.publish(bad)
        proc_output.assertWaitFor('skipping a bad image message', timeout=30,
                                  process='face_detection_node')
        proc_output.assertWaitFor('skipping a bad image message', timeout=30,
                                  process='segmentation_node')
        # both keep working
        self.assertEqual(len(self.answer(self.faces, self.face_image, 3000, 0, 'c').detections),
                         1)
        self.assertIsNotNone(self.answer(self.masks, self.people_image, 3001, 0, 'c'))


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
