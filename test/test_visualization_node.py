"""
visualizer_node against a real ROS 2: known image + detections + keypoints -> drawn pixels.

Runs wherever ROS 2 is sourced (launch_testing's pytest plugin collects it); skips elsewhere.
"""
import sys
import time
import unittest

from conftest import REPO, require_ros

require_ros()

import launch  # noqa: E402,I100
import launch.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import rclpy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from jetauto_perception.detection.detections import Detections  # noqa: E402
from jetauto_perception.drawing.draw import class_color  # noqa: E402
from jetauto_perception.drawing.visualization import stream_color  # noqa: E402
from jetauto_perception.nodes.base import LATCHED_QOS  # noqa: E402
from jetauto_perception.nodes.conversions import (  # noqa: E402
    bgr_to_image, detections_to_msg, keypoints_to_msg, label_info_msg)
from jetauto_perception.nodes.mediapipe_nodes import mono8_message  # noqa: E402

BOX = (100.0, 120.0, 300.0, 360.0)
POINTS = np.array([[400, 100, 0.9], [550, 100, 0.9], [500, 400, 0.05]], np.float32)


@pytest.mark.launch_test
def generate_test_description():
    visualizer = launch.actions.ExecuteProcess(
        cmd=[sys.executable, '-m', 'jetauto_perception.nodes.visualizer_node', '--ros-args',
             '-p', 'sync_wait:=0.3'],
        cwd=str(REPO), additional_env={'PYTHONUNBUFFERED': '1'}, output='screen',
        name='visualizer_node')
    return launch.LaunchDescription([visualizer, launch_testing.actions.ReadyToTest()]), {}


