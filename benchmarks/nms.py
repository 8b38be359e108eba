#!/usr/bin/env python3
"""
Class-aware NMS: time and kept boxes of ``batched_nms`` against an exact per-class reference.

The candidates are YOLOv5n's on bus.jpg (ONNX Runtime on the CPU), at the detector's default
(conf 0.25, IoU 0.45) and at the mAP setting (conf 0.001, IoU 0.6, multi-label). Three methods
run alternately in one loop: the exact reference (greedy NMS class by class, float64 IoU),
``detection.nms.batched_nms`` (OpenCV's ``NMSBoxesBatched``) and the numpy implementation it
replaced (one greedy pass with float32 boxes shifted by ``class_id * 7680``).

Usage: python benchmarks/nms.py [--repeat 30]
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import sys
import time

import cv2
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import cpu_model  # noqa: E402,I100,I202  (the script's own folder)

from jetauto_perception.detection.nms import batched_nms  # noqa: E402
from jetauto_perception.detection.yolov5 import yolov5_candidates, YoloV5Detector  # noqa: E402
from jetauto_perception.models.manifest import resolve_model  # noqa: E402

SHARED = pathlib.Path(os.environ.get('JETAUTO_SHARED_DIR', str(REPO.parent / 'shared')))


def _greedy(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list:
    """Greedy NMS of one group, ties by lower index; IoU in the boxes' dtype."""
    order = np.argsort(-scores, kind='stable')
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        areas = np.prod(boxes[rest, 2:] - boxes[rest, :2], axis=1)
        area = np.prod(boxes[best, 2:] - boxes[best, :2])
        order = rest[inter / (area + areas - inter) <= iou_threshold]
    return keep


def exact_reference(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                    iou_threshold: float) -> np.ndarray:
    """Exact per-class NMS: each class alone, float64 IoU; kept indices by score."""
    boxes64 = boxes.astype(np.float64)
    keep = []
    for cls in np.unique(class_ids):
        idx = np.nonzero(class_ids == cls)[0]
        keep += [idx[i] for i in _greedy(boxes64[idx], scores[idx], iou_threshold)]
    keep = np.asarray(keep, dtype=np.int64)
    return keep[np.lexsort((keep, -scores[keep]))]


def float32_offsets(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                    iou_threshold: float) -> np.ndarray:
    """Return the replaced numpy NMS: one pass over float32 boxes shifted by class_id * 7680."""
    shifted = boxes.astype(np.float32) + (class_ids.astype(np.float32) * 7680.0)[:, None]
    return np.asarray(_greedy(shifted, scores, iou_threshold), dtype=np.int64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--repeat', type=int, default=30)
    args = parser.parse_args()
    detector = YoloV5Detector.from_model(resolve_model('yolov5n.onnx'))
    image = cv2.imread(str(SHARED / 'data' / 'images' / 'bus.jpg'))
    blob, _ = detector.preprocess(image)
    output = detector.engine.infer_single(blob)[0][0]
    methods = [('exact per-class reference (numpy, float64)', exact_reference),
               ('`batched_nms` (cv2.dnn.NMSBoxesBatched)', batched_nms),
               ('replaced: numpy, float32 class offsets', float32_offsets)]
    print('## Class-aware NMS (benchmarks/nms.py)\n')
    print('Machine: %s, %d cores, Python %s, OpenCV %s, numpy %s; %s. YOLOv5n candidates on '
          'bus.jpg; medians of %d alternating runs.\n'
          % (cpu_model(), os.cpu_count() or 0, platform.python_version(), cv2.__version__,
             np.__version__, datetime.date.today().isoformat(), args.repeat))
    print('| setting | candidates | method | median ms | kept | same boxes as the reference |')
    print('|---|---:|---|---:|---:|---|')
    for conf, iou, multi in ((0.25, 0.45, False), (0.001, 0.6, True)):
        boxes, scores, class_ids = yolov5_candidates(output, conf, multi)
        times = {name: [] for name, _ in methods}
        kept = {}
        for _ in range(args.repeat):
            for name, method in methods:
                start = time.perf_counter()
                kept[name] = method(boxes, scores, class_ids, iou)
                times[name].append(time.perf_counter() - start)
        reference = kept[methods[0][0]]
        setting = 'conf %g, IoU %g%s' % (conf, iou, ', multi-label' if multi else '')
        for name, _ in methods:
            same = kept[name].tolist() == reference.tolist()
            missing = len(set(reference.tolist()) - set(kept[name].tolist()))
            print('| %s | %d | %s | %.3f | %d | %s |'
                  % (setting, len(boxes), name, statistics.median(times[name]) * 1e3,
                     len(kept[name]), 'yes' if same else 'no (%d missing)' % missing))
    return 0


if __name__ == '__main__':
    sys.exit(main())
