"""
yolov5_node's track ids on ``/detections`` against a real ROS 2, on the shared video.

Twenty consecutive frames of vtest.avi (people walking) go to the real yolov5_node one at a time
(stamps 0.1 s apart, the video's rate); each frame's Detection2DArray is awaited before the next
is sent. A person whose box overlaps their box of the previous frame must keep the same id, ids
are unique within a frame, and the ids are the tracker's (digits), not box indices. Runs
wherever ROS 2 is sourced; skips elsewhere.
"""
import unittest

from conftest import require_ros
from conftest import SHARED

require_ros()

import cv2  # noqa: E402,I100
import launch  # noqa: E402
import launch.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import rclpy  # noqa: E402
from ros_helpers import image_message  # noqa: E402
from ros_helpers import node_command  # noqa: E402
from ros_helpers import node_env  # noqa: E402
from ros_helpers import spin_until  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from jetauto_perception.tracking.byte_tracker import iou_matrix  # noqa: E402

NAMESPACE = '/track_test'
VIDEO = SHARED / 'data' / 'video' / 'vtest.avi'
MODEL = SHARED / 'models' / 'yolov5' / 'yolov5n.onnx'
FRAMES = 20


@pytest.mark.launch_test
def generate_test_description():
    detector = launch.actions.ExecuteProcess(
        cmd=node_command('yolov5_node', 'model_path:=%s' % MODEL, 'device:=cpu',
                         'classes:=person') + ['-r', '__ns:=' + NAMESPACE],
        additional_env=node_env(), output='screen', name='yolov5_node')
    return launch.LaunchDescription([detector, launch_testing.actions.ReadyToTest()])


def boxes_and_ids(msg):
    boxes = np.array([[d.bbox.center.position.x - d.bbox.size_x / 2,
                       d.bbox.center.position.y - d.bbox.size_y / 2,
                       d.bbox.center.position.x + d.bbox.size_x / 2,
                       d.bbox.center.position.y + d.bbox.size_y / 2]
                      for d in msg.detections]).reshape(-1, 4)
    return boxes, [d.id for d in msg.detections]


class TestTrackIds(unittest.TestCase):

    def test_ids_are_stable_across_the_video(self):
        rclpy.init()
        node = rclpy.create_node('track_ids_tester')
        received = {}
        node.create_subscription(Detection2DArray, NAMESPACE + '/detections',
                                 lambda m: received.setdefault(m.header.stamp.sec * 10
                                                               + m.header.stamp.nanosec
                                                               // 100000000, m), 10)
        publisher = node.create_publisher(Image, NAMESPACE + '/camera/image_raw', 10)
        capture = cv2.VideoCapture(str(VIDEO))
        try:
            for index in range(FRAMES):
                ok, frame = capture.read()
                self.assertTrue(ok)
                msg = image_message(frame, index // 10, (index % 10) * 100000000, 'cam')
                self.assertTrue(spin_until(node, lambda: index in received,
                                           90.0 if index == 0 else 20.0,
                                           lambda: publisher.publish(msg), period=2.0),
                                'no detections for frame %d' % index)
        finally:
            capture.release()
            node.destroy_node()
            rclpy.shutdown()
        kept = changed = 0
        for index in range(1, FRAMES):
            boxes, ids = boxes_and_ids(received[index])
            tracked = [i for i in ids if i]
            self.assertEqual(len(tracked), len(set(tracked)), 'an id twice in frame %d' % index)
            self.assertTrue(all(i.isdigit() for i in tracked))
            before, before_ids = boxes_and_ids(received[index - 1])
            overlaps = iou_matrix(boxes, before)
            for row, current in enumerate(ids):
                if not current or not overlaps.shape[1]:
                    continue
                best = int(np.argmax(overlaps[row]))
                if overlaps[row, best] >= 0.6 and before_ids[best]:
                    kept += current == before_ids[best]
                    changed += current != before_ids[best]
        # 3-4 people a frame are confirmed tracks (the offline tracker: 42 kept, 0 changed)
        self.assertGreaterEqual(kept, 30)
        self.assertLessEqual(changed, 0.05 * kept)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
