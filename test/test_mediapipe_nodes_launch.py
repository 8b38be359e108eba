"""
The MediaPipe nodes against a real ROS 2: image in, Detection2DArray out, LabelInfo latched.

face_mesh_node, hands_node and pose_node run side by side on camera/image_raw. Runs wherever
ROS 2 is sourced (launch_testing's pytest plugin collects it); skips elsewhere.
"""
import unittest

from conftest import REPO
from conftest import require_ros
from conftest import SHARED

require_ros()

import launch  # noqa: E402,I100
import launch.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import pytest  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
import rclpy  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
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
import yaml  # noqa: E402

MODELS = SHARED / 'models' / 'mediapipe'
IMAGES = SHARED / 'data' / 'images'
TOPICS = {'face': 'mediapipe/face_mesh', 'hands': 'mediapipe/hands', 'pose': 'mediapipe/pose'}
COUNTS = {'face': 478, 'hands': 21, 'pose': 33}


@pytest.mark.launch_test
def generate_test_description():
    nodes = {
        'face': launch.actions.ExecuteProcess(
            cmd=node_command('face_mesh_node', 'output_blendshapes:=true',
                             'model_path:=%s' % (MODELS / 'face_landmarker.task')),
            additional_env=node_env(), output='screen', name='face_mesh_node'),
        'hands': launch.actions.ExecuteProcess(
            cmd=node_command('hands_node', 'model_path:=%s' % (MODELS / 'hand_landmarker.task'),
                             'stats_period:=1.0'),
            additional_env=node_env(), output='screen', name='hands_node'),
        'pose': launch.actions.ExecuteProcess(
            cmd=node_command('pose_node', 'output_segmentation_mask:=true'),  # manifest name
            additional_env=node_env(), output='screen', name='pose_node'),
    }
    return launch.LaunchDescription(list(nodes.values())
                                    + [launch_testing.actions.ReadyToTest()]), nodes


