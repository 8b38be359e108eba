"""Drawing of results onto BGR images (annotated topics, the CLI's --save-dir, the demo)."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..detection.detections import Detections

Color = Tuple[int, int, int]


def class_color(class_id: int) -> Color:
    """Pick a stable, well-spread colour per class id (golden-ratio hue steps)."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 200, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw_detections(image: np.ndarray, detections: Detections, thickness: int = 2) -> np.ndarray:
    """Draw boxes with ``label score`` captions in place; returns ``image``."""
    scale = max(0.4, min(image.shape[:2]) / 900.0)
    for det in detections:
        color = class_color(det.class_id)
        x1, y1, x2, y2 = (int(round(v)) for v in det.bbox)
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        caption = '%s %.2f' % (det.label, det.score)
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y1 - th - base - 2, 0)
        cv2.rectangle(image, (x1, top), (x1 + tw + 2, top + th + base + 2), color, -1)
        cv2.putText(image, caption, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return image


#: Above this many keypoints an instance is drawn the dense way (lines and pixels).
DENSE_KEYPOINTS = 100


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray,
                   edges: Sequence[Tuple[int, int]] = (), score_threshold: float = 0.0,
                   color: Optional[Color] = None, radius: int = 3) -> np.ndarray:
    """
    Draw one instance's ``(K, 2+)`` keypoints (x, y[, ..., score]) and its skeleton in place.

    A keypoint whose score (last column, when there are 3+ columns) is below ``score_threshold``
    and the edges touching it are skipped. Dense sets (a 478-point face mesh) are drawn as thin
    polylines and single pixels in one pass each, which stays readable and fast.
    """
    points = np.asarray(keypoints, dtype=np.float32)
    if points.size == 0:
        return image
    scores = points[:, -1] if points.shape[1] >= 3 else np.ones(len(points), np.float32)
    visible = scores >= score_threshold
    if len(points) > DENSE_KEYPOINTS:
        _draw_dense(image, points, edges, visible, color or (0, 255, 255))
        return image
    line_color = color or (0, 255, 255)
    for a, b in edges:
        if a < len(points) and b < len(points) and visible[a] and visible[b]:
            cv2.line(image, (int(points[a, 0]), int(points[a, 1])),
                     (int(points[b, 0]), int(points[b, 1])), line_color, 2, cv2.LINE_AA)
    for k, point in enumerate(points):
        if visible[k]:
            cv2.circle(image, (int(point[0]), int(point[1])), radius, color or (0, 0, 255), -1,
                       cv2.LINE_AA)
    return image


def _draw_dense(image: np.ndarray, points: np.ndarray, edges: Sequence[Tuple[int, int]],
                visible: np.ndarray, color: Color) -> None:
    xy = np.round(points[:, :2]).astype(np.int32)
    lines = [np.stack([xy[a], xy[b]]) for a, b in edges
             if a < len(xy) and b < len(xy) and visible[a] and visible[b]]
    if lines:
        cv2.polylines(image, lines, False, color, 1, cv2.LINE_AA)
    height, width = image.shape[:2]
    inside = (visible & (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0)
              & (xy[:, 1] < height))
    image[xy[inside, 1], xy[inside, 0]] = color


def draw_mask(image: np.ndarray, mask: np.ndarray, color: Color = (255, 0, 255),
              alpha: float = 0.45) -> np.ndarray:
    """Tint ``image`` in place by a ``(H, W)`` uint8 mask (0-255, e.g. a person mask)."""
    if mask.shape != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]),
                          interpolation=cv2.INTER_LINEAR)
    weight = mask.astype(np.float32)[..., None] * (alpha / 255.0)
    image[:] = (image * (1.0 - weight) + np.float32(color) * weight + 0.5).astype(np.uint8)
    return image