class TestVisualizerNode(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('visualizer_tester')
        cls.annotated, cls.markers = [], []
        cls.node.create_subscription(Image, '/visualizer_node/image', cls.annotated.append, 10)
        cls.node.create_subscription(MarkerArray, '/visualizer_node/markers',
                                     cls.markers.append, 10)
        cls.images = cls.node.create_publisher(Image, 'camera/image_raw', 10)
        cls.detections = cls.node.create_publisher(Detection2DArray, 'detections', 10)
        cls.keypoints = cls.node.create_publisher(Detection2DArray, 'keypoints', 10)
        cls.masks = cls.node.create_publisher(Image, 'mediapipe/selfie_mask', 10)
        labels = cls.node.create_publisher(LabelInfo, 'keypoints/label_info', LATCHED_QOS)
        labels.publish(label_info_msg(Header(), ['a', 'b', 'c'], [(0, 1), (1, 2)]))
        cls.labels = labels

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def publish_frame(self, sec):
        header = Header(frame_id='test_cam')
        header.stamp.sec = sec
        dets = Detections(np.array([BOX], np.float32), np.array([0.9], np.float32),
                          np.array([0], np.int64), ['person'])
        # Results first, then the image: the visualizer pairs them whatever the order.
        self.detections.publish(detections_to_msg(dets, header))
        self.keypoints.publish(keypoints_to_msg(header, [(390, 90, 560, 410)], [POINTS],
                                                ['a', 'b', 'c']))
        mask = np.zeros((480, 640), np.uint8)
        mask[420:, :200] = 255  # a person in the bottom-left corner
        self.masks.publish(mono8_message(mask, header))
        self.images.publish(bgr_to_image(np.zeros((480, 640, 3), np.uint8), header))

    def test_known_results_are_drawn_and_marked(self):
        sec = 100
        deadline = time.monotonic() + 60.0
        drawn = None
        while drawn is None and time.monotonic() < deadline:
            sec += 1
            self.publish_frame(sec)
            end = time.monotonic() + 0.4
            while time.monotonic() < end:
                rclpy.spin_once(self.node, timeout_sec=0.05)
            for msg in self.annotated:
                image = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height,
                                                                         msg.width, 3)
                if image[240, 100].any() and image[100, 475].any() and image[450, 50].any():
                    drawn = (msg, image)
        self.assertIsNotNone(drawn, '%d annotated images, none with all three results'
                             % len(self.annotated))
        msg, image = drawn
        self.assertEqual(msg.header.frame_id, 'test_cam')
        self.assertEqual(image[240, 100].tolist(), list(class_color(0)))  # box left edge
        self.assertEqual(image[240, 300].tolist(), list(class_color(0)))  # box right edge
        self.assertFalse(image[150:340, 110:290].any())  # nothing inside the box
        self.assertEqual(image[100, 475].tolist(), list(stream_color(0)))  # edge a-b
        self.assertFalse(image[400, 500].any())  # c scores 0.05: hidden
        self.assertEqual(image[450, 50, 1], 0)  # the mask: a magenta tint
        self.assertGreater(image[450, 50, 0], 50)
        self.assertFalse(image[450, 400].any())  # nothing outside the mask
        arrays = [a for a in self.markers if any(m.ns == 'keypoints/skeleton'
                                                 for m in a.markers)]
        self.assertTrue(arrays, 'no markers with the skeleton')
        namespaces = {m.ns for m in arrays[-1].markers}
        self.assertTrue({'image_plane', 'detections', 'detections/labels',
                         'keypoints/points', 'keypoints/skeleton'} <= namespaces)
        self.assertEqual(arrays[-1].markers[0].action, Marker.DELETEALL)
        text = next(m for m in arrays[-1].markers if m.ns == 'detections/labels')
        self.assertEqual(text.text, 'person 0.90')
        # the space has a width of its own, under the text height (else rviz2 draws ~1.2 m)
        self.assertGreater(text.scale.x, 0.0)
        self.assertLess(text.scale.x, text.scale.z)
        self.assertEqual(text.header.frame_id, 'test_cam')

    def test_3d_results_become_markers(self):
        from jetauto_perception.nodes.spatial_conversions import (keypoints3d_to_msg,
                                                                  objects_to_msg)
        from jetauto_perception.spatial.localize import Keypoints3D, Object3D
        from vision_msgs.msg import Detection3DArray
        received = []
        self.node.create_subscription(MarkerArray, '/visualizer_node/markers_3d',
                                      received.append, 10)
        objects = self.node.create_publisher(Detection3DArray, 'detections_3d', 10)
        people = self.node.create_publisher(Detection3DArray, 'keypoints_3d', 10)
        header = Header(frame_id='depth_cam')
        bottle = Object3D('bottle', 0.8, (0, 0, 1, 1), np.array([0.1, 0.0, 0.64]),
                          np.array([0.1, 0.2, 0.1]), '7')
        points = np.zeros((17, 4))
        points[5], points[6] = [-0.2, -0.4, 2.0, 0.9], [0.2, -0.4, 2.0, 0.9]
        person = Keypoints3D((0, 0, 1, 1), 0.9, points, '3')
        deadline = time.monotonic() + 30.0
        namespaces = set()
        while time.monotonic() < deadline and not {'detections_3d',
                                                   'keypoints_3d/skeleton'} <= namespaces:
            objects.publish(objects_to_msg([bottle], header))
            people.publish(keypoints3d_to_msg([person], ['k%d' % k for k in range(17)], header))
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                rclpy.spin_once(self.node, timeout_sec=0.05)
            namespaces = {m.ns for array in received for m in array.markers}
        self.assertTrue({'detections_3d', 'detections_3d/labels', 'keypoints_3d/skeleton',
                         'keypoints_3d/points'} <= namespaces, namespaces)
        box = next(m for a in received for m in a.markers if m.ns == 'detections_3d')
        self.assertEqual(box.header.frame_id, 'depth_cam')
        self.assertEqual(len(box.points), 24)   # 12 edges
        xs = [p.x for p in box.points]
        self.assertAlmostEqual(min(xs), 0.05)
        self.assertAlmostEqual(max(xs), 0.15)
        label = next(m for a in received for m in a.markers if m.ns == 'detections_3d/labels')
        self.assertEqual(label.text, 'bottle #7 0.65 m')

    def test_unwatched_it_subscribes_to_no_per_frame_topic(self):
        """With no subscriber on its outputs, nothing per frame reaches it; a watcher restores."""
        def visualizer_subscribes(topic):
            return any(i.node_name == 'visualizer_node'
                       for i in self.node.get_subscriptions_info_by_topic(topic))

        def wait_until(condition):
            deadline = time.monotonic() + 30.0
            while not condition() and time.monotonic() < deadline:
                rclpy.spin_once(self.node, timeout_sec=0.1)
            return condition()

        per_frame = ('/camera/image_raw', '/camera/camera_info', '/detections', '/keypoints',
                     '/mediapipe/selfie_mask', '/detections_3d')
        watchers = [s for s in list(self.node.subscriptions)
                    if s.topic_name.startswith('/visualizer_node/')]
        self.assertTrue(watchers)
        for subscription in watchers:
            self.node.destroy_subscription(subscription)
        self.assertTrue(wait_until(lambda: not any(map(visualizer_subscribes, per_frame))),
                        [t for t in per_frame if visualizer_subscribes(t)])
        # the latched label_info stays: names and edges are there when somebody watches again
        self.assertTrue(visualizer_subscribes('/keypoints/label_info'))
        self.node.create_subscription(Image, '/visualizer_node/image', self.annotated.append,
                                      10)
        self.assertTrue(wait_until(lambda: all(map(visualizer_subscribes, per_frame[:5]))))
        self.assertFalse(visualizer_subscribes('/detections_3d'))  # ~/markers_3d: nobody


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
