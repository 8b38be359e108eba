"""
depth_node against a real ROS 2, on the real RGB-D frames of shared/data/rgbd.

Pipeline run (namespace /depth_test): the test publishes the colour frame of five people, its
camera_info (same header) and the registered 16UC1 depth (stamped 4 ms later, as real drivers
do); the real yolov5_node detects and tracks, depth_node pairs the three by stamp and publishes
``detections_3d`` with the colour image's stamp and frame. Keypoint run (namespace
/depth_kp_test, ``use_keypoints:=true``): detections and keypoints computed in this process by
the real models are published with the depth; ``keypoints_3d`` comes back. MediaPipe run
(namespace /depth_mp_test, ``mediapipe_topics:=mediapipe/pose,mediapipe/hands``): MediaPipe
pose's people on the colour frame and a hand, in the keypoint convention with the colour stamp,
come back on ``mediapipe/pose_3d`` / ``mediapipe/hands_3d``. Bad depth messages
(wrong encoding, size mismatch) give one clear error and the node keeps working. Runs wherever
ROS 2 is sourced; skips elsewhere.
"""
import unittest

from conftest import require_ros
from conftest import SHARED

require_ros()

import cv2  # noqa: E402,I100
from geometry_msgs.msg import TransformStamped  # noqa: E402
import launch  # noqa: E402
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
from sensor_msgs.msg import CameraInfo  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402
from vision_msgs.msg import Detection3DArray  # noqa: E402

from jetauto_perception.detection.yolov5 import YoloV5Detector  # noqa: E402
from jetauto_perception.keypoints.coco17 import COCO_KEYPOINT_NAMES  # noqa: E402
from jetauto_perception.keypoints.estimator import KeypointEstimator  # noqa: E402
from jetauto_perception.landmarks.mediapipe_tasks import HAND_KEYPOINT_NAMES  # noqa: E402
from jetauto_perception.landmarks.mediapipe_tasks import LandmarkerOptions  # noqa: E402
from jetauto_perception.landmarks.mediapipe_tasks import MediaPipeLandmarker  # noqa: E402
from jetauto_perception.landmarks.mediapipe_tasks import POSE_KEYPOINT_NAMES  # noqa: E402
from jetauto_perception.nodes.conversions import detections_to_msg  # noqa: E402
from jetauto_perception.nodes.conversions import keypoints_to_msg  # noqa: E402

NAMESPACE = '/depth_test'
KP_NAMESPACE = '/depth_kp_test'
TF_NAMESPACE = '/depth_tf_test'
MP_NAMESPACE = '/depth_mp_test'
RGBD = SHARED / 'data' / 'rgbd' / 'pcl_kinect_a'
DETECTOR_MODEL = SHARED / 'models' / 'yolov5' / 'yolov5n.onnx'
POSE_MODEL = SHARED / 'models' / 'pose' / 'simplepose_mbv2_256x192.onnx'
MEDIAPIPE_POSE_MODEL = SHARED / 'models' / 'mediapipe' / 'pose_landmarker_full.task'
#: shared/data/rgbd/README.md: torso depth of the five people, left to right.
PEOPLE_Z = [1.97, 2.31, 2.73, 2.50, 1.79]


@pytest.mark.launch_test
def generate_test_description():
    detector = launch.actions.ExecuteProcess(
        cmd=node_command('yolov5_node', 'model_path:=%s' % DETECTOR_MODEL, 'device:=cpu')
        + ['-r', '__ns:=' + NAMESPACE],
        additional_env=node_env(), output='screen', name='yolov5_node')
    depth = launch.actions.ExecuteProcess(
        cmd=node_command('depth_node', 'slop:=0.02') + ['-r', '__ns:=' + NAMESPACE],
        additional_env=node_env(), output='screen', name='depth_node')
    depth_keypoints = launch.actions.ExecuteProcess(
        cmd=node_command('depth_node', 'use_keypoints:=true') + ['-r', '__ns:=' + KP_NAMESPACE],
        additional_env=node_env(), output='screen', name='depth_kp_node')
    depth_tf = launch.actions.ExecuteProcess(
        cmd=node_command('depth_node', 'target_frame:=base_link')
        + ['-r', '__ns:=' + TF_NAMESPACE, '-r', '/tf:=%s/tf' % TF_NAMESPACE,
           '-r', '/tf_static:=%s/tf_static' % TF_NAMESPACE],
        additional_env=node_env(), output='screen', name='depth_tf_node')
    depth_mediapipe = launch.actions.ExecuteProcess(
        cmd=node_command('depth_node', 'mediapipe_topics:=mediapipe/pose, mediapipe/hands')
        + ['-r', '__ns:=' + MP_NAMESPACE],
        additional_env=node_env(), output='screen', name='depth_mp_node')
    return launch.LaunchDescription([detector, depth, depth_keypoints, depth_tf,
                                     depth_mediapipe, launch_testing.actions.ReadyToTest()])


