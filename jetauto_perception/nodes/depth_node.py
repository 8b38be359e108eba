"""
``depth_node``: registered depth + camera info + detections (+ keypoints) -> 3D.

Subscribes ``depth/image_raw`` (a depth image registered to the colour camera: ``16UC1``
millimetres or ``32FC1`` metres, 0 / NaN = no depth), ``camera/camera_info`` (the colour
camera's: registered depth shares its intrinsics), ``detections`` and, with ``use_keypoints``,
``keypoints``. message_filters' ApproximateTimeSynchronizer pairs them by stamp within ``slop``
seconds (depth and colour stamps of RGB-D drivers differ by a few ms); the detections and
keypoints carry the colour image's stamp. Publishes ``detections_3d`` and ``keypoints_3d``
(vision_msgs/Detection3DArray, the colour image's header, or ``target_frame`` through tf2) from
the spatial core (:mod:`jetauto_perception.spatial.localize`).

``mediapipe_topics`` (comma-separated, e.g. ``mediapipe/pose,mediapipe/hands``) adds, per topic
``T`` of the keypoint convention, a synchronizer of its own (the MediaPipe nodes run at their own
rate) pairing ``T`` with the depth image and camera info, and publishes ``T_3d``: the same 3D
keypoint convention as ``keypoints_3d``, the instance's id kept.

A depth image in another encoding, of another size than the camera info, or a transform that is
missing gives one clear error line (throttled) and that frame is skipped; the node keeps running.
An object without valid depth in its box is left out (a throttled info line says which), never
NaN.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, List, Optional, Tuple

from rclpy.qos import QoSProfile
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, Detection3DArray

from .base import ERROR_THROTTLE_S, IMAGE_QOS, main_for, PerceptionNode, StartupError
from .spatial_conversions import (boxes_from_msg, depth_image_to_meters, intrinsics_from_msg,
                                  keypoint_names_from_msg, keypoints3d_to_msg, lookup_rigid,
                                  objects_to_msg, people_from_msg, Transform)
from ..errors import PerceptionError
from ..keypoints.coco17 import COCO_KEYPOINT_NAMES
from ..spatial.depth import check_same_size, Intrinsics
from ..spatial.localize import Localized, Localizer, LocalizerConfig, torso_indices


def parse_topics(value: str) -> List[str]:
    """Split ``'a, b,,a'`` into ``['a', 'b']``: the listed topics, blanks and repeats dropped."""
    topics: List[str] = []
    for topic in (t.strip() for t in value.split(',')):
        if topic and topic not in topics:
            topics.append(topic)
    return topics


class DepthNode(PerceptionNode):
    """Places the detections and keypoints of each colour frame in 3D with its depth image."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('depth_node', **kwargs)
        try:
            from message_filters import ApproximateTimeSynchronizer, Subscriber
        except ImportError as exc:
            raise StartupError('message_filters is not installed (%s): install '
                               'ros-$ROS_DISTRO-message-filters' % exc) from None
        defaults = LocalizerConfig()
        slop = self.declare('slop', 0.05, 'Seconds by which depth and colour stamps may differ '
                            'to be paired', 0.0, 1.0, read_only=True)
        queue = self.declare('queue_size', 10, 'Messages per topic kept for pairing', 1, 100,
                             read_only=True)
        self.use_keypoints = self.declare(
            'use_keypoints', False, 'Also pair the keypoints topic (3D keypoints; person depth '
            "from the torso) - then 3D follows the keypoint node's rate", read_only=True)
        mediapipe_topics = parse_topics(self.declare(
            'mediapipe_topics', '', 'Comma-separated keypoint-convention topics (e.g. '
            'mediapipe/pose,mediapipe/hands) each placed in 3D on <topic>_3d, paired with the '
            'depth by stamp on their own ("" = none)', read_only=True))
        self.target_frame = self.declare(
            'target_frame', '', 'Publish in this TF frame ("" = the colour camera\'s optical '
                                'frame); needs tf2_ros and a transform', read_only=True)
        self.localizer = Localizer(LocalizerConfig(
            bin_size=self.declare('bin_size', defaults.bin_size,
                                  'Depth histogram bin (m) of the nearest dense mode',
                                  0.005, 1.0, read_only=True),
            dense_fraction=self.declare('dense_fraction', defaults.dense_fraction,
                                        'A depth mode counts when it holds this share of the '
                                        'fullest bin', 0.01, 1.0, read_only=True),
            keypoint_threshold=self.declare('keypoint_threshold', defaults.keypoint_threshold,
                                            'Keypoints scoring below get no 3D point', 0.0,
                                            1.0, read_only=True),
            max_depth=self.declare('max_depth', defaults.max_depth,
                                   'Depths beyond (m) are ignored', 0.1, 100.0,
                                   read_only=True)))
        self.tf_buffer = None
        if self.target_frame:
            try:
                from tf2_ros.buffer import Buffer
                from tf2_ros.transform_listener import TransformListener
            except ImportError as exc:
                raise StartupError('target_frame is set but tf2_ros does not import (%s): '
                                   'install ros-$ROS_DISTRO-tf2-ros or leave target_frame empty'
                                   % exc) from None
            self.tf_buffer = Buffer()
            self._tf_listener = TransformListener(self.tf_buffer, self)
        self.objects_publisher = self.create_publisher(Detection3DArray, 'detections_3d', 10)
        self.keypoints_publisher = self.create_publisher(Detection3DArray, 'keypoints_3d', 10)
        reliable = QoSProfile(depth=queue)
        subscribers = [
            Subscriber(self, Image, 'depth/image_raw', qos_profile=IMAGE_QOS),
            Subscriber(self, CameraInfo, 'camera/camera_info', qos_profile=reliable),
            Subscriber(self, Detection2DArray, 'detections', qos_profile=reliable)]
        if self.use_keypoints:
            subscribers.append(Subscriber(self, Detection2DArray, 'keypoints',
                                          qos_profile=reliable))
        self._subscribers = subscribers
        self.synchronizer = ApproximateTimeSynchronizer(subscribers, queue, slop)
        self.synchronizer.registerCallback(self.on_frame)
        # one synchronizer per MediaPipe topic, sharing the depth and camera info subscribers
        self.mediapipe_synchronizers = []
        outputs = [self.objects_publisher.topic_name, self.keypoints_publisher.topic_name]
        for topic in mediapipe_topics:
            publisher = self.create_publisher(Detection3DArray, topic + '_3d', 10)
            subscriber = Subscriber(self, Detection2DArray, topic, qos_profile=reliable)
            self._subscribers.append(subscriber)
            synchronizer = ApproximateTimeSynchronizer(subscribers[:2] + [subscriber], queue,
                                                       slop)
            synchronizer.registerCallback(functools.partial(self.on_keypoints, publisher))
            self.mediapipe_synchronizers.append(synchronizer)
            outputs.append(publisher.topic_name)
        self.published = 0
        self.get_logger().info('ready: %s -> %s (pairing within %.3f s%s)' % (
            ', '.join(s.sub.topic_name for s in self._subscribers), ', '.join(outputs), slop,
            ', in %s' % self.target_frame if self.target_frame else ''))

    def transform_for(self, header: Header) -> Optional[Transform]:
        """Look up camera -> target_frame at the frame's stamp (PerceptionError when missing)."""
        if self.tf_buffer is None:
            return None
        from tf2_ros import TransformException
        try:
            stamped = self.tf_buffer.lookup_transform(self.target_frame, header.frame_id,
                                                      Time.from_msg(header.stamp))
        except TransformException as exc:
            raise PerceptionError("no transform from '%s' to target_frame '%s' at this stamp "
                                  '(%s): is a TF publisher running?'
                                  % (header.frame_id, self.target_frame, exc)) from None
        r, t = stamped.transform.rotation, stamped.transform.translation
        return lookup_rigid((r.x, r.y, r.z, r.w), (t.x, t.y, t.z))

    def run_core(self, depth_msg: Image, info: CameraInfo, header: Header,
                 core: Callable[[Any, Intrinsics], Localized]
                 ) -> Optional[Tuple[Localized, Header, Optional[Transform]]]:
        """
        Decode the depth and camera info, look up the transform and run ``core`` on them.

        Returns (result, output header, transform), or None after a throttled error line when
        the frame is bad (the frame is skipped, the node keeps running).
        """
        logger = self.get_logger()
        try:
            depth = depth_image_to_meters(depth_msg)
            intrinsics = intrinsics_from_msg(info)
            check_same_size(depth.shape[:2], (intrinsics.height, intrinsics.width))
            header = Header(stamp=header.stamp, frame_id=header.frame_id)
            transform = self.transform_for(header)
            result = core(depth, intrinsics)
        except PerceptionError as exc:
            logger.error('frame skipped: %s' % exc, throttle_duration_sec=ERROR_THROTTLE_S)
            return None
        except Exception as exc:  # anything else a bad message causes: skip it, keep running
            logger.error('frame skipped, %s: %s' % (type(exc).__name__, exc),
                         throttle_duration_sec=ERROR_THROTTLE_S)
            return None
        for reason in result.skipped:
            logger.info(reason, throttle_duration_sec=ERROR_THROTTLE_S)
        if transform is not None:
            header.frame_id = self.target_frame
        return result, header, transform

    def on_frame(self, depth_msg: Image, info: CameraInfo, detections: Detection2DArray,
                 keypoints: Optional[Detection2DArray] = None) -> None:
        done = self.run_core(depth_msg, info, detections.header, lambda depth, intrinsics:
                             self.localizer.localize(
                                 depth, intrinsics, boxes_from_msg(detections),
                                 people_from_msg(keypoints) if keypoints is not None else []))
        if done is None:
            return
        result, header, transform = done
        self.objects_publisher.publish(objects_to_msg(result.objects, header, transform))
        if keypoints is not None:
            self.keypoints_publisher.publish(
                keypoints3d_to_msg(result.keypoints, COCO_KEYPOINT_NAMES, header, transform))
        self.published += 1

    def on_keypoints(self, publisher: Any, depth_msg: Image, info: CameraInfo,
                     keypoints: Detection2DArray) -> None:
        """Place one message of a MediaPipe keypoint topic in 3D (its names from its results)."""
        names = keypoint_names_from_msg(keypoints)
        done = self.run_core(depth_msg, info, keypoints.header, lambda depth, intrinsics:
                             self.localizer.localize(
                                 depth, intrinsics, [], people_from_msg(keypoints, len(names)),
                                 torso=torso_indices(names)))
        if done is None:
            return
        result, header, transform = done
        publisher.publish(keypoints3d_to_msg(result.keypoints, names, header, transform))
        self.published += 1


main = main_for(DepthNode, 'depth_node')

if __name__ == '__main__':
    main()
