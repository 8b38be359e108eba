"""
The visualizer's 3D part: ``detections_3d`` + ``keypoints_3d`` -> ``~/markers_3d`` for rviz.

Each message is drawn in its own frame and stamp (the depth node's output) as soon as it
arrives; markers live ``lifetime`` seconds, so a box or skeleton that is not repeated vanishes.
Without a depth node the two topics stay silent and so does ``~/markers_3d``; nothing is
received while it has no subscriber (:meth:`Markers3DPublisher.follow`, called by the
visualizer's poll).
"""
from __future__ import annotations

from typing import Any, Callable, List

from builtin_interfaces.msg import Duration
import numpy as np
from rclpy.node import Node
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import MarkerArray

from .spatial_conversions import lookup_rigid
from ..drawing.markers3d import markers_3d


class Markers3DPublisher:
    """Turns the 3D result topics into a MarkerArray on ``~/markers_3d``."""

    def __init__(self, node: Node, marker_msg: Callable[..., Any], lifetime: float = 0.5,
                 keypoint_threshold: float = 0.3) -> None:
        self.node = node
        self.marker_msg = marker_msg
        self.lifetime = Duration(sec=int(lifetime), nanosec=int((lifetime % 1) * 1e9))
        self.keypoint_threshold = keypoint_threshold
        self.publisher = node.create_publisher(MarkerArray, '~/markers_3d', 1)
        self.subscriptions: List[Any] = []
        self.follow()

    def follow(self) -> None:
        """Subscribe to the 3D results only while ``~/markers_3d`` has a subscriber."""
        wanted = self.publisher.get_subscription_count() > 0
        if wanted and not self.subscriptions:
            self.subscriptions = [
                self.node.create_subscription(Detection3DArray, 'detections_3d',
                                              self.on_objects, 10),
                self.node.create_subscription(Detection3DArray, 'keypoints_3d',
                                              self.on_people, 10)]
        elif not wanted and self.subscriptions:
            subscriptions, self.subscriptions = self.subscriptions, []
            for subscription in subscriptions:
                self.node.destroy_subscription(subscription)

    def _publish(self, header: Any, data: List[Any]) -> None:
        markers = MarkerArray()
        for item in data:
            marker = self.marker_msg(item, header)
            marker.lifetime = self.lifetime
            markers.markers.append(marker)
        self.publisher.publish(markers)

    def on_objects(self, msg: Detection3DArray) -> None:
        if self.publisher.get_subscription_count() == 0:
            return
        objects = []
        for det in msg.detections:
            label = det.results[0].hypothesis.class_id if det.results else ''
            score = det.results[0].hypothesis.score if det.results else 0.0
            centre = det.bbox.center.position
            size = det.bbox.size
            q = det.bbox.center.orientation
            rotation = lookup_rigid((q.x, q.y, q.z, q.w), (0, 0, 0))[0]
            objects.append((label, score, det.id, np.array([centre.x, centre.y, centre.z]),
                            np.array([size.x, size.y, size.z]), rotation))
        self._publish(msg.header, markers_3d(objects, [], self.keypoint_threshold))

    def on_people(self, msg: Detection3DArray) -> None:
        if self.publisher.get_subscription_count() == 0:
            return
        people = [np.array([[r.pose.pose.position.x, r.pose.pose.position.y,
                             r.pose.pose.position.z, r.hypothesis.score] for r in det.results])
                  for det in msg.detections]
        self._publish(msg.header, markers_3d([], people, self.keypoint_threshold))
