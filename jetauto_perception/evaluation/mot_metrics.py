"""
CLEAR-MOT and identity metrics of a tracking result against MOTChallenge ground truth.

py-motmetrics computes them (the reference implementation of MOTChallenge's 2D MOT 2015
evaluation). Its own IoU helper calls ``np.asfarray``, gone in numpy 2, so the distance matrix
(1 - IoU, no match below IoU 0.5, as MOTChallenge) is computed here and handed to its public
``MOTAccumulator.update``; numpy is left untouched.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..tracking.byte_tracker import iou_matrix
from ..tracking.mot_format import FrameRows

#: py-motmetrics metric names -> the names printed and returned.
METRICS = {'mota': 'MOTA', 'idf1': 'IDF1', 'num_switches': 'IDsw', 'mostly_tracked': 'MT',
           'mostly_lost': 'ML', 'motp': 'MOTP', 'num_false_positives': 'FP',
           'num_misses': 'FN', 'precision': 'precision', 'recall': 'recall',
           'num_unique_objects': 'GT'}


def _xyxy(boxes_xywh: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4).copy()
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def evaluate_mot(ground_truth: Dict[int, FrameRows], result: Dict[int, FrameRows],
                 min_iou: float = 0.5) -> Dict[str, float]:
    """MOTA, IDF1, ID switches, MT, ML, ... over every frame of ``ground_truth``."""
    import motmetrics

    accumulator = motmetrics.MOTAccumulator(auto_id=False)
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
    for frame in sorted(set(ground_truth) | set(result)):
        gt_ids, gt_boxes, _ = ground_truth.get(frame, empty)
        ids, boxes, _ = result.get(frame, empty)
        distances = 1.0 - iou_matrix(_xyxy(gt_boxes), _xyxy(boxes))
        distances[distances > 1.0 - min_iou] = np.nan
        accumulator.update(list(gt_ids), list(ids), distances, frameid=frame)
    host = motmetrics.metrics.create()
    summary = host.compute(accumulator, metrics=list(METRICS), name='result')
    return {METRICS[key]: float(summary[key].iloc[0]) for key in METRICS}
