"""
What the visualizer shows: every result kind drawn on the image, and rviz marker geometry.

Drawing (:func:`draw_results`) puts boxes with ``label score`` captions, keypoints and
skeletons on a BGR image. Markers (:func:`frame_markers`) are plain data (:class:`MarkerData`)
that the visualizer node turns into ``visualization_msgs/Marker``: the results are placed on an
*image plane* in the camera's optical frame (x right, y down, z forward, REP 103) at ``depth``
metres, through the pinhole intrinsics of the camera's calibration, or of a nominal horizontal
field of view when there is none. So in rviz, with the fixed frame set to the camera frame, boxes
and skeletons appear where they are in the image, scaled to that plane.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from .draw import class_color, draw_detections, draw_keypoints, draw_mask
from ..detection.detections import Detections
from ..sources.camera_info import CameraCalibration

Edge = Tuple[int, int]
RGBA = Tuple[float, float, float, float]

#: Drawing colours (BGR) of the keypoint streams, in the order they are given.
STREAM_COLORS: Tuple[Tuple[int, int, int], ...] = (
    (0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 165, 255), (180, 105, 255), (0, 255, 0),
)


@dataclass
class KeypointSet:
    """
    The instances of one keypoint stream (the keypoint convention, as plain data).

    ``keypoints[i]`` is instance i's ``(K, 3)`` rows x, y, score in image pixels; ``boxes`` is
    ``(N, 4)`` xyxy; ``names`` and ``edges`` come from the stream's LabelInfo.
    """

    keypoints: List[np.ndarray]
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: List[str] = field(default_factory=list)
    names: Sequence[str] = ()
    edges: Sequence[Edge] = ()
    #: BGR drawing colour (None: by the stream's position, see :func:`stream_color`).
    color: Optional[Tuple[int, int, int]] = None

    def __len__(self) -> int:
        return len(self.keypoints)


def stream_color(index: int) -> Tuple[int, int, int]:
    return STREAM_COLORS[index % len(STREAM_COLORS)]


def draw_results(image: np.ndarray, detections: Optional[Detections] = None,
                 keypoint_sets: Optional[Mapping[str, KeypointSet]] = None,
                 keypoint_threshold: float = 0.3,
                 masks: Optional[Mapping[str, np.ndarray]] = None) -> np.ndarray:
    """
    Draw masks, detections, then each keypoint stream (its own colour), in place.

    A labelled keypoint instance (a hand's handedness, a detected face) gets its box and label;
    ``masks`` are ``(H, W)`` uint8 (0-255) overlays, e.g. the selfie segmenter's person mask.
    Returns ``image``.
    """
    for _, mask in sorted((masks or {}).items()):
        draw_mask(image, mask)
    if detections is not None and len(detections):
        draw_detections(image, detections)
    for index, (_, kset) in enumerate(sorted((keypoint_sets or {}).items())):
        color = kset.color or stream_color(index)
        for i, points in enumerate(kset.keypoints):
            draw_keypoints(image, points, kset.edges, keypoint_threshold, color=color)
            label = kset.labels[i] if i < len(kset.labels) else ''
            if label and i < len(kset.boxes):
                x1, y1, x2, y2 = (int(v) for v in kset.boxes[i][:4])
                cv2.rectangle(image, (x1, y1), (x2, y2), color, 1, cv2.LINE_AA)
                cv2.putText(image, label, (x1, max(y1 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                            color, 1, cv2.LINE_AA)
    return image


# -- markers --------------------------------------------------------------------------------
@dataclass
class MarkerData:
    """
    One rviz marker as plain data (the node maps ``kind`` to the Marker type).

    ``points`` are ``(N, 3)`` metres in the camera optical frame; ``colors`` (optional) are
    ``(N, 4)`` RGBA in 0..1, one per point; ``scale`` is the line width, point size or text
    height in metres; a ``text`` marker sits at ``points[0]``.
    """

    namespace: str
    marker_id: int
    kind: str  # 'line_list', 'line_strip', 'points' or 'text'
    points: np.ndarray
    color: RGBA = (1.0, 1.0, 1.0, 1.0)
    scale: float = 0.005
    colors: Optional[np.ndarray] = None
    text: str = ''


@dataclass(frozen=True)
class ImagePlane:
    """Pixels -> points on the plane ``z = depth`` of the camera optical frame."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    depth: float = 1.0

    @classmethod
    def for_camera(cls, width: int, height: int, calibration: Optional[CameraCalibration] = None,
                   depth: float = 1.0, hfov_deg: float = 60.0) -> 'ImagePlane':
        """Use the calibration's K when it is for this size, else a ``hfov_deg`` pinhole."""
        if calibration is not None and calibration.calibrated \
                and (calibration.width, calibration.height) == (width, height):
            fx, fy, cx, cy = calibration.intrinsics  # type: ignore[misc]
            return cls(width, height, fx, fy, cx, cy, depth)
        focal = width / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))
        return cls(width, height, focal, focal, width / 2.0, height / 2.0, depth)

    @property
    def metres_per_pixel(self) -> float:
        return self.depth / self.fx

    def to_3d(self, pixels: np.ndarray) -> np.ndarray:
        """``(N, 2)`` pixel x, y -> ``(N, 3)`` metres (pixel centres: +0.5 is not applied)."""
        uv = np.asarray(pixels, np.float64).reshape(-1, 2)
        out = np.empty((uv.shape[0], 3), np.float64)
        out[:, 0] = (uv[:, 0] - self.cx) / self.fx * self.depth
        out[:, 1] = (uv[:, 1] - self.cy) / self.fy * self.depth
        out[:, 2] = self.depth
        return out