def camera_info(sec, nanosec, frame_id, width=640, height=480):
    msg = CameraInfo()
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    msg.width, msg.height = width, height
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [525.0, 0.0, 319.5, 0.0, 0.0, 525.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def depth_message(depth_mm, sec, nanosec, frame_id, encoding='16UC1'):
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(depth_mm.shape[0]), int(depth_mm.shape[1])
    msg.encoding = encoding
    msg.step = int(depth_mm.shape[1] * depth_mm.dtype.itemsize)
    msg.data = np.ascontiguousarray(depth_mm).tobytes()
    return msg


class TestDepthNode(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('depth_node_tester')
        cls.objects, cls.people = [], []
        cls.node.create_subscription(Detection3DArray, NAMESPACE + '/detections_3d',
                                     cls.objects.append, 10)
        cls.node.create_subscription(Detection3DArray, KP_NAMESPACE + '/keypoints_3d',
                                     cls.people.append, 10)
        cls.moved = []
        cls.node.create_subscription(Detection3DArray, TF_NAMESPACE + '/detections_3d',
                                     cls.moved.append, 10)
        cls.tf_detections = cls.node.create_publisher(Detection2DArray,
                                                      TF_NAMESPACE + '/detections', 10)
        cls.color_pub = cls.node.create_publisher(Image, NAMESPACE + '/camera/image_raw', 10)
        cls.pubs = {ns: (cls.node.create_publisher(Image, ns + '/depth/image_raw', 10),
                         cls.node.create_publisher(CameraInfo, ns + '/camera/camera_info', 10))
                    for ns in (NAMESPACE, KP_NAMESPACE, TF_NAMESPACE, MP_NAMESPACE)}
        cls.mp_in = {t: cls.node.create_publisher(Detection2DArray, MP_NAMESPACE + '/' + t, 10)
                     for t in ('mediapipe/pose', 'mediapipe/hands')}
        cls.mp_out = {t: [] for t in cls.mp_in}
        for topic, received in cls.mp_out.items():
            cls.node.create_subscription(Detection3DArray, MP_NAMESPACE + '/' + topic + '_3d',
                                         received.append, 10)
        cls.kp_detections = cls.node.create_publisher(Detection2DArray,
                                                      KP_NAMESPACE + '/detections', 10)
        cls.kp_keypoints = cls.node.create_publisher(Detection2DArray,
                                                     KP_NAMESPACE + '/keypoints', 10)
        cls.color = load_image(RGBD / 'pcl_five_people_color.png')
        cls.depth = cv2.imread(str(RGBD / 'pcl_five_people_depth.png'), cv2.IMREAD_UNCHANGED)

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def publish_frame(self, sec, depth=None, namespace=NAMESPACE, frame_id='kinect_rgb',
                      info=None):
        depth_pub, info_pub = self.pubs[namespace]
        info_pub.publish(info or camera_info(sec, 0, frame_id))
        depth_pub.publish(depth if depth is not None
                          else depth_message(self.depth, sec, 4000000, 'kinect_depth'))
        if namespace == NAMESPACE:
            self.color_pub.publish(image_message(self.color, sec, 0, frame_id))

    def wait_for(self, received, sec, publish, timeout=90.0):
        def found():
            return any(m.header.stamp.sec == sec for m in received)
        self.assertTrue(spin_until(self.node, found, timeout, publish, period=1.0),
                        'nothing for stamp %d' % sec)
        return next(m for m in received if m.header.stamp.sec == sec)

    def shoulder_widths(self, msg, names):
        """Check the instances' names and finite points; count the shoulder widths in range."""
        left, right = names.index('left_shoulder'), names.index('right_shoulder')
        shoulders = 0
        for det in msg.detections:
            self.assertEqual([r.hypothesis.class_id for r in det.results], list(names))
            points = np.array([[r.pose.pose.position.x, r.pose.pose.position.y,
                                r.pose.pose.position.z, r.hypothesis.score]
                               for r in det.results])
            self.assertTrue(np.isfinite(points).all())
            if points[left, 3] > 0 and points[right, 3] > 0:
                distance = np.linalg.norm(points[left, :3] - points[right, :3])
                self.assertTrue(0.25 <= distance <= 0.55, distance)
                shoulders += 1
        return shoulders

    def test_1_pipeline_places_the_five_people(self):
        msg = self.wait_for(self.objects, 100, lambda: self.publish_frame(100))
        self.assertEqual(msg.header.stamp.nanosec, 0)         # the colour image's stamp ...
        self.assertEqual(msg.header.frame_id, 'kinect_rgb')   # ... and frame, not the depth's
        people = sorted((d for d in msg.detections
                         if d.results[0].hypothesis.class_id == 'person'),
                        key=lambda d: d.bbox.center.position.x)
        self.assertEqual(len(people), 5)
        for det, z in zip(people, PEOPLE_Z):
            self.assertLessEqual(abs(det.bbox.center.position.z - z), 0.15)
            self.assertTrue(np.isfinite([det.bbox.center.position.x, det.bbox.size.x]).all())
            self.assertGreater(det.bbox.size.y, 1.0)
            self.assertEqual(det.header.frame_id, 'kinect_rgb')
            self.assertTrue(det.id.isdigit(), 'the track id of the person box: %r' % det.id)

    def test_2_bad_depth_is_one_clear_error_and_the_node_keeps_working(self, proc_output):
        rgb = depth_message(np.zeros((480, 640, 3), np.uint8), 110, 0, 'kinect_depth', 'bgr8')
        rgb.step = 640 * 3
        small = depth_message(self.depth[::2, ::2].copy(), 111, 4000000, 'kinect_depth')
        for sec, bad, expected in ((110, rgb, 'is not supported'), (111, small, 'registered')):
            logged = False
            for _ in range(20):
                self.publish_frame(sec, depth=bad)
                try:
                    proc_output.assertWaitFor(expected, timeout=2.0)
                    logged = True
                    break
                except AssertionError:
                    continue
            self.assertTrue(logged, 'no clear error for %s' % expected)
        msg = self.wait_for(self.objects, 112, lambda: self.publish_frame(112))
        self.assertGreaterEqual(len(msg.detections), 5)

    def test_3_keypoints_in_3d_carry_the_person_ids(self):
        detector = YoloV5Detector.from_model(str(DETECTOR_MODEL))
        estimator = KeypointEstimator.from_model(str(POSE_MODEL))
        people = detector.detect(self.color).with_label('person')
        people.track_ids = np.arange(11, 11 + len(people))
        pose = estimator.estimate(self.color, people.boxes)
        header = image_message(self.color, 120, 0, 'kinect_rgb').header
        detections = detections_to_msg(people, header)
        keypoints = keypoints_to_msg(detections.header, pose.boxes, pose.keypoints,
                                     COCO_KEYPOINT_NAMES, [d.id for d in detections.detections])

        def publish():
            self.kp_detections.publish(detections)
            self.kp_keypoints.publish(keypoints)
            self.publish_frame(120, namespace=KP_NAMESPACE)
        msg = self.wait_for(self.people, 120, publish)
        self.assertEqual(msg.header.frame_id, 'kinect_rgb')
        self.assertEqual(sorted(d.id for d in msg.detections),
                         sorted(str(i) for i in range(11, 11 + len(people))))
        self.assertGreaterEqual(self.shoulder_widths(msg, COCO_KEYPOINT_NAMES), 4)

    def test_4_target_frame_through_tf(self, proc_output):
        people = YoloV5Detector.from_model(str(DETECTOR_MODEL)).detect(self.color)
        people = people.with_label('person')

        def publish(sec):
            header = image_message(self.color, sec, 0, 'kinect_rgb').header
            self.tf_detections.publish(detections_to_msg(people, header))
            self.publish_frame(sec, namespace=TF_NAMESPACE)
        logged = False
        for sec in range(130, 150):   # no transform yet: one clear error, no crash
            publish(sec)
            try:
                proc_output.assertWaitFor("no transform from 'kinect_rgb' to target_frame "
                                          "'base_link'", timeout=1.5)
                logged = True
                break
            except AssertionError:
                continue
        self.assertTrue(logged)
        self.assertFalse(self.moved)
        # base_link: x forward, y left, z up, 1 m above the optical frame (REP 103 rotation)
        static = TransformStamped()
        static.header.frame_id, static.child_frame_id = 'base_link', 'kinect_rgb'
        static.transform.translation.z = 1.0
        rotation = static.transform.rotation
        rotation.x, rotation.y, rotation.z, rotation.w = -0.5, 0.5, -0.5, 0.5
        tf_publisher = self.node.create_publisher(
            TFMessage, TF_NAMESPACE + '/tf_static',
            QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        tf_publisher.publish(TFMessage(transforms=[static]))
        msg = self.wait_for(self.moved, 160, lambda: publish(160))
        self.assertEqual(msg.header.frame_id, 'base_link')
        nearest = min(msg.detections, key=lambda d: d.bbox.center.position.x)
        # the nearest person (z 1.79 m in the optical frame) is 1.79 m ahead, 1 m above ...
        self.assertLessEqual(abs(nearest.bbox.center.position.x - 1.79), 0.15)
        # ... and the leftmost (X -0.88 m, image left) is on base_link's left (+y)
        leftmost = max(msg.detections, key=lambda d: d.bbox.center.position.y)
        self.assertAlmostEqual(leftmost.bbox.center.position.y, 0.88, delta=0.15)
        self.assertTrue(all(abs(d.bbox.center.position.z - 1.0) < 0.6 for d in msg.detections))

    def test_5_mediapipe_keypoints_in_3d(self):
        with MediaPipeLandmarker('pose', str(MEDIAPIPE_POSE_MODEL),
                                 LandmarkerOptions(max_instances=5)) as landmarker:
            bodies = landmarker.detect(self.color)
        self.assertGreaterEqual(len(bodies), 2)   # the two outer people (seen from behind)
        header = image_message(self.color, 170, 0, 'kinect_rgb').header
        pose = keypoints_to_msg(header, bodies.boxes, bodies.keypoints, POSE_KEYPOINT_NAMES)
        # a hand on the nearest person's back (z 1.79 m), with its handedness after the joints
        joints = np.stack([np.linspace(515, 550, 21), np.linspace(200, 260, 21), np.zeros(21),
                           np.ones(21)], axis=1)
        hands = keypoints_to_msg(header, [(515, 200, 550, 260)], [joints], HAND_KEYPOINT_NAMES,
                                 instance_labels=['Left'],
                                 extra_results=[[('handedness/Left', 0.97)]])

        def publish():
            self.mp_in['mediapipe/pose'].publish(pose)
            self.mp_in['mediapipe/hands'].publish(hands)
            self.publish_frame(170, namespace=MP_NAMESPACE)
        msg = self.wait_for(self.mp_out['mediapipe/pose'], 170, publish)
        self.assertEqual(msg.header.stamp.nanosec, 0)         # the colour image's stamp ...
        self.assertEqual(msg.header.frame_id, 'kinect_rgb')   # ... and frame, not the depth's
        self.assertEqual([d.id for d in msg.detections], [str(k) for k in range(len(bodies))])
        self.assertGreaterEqual(self.shoulder_widths(msg, POSE_KEYPOINT_NAMES), 2)
        msg = self.wait_for(self.mp_out['mediapipe/hands'], 170, publish)
        self.assertEqual(msg.header.frame_id, 'kinect_rgb')
        (hand,) = msg.detections
        self.assertEqual(hand.id, 'Left')
        self.assertEqual([r.hypothesis.class_id for r in hand.results], list(HAND_KEYPOINT_NAMES))
        depths = [r.pose.pose.position.z for r in hand.results if r.hypothesis.score > 0]
        self.assertGreaterEqual(len(depths), 15)
        self.assertLessEqual(abs(float(np.median(depths)) - 1.79), 0.15)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