class TestMediaPipeNodes(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('mediapipe_nodes_tester')
        cls.received = {task: [] for task in TOPICS}
        for task, topic in TOPICS.items():
            cls.node.create_subscription(Detection2DArray, topic, cls.received[task].append, 10)
        cls.masks = []
        cls.node.create_subscription(Image, 'mediapipe/pose/segmentation_mask',
                                     cls.masks.append, 10)
        cls.publisher = cls.node.create_publisher(Image, 'camera/image_raw', 10)
        cls.face_image = load_image(IMAGES / 'faces' / 'cofw_001766.jpg')
        cls.hand_image = load_image(IMAGES / 'hands' / 'onehand10k_9.jpg')
        # a 640x425 skier: small frames (large ones over best-effort DDS get lost under load)
        cls.body_image = load_image(SHARED / 'data' / 'coco_kpts' / '000000000785.jpg')

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def find(self, messages, sec, nanosec):
        return next((m for m in messages
                     if m.header.stamp.sec == sec and m.header.stamp.nanosec == nanosec), None)

    def wait_for_stamp(self, task, image, sec, nanosec=0, frame_id='camera', timeout=60.0):
        """Publish one stamped image (again, until answered) and return the output for it."""
        message = image_message(image, sec, nanosec, frame_id)
        ok = spin_until(self.node, lambda: self.find(self.received[task], sec, nanosec),
                        timeout, lambda: self.publisher.publish(message))
        self.assertTrue(ok, 'nothing on %s for stamp %d.%d' % (TOPICS[task], sec, nanosec))
        return self.find(self.received[task], sec, nanosec)

    def stream_until_found(self, task, image, sec, frame_id='camera', timeout=90.0):
        """
        Publish ``image`` as a camera would (a new stamp every 0.5 s) until an output has an
        instance; return that output.

        In VIDEO mode MediaPipe detects anew one frame after it loses a track, so after a scene
        cut (the tests switch between unrelated images) the first frame can come back empty.
        """
        sent = []

        def publish():
            count = len(sent)
            sent.append((sec + count // 10, (count % 10) * 100000000))
            self.publisher.publish(image_message(image, sent[-1][0], sent[-1][1], frame_id))

        def found():
            return next((m for m in self.received[task] if m.detections
                         and (m.header.stamp.sec, m.header.stamp.nanosec) in sent), None)

        ok = spin_until(self.node, found, timeout, publish)
        self.assertTrue(ok, 'no instance on %s after %d frames' % (TOPICS[task], len(sent)))
        msg = found()
        self.assertLessEqual(sent.index((msg.header.stamp.sec, msg.header.stamp.nanosec)), 3)
        return msg

    def check_instance(self, det, task, image, extra=0):
        self.assertEqual(len(det.results), COUNTS[task] + extra)
        height, width = image.shape[:2]
        xs = [r.pose.pose.position.x for r in det.results[:COUNTS[task]]]
        ys = [r.pose.pose.position.y for r in det.results[:COUNTS[task]]]
        # bbox = the landmarks' box (clipped to the image), in source pixels
        x1 = det.bbox.center.position.x - det.bbox.size_x / 2
        y1 = det.bbox.center.position.y - det.bbox.size_y / 2
        self.assertAlmostEqual(x1, max(min(xs), 0.0), delta=0.01)
        self.assertAlmostEqual(y1, max(min(ys), 0.0), delta=0.01)
        self.assertLessEqual(x1 + det.bbox.size_x, width + 0.01)
        self.assertLessEqual(y1 + det.bbox.size_y, height + 0.01)
        for r in det.results[:COUNTS[task]]:
            self.assertGreaterEqual(r.hypothesis.score, 0.0)
            self.assertLessEqual(r.hypothesis.score, 1.0)

    def test_1_face_mesh_keeps_the_header(self):
        msg = self.wait_for_stamp('face', self.face_image, 1234, 5678, 'test_cam')
        self.assertEqual(msg.header.frame_id, 'test_cam')
        if not msg.detections:  # see stream_until_found
            msg = self.stream_until_found('face', self.face_image, 1300, 'test_cam')
        self.assertEqual(len(msg.detections), 1)
        det = msg.detections[0]
        self.assertEqual(det.header, msg.header)
        self.check_instance(det, 'face', self.face_image, extra=52)  # blendshapes are on
        self.assertEqual(det.results[0].hypothesis.class_id, 'face_0')
        self.assertEqual(det.results[473].hypothesis.class_id, 'left_iris_center')
        blendshapes = [r.hypothesis.class_id for r in det.results[478:]]
        self.assertTrue(all(b.startswith('blendshape/') for b in blendshapes))
        self.assertIn('blendshape/eyeBlinkLeft', blendshapes)

    def test_2_hands_carry_handedness(self):
        msg = self.stream_until_found('hands', self.hand_image, 2000, 'hand_cam')
        self.assertEqual(msg.header.frame_id, 'hand_cam')
        self.assertEqual(len(msg.detections), 1)
        det = msg.detections[0]
        self.assertIn(det.id, ('Left', 'Right'))
        self.check_instance(det, 'hands', self.hand_image, extra=1)
        self.assertEqual(det.results[8].hypothesis.class_id, 'index_finger_tip')
        handedness = det.results[21].hypothesis
        self.assertEqual(handedness.class_id, 'handedness/' + det.id)
        self.assertGreater(handedness.score, 0.5)

    def test_3_pose_bodies_and_mask(self):
        msg = self.stream_until_found('pose', self.body_image, 3000)
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        for det in msg.detections:
            self.check_instance(det, 'pose', self.body_image)
            names = [r.hypothesis.class_id for r in det.results]
            nose = det.results[names.index('nose')].pose.pose.position
            hip = det.results[names.index('left_hip')].pose.pose.position
            self.assertLess(nose.y, hip.y)
        self.assertTrue(spin_until(self.node, lambda: self.find(self.masks, *stamp), 10))
        mask = self.find(self.masks, *stamp)
        self.assertEqual((mask.encoding, mask.height, mask.width),
                         ('mono8',) + self.body_image.shape[:2])
        self.assertGreater(max(mask.data), 200)

    def test_4_label_info_is_latched(self):
        infos = {task: [] for task in TOPICS}
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        for task, topic in TOPICS.items():
            self.node.create_subscription(LabelInfo, topic + '/label_info', infos[task].append,
                                          qos)
        self.assertTrue(spin_until(self.node, lambda: all(infos.values()), 30))
        for task, count in COUNTS.items():
            names = [c.class_name for c in infos[task][0].class_map]
            keypoints = [n for n in names if not n.startswith('edge:')]
            edges = [n for n in names if n.startswith('edge:')]
            self.assertEqual(len(keypoints), count)
            self.assertTrue(edges, task)
            for edge in edges:
                a, b = (int(v) for v in edge[len('edge:'):].split(','))
                self.assertTrue(0 <= a < count and 0 <= b < count)
        self.assertEqual(infos['hands'][0].class_map[0].class_name, 'wrist')
        self.assertEqual(infos['pose'][0].class_map[0].class_name, 'nose')

    def test_5_bad_image_then_good_image(self, proc_output):
        bad = image_message(self.hand_image, 50, 0)
        bad.data = bad.data[:100]  # data size != step * height
        self.publisher.publish(bad)
        proc_output.assertWaitFor('skipping a bad image message', timeout=30)
        msg = self.stream_until_found('hands', self.hand_image, 4000, timeout=30)
        self.assertEqual(len(msg.detections), 1)

    def test_6_stamps_going_backwards_keep_working(self):
        # a looping bag: the stamps jump back (the VIDEO stream restarts) and repeat (IMAGE mode)
        for sec in (5000, 4500, 4500):
            self.received['hands'].clear()
            msg = self.wait_for_stamp('hands', self.hand_image, sec, 0, timeout=30)
            self.assertEqual(len(msg.detections), 1)

    def set_parameter(self, node_name, name, value):
        client = self.node.create_client(SetParameters, '/%s/set_parameters' % node_name)
        self.assertTrue(client.wait_for_service(timeout_sec=10.0))
        future = client.call_async(SetParameters.Request(
            parameters=[Parameter(name, value=value).to_parameter_msg()]))
        self.assertTrue(spin_until(self.node, future.done, 10))
        self.node.destroy_client(client)
        return future.result().results[0]

    def test_7_live_confidence_change(self):
        result = self.set_parameter('hands_node', 'min_presence_confidence', 1.5)
        self.assertFalse(result.successful)
        # nothing is present with certainty 1.0: no hands until the threshold is back
        self.assertTrue(self.set_parameter('hands_node', 'min_presence_confidence', 1.0)
                        .successful)
        self.received['hands'].clear()
        msg = self.wait_for_stamp('hands', self.hand_image, 6000, 0, timeout=30)
        self.assertEqual(len(msg.detections), 0)
        self.assertTrue(self.set_parameter('hands_node', 'min_presence_confidence', 0.5)
                        .successful)
        msg = self.stream_until_found('hands', self.hand_image, 6001, timeout=30)
        self.assertEqual(len(msg.detections), 1)

    def test_8_parameters_match_the_documented_defaults(self):
        documented = yaml.safe_load((REPO / 'config' / 'perception.yaml').read_text())
        for node_name in ('face_mesh_node', 'hands_node', 'pose_node'):
            expected = documented['/**/' + node_name]['ros__parameters']
            client = self.node.create_client(GetParameters, '/%s/get_parameters' % node_name)
            self.assertTrue(client.wait_for_service(timeout_sec=10.0))
            future = client.call_async(GetParameters.Request(names=list(expected)))
            self.assertTrue(spin_until(self.node, future.done, 10))
            self.node.destroy_client(client)
            values = [Parameter.from_parameter_msg(
                ParameterMsg(name=name, value=value)).value
                for name, value in zip(expected, future.result().values)]
            launched = {'model_path', 'output_blendshapes', 'output_segmentation_mask',
                        'stats_period'}  # set by this test's launch description
            # the graph's budget, not a lone node's
            launched |= {'max_rate', 'latency_budget', 'nice'}
            for (name, default), value in zip(expected.items(), values):
                if name not in launched:
                    self.assertEqual(value, default, '%s %s' % (node_name, name))
                    self.assertIs(type(value), type(default), '%s %s' % (node_name, name))


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