def _rgba(bgr: Tuple[int, int, int], alpha: float = 1.0) -> RGBA:
    return bgr[2] / 255.0, bgr[1] / 255.0, bgr[0] / 255.0, alpha


def box_segments(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` xyxy boxes -> ``(8N, 2)`` pixel endpoints of their edges (a LINE_LIST)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    corners = [(x1, y1), (x2, y1), (x2, y1), (x2, y2), (x2, y2), (x1, y2), (x1, y2), (x1, y1)]
    return np.stack([np.stack(c, axis=1) for c in corners], axis=1).reshape(-1, 2)


def frame_markers(plane: ImagePlane, detections: Optional[Detections] = None,
                  keypoint_sets: Optional[Mapping[str, KeypointSet]] = None,
                  keypoint_threshold: float = 0.3, line_width_px: float = 2.0,
                  text_height_px: float = 16.0, outline: bool = True) -> List[MarkerData]:
    """
    Marker geometry of one frame's results on ``plane`` (see the module docstring).

    Namespaces: ``image_plane`` (the image outline), ``detections`` (box edges, one colour per
    class) and ``detections/labels`` (``label score`` texts), and per keypoint stream
    ``<stream>/skeleton`` (edges between keypoints above the threshold) and
    ``<stream>/points``.
    """
    mpp = plane.metres_per_pixel
    line_width = line_width_px * mpp
    markers: List[MarkerData] = []
    if outline:
        corners = np.array([[0, 0], [plane.width, 0], [plane.width, plane.height],
                            [0, plane.height], [0, 0]], np.float64)
        markers.append(MarkerData('image_plane', 0, 'line_strip', plane.to_3d(corners),
                                  (0.6, 0.6, 0.6, 0.8), line_width))
    if detections is not None and len(detections):
        colors = np.array([_rgba(class_color(int(c))) for c in detections.class_ids])
        markers.append(MarkerData('detections', 0, 'line_list',
                                  plane.to_3d(box_segments(detections.boxes)),
                                  scale=line_width, colors=np.repeat(colors, 8, axis=0)))
        for i, det in enumerate(detections):
            anchor = plane.to_3d(np.array([[det.bbox[0], det.bbox[1] - text_height_px]]))
            markers.append(MarkerData('detections/labels', i, 'text', anchor,
                                      _rgba(class_color(det.class_id)), text_height_px * mpp,
                                      text='%s %.2f' % (det.label, det.score)))
    for index, (name, kset) in enumerate(sorted((keypoint_sets or {}).items())):
        color = _rgba(kset.color or stream_color(index))
        segments: List[np.ndarray] = []
        visible_points: List[np.ndarray] = []
        for points in kset.keypoints:
            points = np.asarray(points, np.float64)
            if points.size == 0:
                continue
            scores = points[:, -1] if points.shape[1] >= 3 else np.ones(len(points))
            visible = scores >= keypoint_threshold
            visible_points.append(points[visible, :2])
            for a, b in kset.edges:
                if a < len(points) and b < len(points) and visible[a] and visible[b]:
                    segments.append(points[[a, b], :2])
        if segments:
            markers.append(MarkerData(name + '/skeleton', 0, 'line_list',
                                      plane.to_3d(np.concatenate(segments)), color,
                                      line_width * 0.75))
        if visible_points and sum(len(p) for p in visible_points):
            markers.append(MarkerData(name + '/points', 0, 'points',
                                      plane.to_3d(np.concatenate(visible_points)), color,
                                      3.0 * line_width))
    return markers
