"""
Rviz marker geometry of the 3D results (``detections_3d``, ``keypoints_3d``) as plain data.

Boxes are wireframes (12 edges, LINE_LIST) from each object's centre, size and orientation;
skeletons join keypoints that have a 3D point (score above the threshold) with COCO-17 edges.
Everything is in metres in the results' own frame.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple
import zlib

import numpy as np

from .draw import class_color
from .visualization import MarkerData
from ..keypoints.coco17 import COCO_SKELETON

#: Corner index pairs of a box's 12 edges (corners: bits x, y, z of the index).
BOX_EDGES = ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7),
             (0, 4), (1, 5), (2, 6), (3, 7))


def box_corners(centre: Sequence[float], size: Sequence[float],
                rotation: Optional[np.ndarray] = None) -> np.ndarray:
    """Return the 8 corners ``(8, 3)`` of a box (corner i: bit 0 = +x, 1 = +y, 2 = +z)."""
    signs = np.array([[(i >> 0) & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)]) - 0.5
    offsets = signs * np.asarray(size, np.float64)
    if rotation is not None:
        offsets = offsets @ np.asarray(rotation, np.float64).T
    return np.asarray(centre, np.float64) + offsets


def label_color(label: str) -> Tuple[float, float, float, float]:
    """Return a stable RGBA colour per class name."""
    b, g, r = class_color(zlib.crc32(label.encode()) % 1000)
    return r / 255.0, g / 255.0, b / 255.0, 1.0


def markers_3d(objects: Sequence[Tuple[str, float, str, np.ndarray, np.ndarray, np.ndarray]],
               people: Sequence[np.ndarray], keypoint_threshold: float = 0.3,
               line_width: float = 0.01, text_height: float = 0.08,
               skeleton: Sequence[Tuple[int, int]] = COCO_SKELETON) -> List[MarkerData]:
    """
    Markers of one frame's 3D results.

    ``objects``: (label, score, id, centre (3,), size (3,), rotation (3, 3)) per object;
    ``people``: (K, 4) x, y, z, score per person. Namespaces: ``detections_3d`` (box edges),
    ``detections_3d/labels`` (``label id z m`` above each box), ``keypoints_3d/skeleton`` and
    ``keypoints_3d/points``.
    """
    markers: List[MarkerData] = []
    segments, colors = [], []
    for index, (label, score, object_id, centre, size, rotation) in enumerate(objects):
        corners = box_corners(centre, size, rotation)
        color = label_color(label)
        segments.append(corners[np.array(BOX_EDGES).reshape(-1)])
        colors.append(np.tile(color, (2 * len(BOX_EDGES), 1)))
        top = np.asarray(centre, np.float64) - np.array([0.0, size[1] / 2 + text_height, 0.0])
        markers.append(MarkerData('detections_3d/labels', index, 'text', top[None], color,
                                  text_height, text='%s%s %.2f m' % (
                                      label, ' #' + object_id if object_id else '',
                                      float(np.linalg.norm(centre)))))
    if segments:
        markers.insert(0, MarkerData('detections_3d', 0, 'line_list', np.concatenate(segments),
                                     scale=line_width, colors=np.concatenate(colors)))
    bones, joints = [], []
    for points in people:
        points = np.asarray(points, np.float64).reshape(-1, 4)
        visible = points[:, 3] >= max(keypoint_threshold, 1e-9)
        joints.append(points[visible, :3])
        for a, b in skeleton:
            if a < len(points) and b < len(points) and visible[a] and visible[b]:
                bones.append(points[[a, b], :3])
    if bones:
        markers.append(MarkerData('keypoints_3d/skeleton', 0, 'line_list',
                                  np.concatenate(bones), (0.1, 0.9, 0.3, 1.0), line_width))
    if joints and sum(len(j) for j in joints):
        markers.append(MarkerData('keypoints_3d/points', 0, 'points', np.concatenate(joints),
                                  (1.0, 0.8, 0.1, 1.0), 2.5 * line_width))
    return markers
