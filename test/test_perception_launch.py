"""
perception.launch.py against a real ROS 2: camera -> yolov5 -> visualizer on the shared video.

The launch file starts its nodes with launch_ros ``Node(package, executable)``, which looks the
executables up in the ament index. The test therefore lays out, in a temporary prefix, what
``colcon build --symlink-install`` installs for this package (the ament index marker,
``lib/jetauto_perception/<node>`` scripts for the setup.py NODES, ``share/jetauto_perception``
with launch/, config/, rviz/) and puts it first on AMENT_PREFIX_PATH.
Runs wherever ROS 2 is sourced (launch_testing's pytest plugin collects it); skips elsewhere.
"""
import os
import time
import unittest

from ament_prefix import make_install_prefix, PACKAGE

from conftest import require_ros, SHARED

require_ros()

import launch  # noqa: E402,I100
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import pytest  # noqa: E402
import rclpy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

VIDEO = SHARED / 'data' / 'video' / 'vtest.avi'


@pytest.mark.launch_test
def generate_test_description():
    if not VIDEO.is_file():
        pytest.skip('%s is not here' % VIDEO)
    prefix = make_install_prefix()
    os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join(
        [str(prefix)] + [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)
                         if p])
    os.environ['PYTHONUNBUFFERED'] = '1'
    perception = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(prefix / 'share' / PACKAGE / 'launch'
                                          / 'perception.launch.py')),
        launch_arguments={'source': str(VIDEO), 'rviz': 'false'}.items())
    return launch.LaunchDescription([perception, launch_testing.actions.ReadyToTest()]), {}


def stamp(msg):
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


class TestPerceptionLaunch(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('perception_launch_tester')
        cls.images, cls.infos, cls.detections, cls.annotated, cls.markers = [], [], [], [], []
        sub = cls.node.create_subscription
        # Reliable, like the camera's publisher: this test must see every image it published.
        sub(Image, '/camera/image_raw', cls.images.append, 100)
        sub(CameraInfo, '/camera/camera_info', cls.infos.append, 10)
        sub(Detection2DArray, '/detections', cls.detections.append, 10)
        sub(Image, '/visualizer_node/image', cls.annotated.append, 10)
        sub(MarkerArray, '/visualizer_node/markers', cls.markers.append, 10)

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def spin_until(self, predicate, timeout=120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.1)
            if predicate():
                return True
        return False

    def test_1_camera_detector_and_visualizer_talk_by_stamp(self):
        def enough():
            image_stamps = {stamp(m) for m in self.images}
            paired = [d for d in self.detections if stamp(d) in image_stamps]
            drawn = [a for a in self.annotated if stamp(a) in image_stamps]
            return len(paired) >= 5 and len(drawn) >= 5 and self.markers and self.infos
        self.assertTrue(self.spin_until(enough),
                        'images %d, detections %d, annotated %d, markers %d, infos %d'
                        % (len(self.images), len(self.detections), len(self.annotated),
                           len(self.markers), len(self.infos)))
        image = self.images[0]
        self.assertEqual((image.width, image.height, image.encoding), (768, 576, 'bgr8'))
        self.assertEqual(image.header.frame_id, 'camera_optical_frame')
        # Every detection carries the stamp of an image the camera published.
        image_stamps = {stamp(m) for m in self.images}
        first = min(image_stamps)
        unmatched = [stamp(d) for d in self.detections
                     if stamp(d) >= first and stamp(d) not in image_stamps]
        self.assertEqual(unmatched, [])  # (ones before our first image cannot be checked)
        people = [d for m in self.detections for d in m.detections
                  if d.results[0].hypothesis.class_id == 'person']
        self.assertGreater(len(people), 5)
        # The annotated images are camera images with the same stamp, drawn on.
        by_stamp = {stamp(m): m for m in self.images}
        changed = 0
        for annotated in self.annotated:
            original = by_stamp.get(stamp(annotated))
            if original is not None:
                self.assertEqual((annotated.width, annotated.height), (768, 576))
                changed += bytes(annotated.data) != bytes(original.data)
        self.assertGreater(changed, 0, 'the visualizer drew nothing')
        info = self.infos[0]
        self.assertEqual((info.width, info.height), (768, 576))
        self.assertEqual(list(info.k), [0.0] * 9)  # no calibration: uncalibrated
        self.assertEqual(stamp(info) in image_stamps or len(self.infos) > 1, True)

    def test_2_markers_are_in_the_camera_frame(self):
        self.assertTrue(self.spin_until(lambda: any(
            any(m.ns == 'detections' for m in arr.markers) for arr in self.markers), 60))
        array = next(arr for arr in self.markers
                     if any(m.ns == 'detections' for m in arr.markers))
        self.assertEqual(array.markers[0].action, Marker.DELETEALL)
        boxes = next(m for m in array.markers if m.ns == 'detections')
        self.assertEqual(boxes.type, Marker.LINE_LIST)
        self.assertEqual(boxes.header.frame_id, 'camera_optical_frame')
        self.assertEqual(len(boxes.points) % 8, 0)
        self.assertTrue(all(abs(p.z - 1.0) < 1e-9 for p in boxes.points))


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
