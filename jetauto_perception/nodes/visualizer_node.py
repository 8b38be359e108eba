"""
``visualizer_node``: images + results -> ``~/image`` (annotated) and ``~/markers`` (rviz).

Subscribes ``camera/image_raw``, ``camera/camera_info`` (optional: intrinsics for the markers),
the detection topics (``detections``), the keypoint topics (``keypoints``,
``mediapipe/face_mesh``, ``mediapipe/hands``, ``mediapipe/pose``, ``mediapipe/face_detection``)
with their latched ``<topic>/label_info`` (keypoint names, skeleton edges, class names) and the
mask topics (``mediapipe/selfie_mask``: mono8, drawn as an overlay). Images and results are
paired by header stamp (nodes.stamp_cache.ResultSynchronizer): a frame goes out when every result
stream that is publishing has delivered for its stamp, or after ``sync_wait`` with what arrived.

``~/image`` is the image with boxes, labels, scores and skeletons drawn; ``~/markers`` is a
visualization_msgs/MarkerArray in the image's frame: a DELETEALL, then the results on an image
plane ``marker_depth`` metres in front of the camera (optical frame: x right, y down, z forward),
through the CameraInfo intrinsics or a ``default_hfov`` pinhole (namespaces: ``image_plane``,
``detections``, ``detections/labels``, ``<topic>/skeleton``, ``<topic>/points``).

While neither output has a subscriber the node subscribes to none of the per-frame topics
(images, camera_info, results, masks; only the latched label_info) and checks for a watcher twice
a second: nothing is received, cached, decoded or drawn. In the perception container, receiving
and decoding the results for nobody (and a 20 Hz poll) took about a quarter of a core on the
executor's threads, which every node shares; unwatched, under 3 % now (benchmarks/RESULTS.md).
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from geometry_msgs.msg import Point
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Header
from vision_msgs.msg import Detection2DArray, LabelInfo
from visualization_msgs.msg import Marker, MarkerArray

from . import base
from .base import (LATCHED_QOS, lower_priority, main_for, parse_name_list, PerceptionNode,
                   process_threads)
from .conversions import (bgr_to_image, image_to_bgr, image_to_mono8, msg_to_detections,
                          parse_label_info, stamp_ns)
from .markers_3d import Markers3DPublisher
from .stamp_cache import ResultSynchronizer, SyncedFrame
from ..detection.detections import Detections
from ..drawing.visualization import (draw_results, frame_markers, ImagePlane, KeypointSet,
                                     MarkerData)
from ..errors import ImageFormatError
from ..sources.camera_info import CameraCalibration

#: Width of a space in text markers, in text heights (about one narrow glyph in rviz2).
TEXT_SPACE_WIDTH = 0.5
MARKER_TYPES = {'line_list': Marker.LINE_LIST, 'line_strip': Marker.LINE_STRIP,
                'points': Marker.POINTS, 'text': Marker.TEXT_VIEW_FACING}
DETECTIONS, KEYPOINTS, MASKS = 'detections', 'keypoints', 'masks'
#: Parameters that change the drawing at run time (the others need a restart).
LIVE_PARAMETERS = ('keypoint_threshold', 'marker_depth', 'default_hfov', 'line_width',
                   'text_height')
#: Seconds between the checks for a watcher (and the sync timeouts) while watched / unwatched.
WATCHED_POLL_S, UNWATCHED_POLL_S = 0.05, 0.5
IMAGE_QOS = QoSProfile(depth=5, history=qos_profile_sensor_data.history,
                       durability=qos_profile_sensor_data.durability,
                       reliability=qos_profile_sensor_data.reliability)


def calibration_from_msg(msg: CameraInfo) -> CameraCalibration:
    return CameraCalibration(int(msg.width), int(msg.height), '', msg.distortion_model,
                             list(msg.d), list(msg.k), list(msg.r), list(msg.p),
                             int(msg.binning_x), int(msg.binning_y))


def keypoint_set_from_msg(msg: Detection2DArray, names: Sequence[str] = (),
                          edges: Sequence[Any] = ()) -> KeypointSet:
    """
    Convert the keypoint convention to a KeypointSet (the first ``len(names)`` results).

    Without names (no LabelInfo yet) every result counts as a keypoint.
    """
    count = len(names)
    boxes, keypoints, labels = [], [], []
    for det in msg.detections:
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        results = det.results[:count] if count else det.results
        keypoints.append(np.array([[r.pose.pose.position.x, r.pose.pose.position.y,
                                    r.hypothesis.score] for r in results],
                                  np.float32).reshape(-1, 3))
        labels.append('' if det.id.isdigit() else det.id)
    return KeypointSet(keypoints, np.array(boxes, np.float32).reshape(-1, 4), labels,
                       list(names), list(edges))


def marker_msg(data: MarkerData, header: Header) -> Marker:
    """Convert a MarkerData (plain) to a visualization_msgs/Marker."""
    marker = Marker(header=header, ns=data.namespace, id=data.marker_id,
                    type=MARKER_TYPES[data.kind], action=Marker.ADD)
    marker.pose.orientation.w = 1.0
    marker.color = ColorRGBA(r=float(data.color[0]), g=float(data.color[1]),
                             b=float(data.color[2]), a=float(data.color[3]))
    if data.kind == 'text':
        x, y, z = (float(v) for v in data.points[0])
        marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = x, y, z
        marker.scale.z = float(data.scale)
        # rviz2 (MovableText) draws ' ' at a fixed ~1.2 m unless scale.x gives its width (rviz2
        # 11.2.14+): without it 'person 0.75' shows as two words a box apart
        marker.scale.x = TEXT_SPACE_WIDTH * float(data.scale)
        marker.text = data.text
        return marker
    marker.scale.x = float(data.scale)
    if data.kind == 'points':
        marker.scale.y = float(data.scale)
    marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in data.points]
    if data.colors is not None:
        marker.colors = [ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(a))
                         for r, g, b, a in data.colors]
    return marker


class VisualizerNode(PerceptionNode):
    """Draws every result stream on its image and publishes rviz markers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('visualizer_node', **kwargs)
        niceness = self.declare_niceness()
        if not base.SHARED_PROCESS:  # in the container it shares the executor's threads
            lower_priority(niceness, process_threads())
        detection_topics, keypoint_topics = self._declare_parameters()
        mask_topics = parse_name_list(self.declare(
            'mask_topics', 'mediapipe/selfie_mask',
            'Comma-separated mono8 mask topics (sensor_msgs/Image, 0-255) drawn as overlays',
            read_only=True))
        self.calibration: Optional[CameraCalibration] = None
        self.label_info: Dict[str, Any] = {}
        self.image_publisher = self.create_publisher(Image, '~/image', 1)
        self.marker_publisher = self.create_publisher(MarkerArray, '~/markers', 1)
        self.bad = 0
        self.result_topics = ([(t, DETECTIONS) for t in detection_topics]
                              + [(t, KEYPOINTS) for t in keypoint_topics]
                              + [(t, MASKS) for t in mask_topics])
        for topic, kind in self.result_topics:
            if kind != MASKS:
                self.create_subscription(LabelInfo, topic + '/label_info',
                                         lambda msg, t=topic: self._on_label_info(t, msg),
                                         LATCHED_QOS)
        #: the per-frame subscriptions, only while somebody watches (see :meth:`_follow`)
        self.frame_subscriptions: List[Any] = []
        self.poll_timer = self.create_timer(UNWATCHED_POLL_S, self._poll)
        self.markers_3d = Markers3DPublisher(self, marker_msg,
                                             keypoint_threshold=self.keypoint_threshold)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._was_wanted = False
        self.get_logger().info('drawing %s on %s -> %s, %s' % (
            ', '.join(list(detection_topics) + list(keypoint_topics) + list(mask_topics))
            or 'nothing',
            self.resolve_topic_name('camera/image_raw'), self.image_publisher.topic_name,
            self.marker_publisher.topic_name))

    def _declare_parameters(self) -> Tuple[Dict[str, None], Dict[str, None]]:
        detection_topics = parse_name_list(self.declare(
            'detection_topics', DETECTIONS,
            'Comma-separated vision_msgs/Detection2DArray box topics to draw', read_only=True))
        keypoint_topics = parse_name_list(self.declare(
            'keypoint_topics', 'keypoints,mediapipe/face_mesh,mediapipe/hands,mediapipe/pose,'
            'mediapipe/face_detection',
            'Comma-separated keypoint topics (the keypoint convention) to draw',
            read_only=True))
        queue_size = self.declare('queue_size', 30, 'Images (and results) kept while pairing '
                                  'them by stamp', 1, 1000, read_only=True)
        sync_wait = self.declare(
            'sync_wait', 0.5, 'Seconds an image waits for the results of every active stream '
            'before it is drawn with those that came', 0.0, 10.0, read_only=True)
        active_timeout = self.declare(
            'active_timeout', 2.0, 'A result topic silent for this many seconds is no longer '
            'waited for', 0.1, 60.0, read_only=True)
        self.keypoint_threshold = self.declare(
            'keypoint_threshold', 0.3, 'Keypoints scoring below this are not drawn', 0.0, 1.0)
        self.marker_depth = self.declare(
            'marker_depth', 1.0, 'Distance in metres of the marker image plane from the '
            'camera', 0.01, 100.0)
        self.default_hfov = self.declare(
            'default_hfov', 60.0, 'Horizontal field of view in degrees for the markers when '
            'there is no calibrated camera_info', 1.0, 179.0)
        self.line_width = self.declare('line_width', 2.0, 'Marker line width in image pixels',
                                       0.1, 50.0)
        self.text_height = self.declare('text_height', 16.0,
                                        'Marker text height in image pixels', 1.0, 200.0)
        self.sync = ResultSynchronizer(queue_size, sync_wait, active_timeout)
        return detection_topics, keypoint_topics

    def _on_set_parameters(self, params: List[Parameter]) -> SetParametersResult:
        # The drawing parameters apply from the next frame (rclpy checked types and ranges).
        for param in params:
            if param.name in LIVE_PARAMETERS:
                setattr(self, param.name, param.value)
        return SetParametersResult(successful=True)

    # -- callbacks -------------------------------------------------------------------------------
    def wanted(self) -> bool:
        """Whether anybody listens; the cache is dropped when the last subscriber leaves."""
        wanted = (self.image_publisher.get_subscription_count() > 0
                  or self.marker_publisher.get_subscription_count() > 0)
        if self._was_wanted and not wanted:
            self.sync.clear()
        self._was_wanted = wanted
        return wanted

    def _on_image(self, msg: Image) -> None:
        if self.frame_subscriptions:  # (not a message taken just before unsubscribing)
            self._render(self.sync.add_image(stamp_ns(msg.header), msg, time.monotonic()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.calibration = calibration_from_msg(msg)

    def _on_label_info(self, topic: str, msg: LabelInfo) -> None:
        names, edges = parse_label_info(msg)
        self.label_info[topic] = (names, edges)

    def _on_result(self, topic: str, kind: str, msg: Any) -> None:
        if self.frame_subscriptions:
            self._render(self.sync.add_result(topic, stamp_ns(msg.header), (kind, msg),
                                              time.monotonic()))

    def _poll(self) -> None:
        wanted = self.wanted()
        self._follow(wanted)
        self.markers_3d.follow()
        if wanted:
            self._render(self.sync.poll(time.monotonic()))

    def _follow(self, wanted: bool) -> None:
        """Subscribe to the per-frame topics only while somebody watches (each costs a receive)."""
        if wanted and not self.frame_subscriptions:
            self.frame_subscriptions = [
                self.create_subscription(Image, 'camera/image_raw', self._on_image, IMAGE_QOS),
                self.create_subscription(CameraInfo, 'camera/camera_info',
                                         self._on_camera_info, 1)]
            for topic, kind in self.result_topics:
                self.frame_subscriptions.append(self.create_subscription(
                    Image if kind == MASKS else Detection2DArray, topic,
                    lambda msg, t=topic, k=kind: self._on_result(t, k, msg), 10))
            self.poll_timer.timer_period_ns = int(WATCHED_POLL_S * 1e9)
        elif not wanted and self.frame_subscriptions:
            subscriptions, self.frame_subscriptions = self.frame_subscriptions, []
            for subscription in subscriptions:
                self.destroy_subscription(subscription)
            self.poll_timer.timer_period_ns = int(UNWATCHED_POLL_S * 1e9)

    # -- output ----------------------------------------------------------------------------------
    def results_of(self, frame: SyncedFrame) -> Any:
        """Convert the frame's messages: (merged Detections or None, {topic: KeypointSet})."""
        detections: List[Detections] = []
        keypoint_sets: Dict[str, KeypointSet] = {}
        for topic, (kind, msg) in frame.results.items():
            names, edges = self.label_info.get(topic, ([], []))
            if kind == DETECTIONS:
                detections.append(self._detections(msg, names))
            elif kind == KEYPOINTS:
                keypoint_sets[topic] = keypoint_set_from_msg(msg, names, edges)
        merged = None
        if len(detections) == 1:
            merged = detections[0]
        elif detections:
            names = sorted({n for d in detections for n in d.class_names})
            merged = Detections(
                np.concatenate([d.boxes for d in detections]).astype(np.float32),
                np.concatenate([d.scores for d in detections]).astype(np.float32),
                np.concatenate([[names.index(d.label(int(c))) for c in d.class_ids]
                                for d in detections]).astype(np.int64), names)
        return merged, keypoint_sets

    def masks_of(self, frame: SyncedFrame) -> Dict[str, np.ndarray]:
        """Return the frame's masks as ``(H, W)`` uint8 (a bad one is logged and left out)."""
        masks = {}
        for topic, (kind, msg) in frame.results.items():
            if kind != MASKS:
                continue
            try:
                masks[topic] = image_to_mono8(msg)
            except ImageFormatError as exc:
                self.bad += 1
                self.get_logger().error('cannot draw the mask on %s: %s' % (topic, exc),
                                        throttle_duration_sec=5.0)
        return masks

    @staticmethod
    def _detections(msg: Detection2DArray, names: Sequence[str]) -> Detections:
        detections = msg_to_detections(msg)
        if names and len(detections):
            # Stable class ids (and colours) from the detector's LabelInfo.
            known = list(names)
            ids = [known.index(detections.label(int(c))) if detections.label(int(c)) in known
                   else -1 for c in detections.class_ids]
            if -1 not in ids:
                detections = Detections(detections.boxes, detections.scores,
                                        np.asarray(ids, np.int64), known)
        return detections

    def _render(self, frame: Optional[SyncedFrame]) -> None:
        if frame is None:
            return
        image_msg: Image = frame.image
        detections, keypoint_sets = self.results_of(frame)
        if self.image_publisher.get_subscription_count() > 0:
            try:
                canvas = np.array(image_to_bgr(image_msg), copy=True)
            except ImageFormatError as exc:
                self.bad += 1
                self.get_logger().error('cannot draw on a bad image message: %s' % exc,
                                        throttle_duration_sec=5.0)
                return
            draw_results(canvas, detections, keypoint_sets, self.keypoint_threshold,
                         self.masks_of(frame))
            self.image_publisher.publish(bgr_to_image(canvas, image_msg.header))
        if self.marker_publisher.get_subscription_count() > 0:
            plane = ImagePlane.for_camera(int(image_msg.width), int(image_msg.height),
                                          self.calibration, self.marker_depth,
                                          self.default_hfov)
            markers = MarkerArray()
            clear = Marker(header=image_msg.header, action=Marker.DELETEALL)
            markers.markers.append(clear)
            for data in frame_markers(plane, detections, keypoint_sets, self.keypoint_threshold,
                                      self.line_width, self.text_height):
                markers.markers.append(marker_msg(data, image_msg.header))
            self.marker_publisher.publish(markers)


main = main_for(VisualizerNode, 'visualizer_node')

if __name__ == '__main__':
    main()
