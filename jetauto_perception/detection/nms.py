"""Class-aware non-maximum suppression of xyxy boxes, through OpenCV's ``NMSBoxesBatched``."""
from __future__ import annotations

import cv2
import numpy as np


def batched_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                iou_threshold: float) -> np.ndarray:
    """
    Greedy per-class NMS: indices of the kept boxes, highest score first.

    Boxes of different classes never suppress each other; within a class a box is dropped when
    its IoU with an already kept, higher-scoring box is above ``iou_threshold``. Equal scores
    keep the lower index first. OpenCV separates the classes by shifting each one by
    ``class_id * (max_coordinate + 1)``, which assumes coordinates >= 0, so the boxes are first
    moved by a whole number of pixels to start at 0 (IoU does not change; float32 coordinates
    stay exact in the float64 ``Rect2d`` that OpenCV uses).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return np.zeros((0,), dtype=np.int64)
    xywh = np.empty_like(boxes)
    xywh[:, :2] = boxes[:, :2] - np.floor(min(float(boxes.min()), 0.0))
    xywh[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    keep = cv2.dnn.NMSBoxesBatched(xywh, np.asarray(scores, dtype=np.float32).ravel(),
                                   np.asarray(class_ids, dtype=np.int32).ravel(),
                                   float('-inf'), float(iou_threshold))
    return np.asarray(keep, dtype=np.int64).reshape(-1)
