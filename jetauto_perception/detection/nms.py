"""Non-maximum suppression on numpy arrays (xyxy boxes)."""
from __future__ import annotations

import numpy as np


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Compute the IoU of one xyxy box against ``(N, 4)`` boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """
    Greedy NMS: indices of the kept boxes, highest score first.

    A box is dropped when its IoU with an already kept, higher-scoring box is above
    ``iou_threshold``. Ties in score keep the lower index first (stable sort).
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind='stable')
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                iou_threshold: float, class_offset: float = 7680.0) -> np.ndarray:
    """
    Class-aware NMS: boxes of different classes never suppress each other.

    Done in one pass by shifting each class's boxes by ``class_id * class_offset`` so boxes of
    different classes cannot overlap (``class_offset`` must exceed any coordinate).
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return np.zeros((0,), dtype=np.int64)
    shifted = boxes + (np.asarray(class_ids, dtype=np.float32) * class_offset)[:, None]
    return nms(shifted, scores, iou_threshold)
