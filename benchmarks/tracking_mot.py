#!/usr/bin/env python3
"""
Tracking on TUD-Campus: the package's tracker against a greedy IoU tracker, same detections.

YOLOv5n (640 input, person boxes, score >= 0.2) runs once per frame; the ByteTrack-style tracker
(with and without its appearance term) and a greedy IoU tracker (each track takes the free box
of highest IoU >= 0.3 in score order, boxes >= 0.5 start tracks, a track unseen for 1 s ends)
see the same boxes; MOTA, IDF1, ID switches and MT/ML come from py-motmetrics. Tracker times
per frame (appearance histograms + association; the detector not counted) are measured in the
same loop, so they share the machine load.

Usage: python benchmarks/tracking_mot.py [--min-height 50] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time
from typing import Dict, List

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import cpu_model  # noqa: E402,I100,I202  (the script's own folder)

from jetauto_perception.detection.yolov5 import YoloV5Detector  # noqa: E402
from jetauto_perception.evaluation.mot_metrics import evaluate_mot  # noqa: E402
from jetauto_perception.models.manifest import resolve_model  # noqa: E402
from jetauto_perception.sources.files import iterate_frames  # noqa: E402
from jetauto_perception.tracking.appearance import color_histograms  # noqa: E402
from jetauto_perception.tracking.byte_tracker import (ByteTracker, iou_matrix,  # noqa: E402
                                                      TrackerConfig)
from jetauto_perception.tracking.mot_format import read_mot  # noqa: E402

SHARED = pathlib.Path(os.environ.get('JETAUTO_SHARED_DIR', str(REPO.parent / 'shared')))


class GreedyIoUTracker:
    """The baseline: greedy IoU matching of boxes to last-seen track boxes, no motion model."""

    def __init__(self, min_iou: float = 0.3, new_track: float = 0.5, timeout: float = 1.0,
                 min_height: float = 0.0) -> None:
        self.min_iou, self.new_track, self.timeout = min_iou, new_track, timeout
        self.min_height = min_height
        self.tracks: List[list] = []  # [id, box, last_seen]
        self.next_id = 1

    def update(self, boxes: np.ndarray, scores: np.ndarray, stamp: float) -> np.ndarray:
        ids = np.full(len(boxes), -1, np.int64)
        self.tracks = [t for t in self.tracks if stamp - t[2] <= self.timeout]
        free = set(range(len(self.tracks)))
        for row in np.argsort(-scores):
            if boxes[row, 3] - boxes[row, 1] < self.min_height:
                continue
            candidates = sorted(free)
            if candidates:
                ious = iou_matrix(boxes[row:row + 1],
                                  np.array([self.tracks[c][1] for c in candidates]))[0]
                best = int(np.argmax(ious))
                if ious[best] >= self.min_iou:
                    track = self.tracks[candidates[best]]
                    track[1], track[2] = boxes[row], stamp
                    ids[row] = track[0]
                    free.discard(candidates[best])
                    continue
            if scores[row] >= self.new_track:
                self.tracks.append([self.next_id, boxes[row], stamp])
                ids[row] = self.next_id
                self.next_id += 1
        return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--min-height', type=float, default=50.0)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    sequence = SHARED / 'data' / 'mot' / 'TUD-Campus'
    ground_truth = read_mot(str(sequence / 'gt' / 'gt.txt'))
    detector = YoloV5Detector.from_model(resolve_model('yolov5n.onnx'), conf_threshold=0.2)
    detector.classes = {0}
    frames = []
    for frame in iterate_frames(str(sequence / 'img1')):
        found = detector.detect(frame.image)
        frames.append((frame.image, found.boxes.astype(np.float64),
                       found.scores.astype(np.float64), found.class_ids))
    fps = 25.0
    runs = {'ByteTrack-style + appearance (this package)': {},
            'ByteTrack-style, motion only': {'appearance_weight': 0.0},
            'greedy IoU': None}
    rows = []
    for name, overrides in runs.items():
        times: List[float] = []
        result: Dict[int, tuple] = {}
        for repeat in range(args.repeat):
            if overrides is None:
                tracker = GreedyIoUTracker(min_height=args.min_height)
            else:
                tracker = ByteTracker(TrackerConfig(min_box_height=args.min_height,
                                                    **overrides))
            for index, (image, boxes, scores, class_ids) in enumerate(frames):
                start = time.perf_counter()
                if overrides is None:
                    ids = tracker.update(boxes, scores, index / fps)
                else:
                    features = (color_histograms(image, boxes)
                                if tracker.config.appearance_weight > 0 else None)
                    ids = tracker.update(boxes, scores, class_ids, index / fps, features)
                times.append(time.perf_counter() - start)
                keep = ids >= 0
                xywh = boxes[keep].copy()
                xywh[:, 2:] -= xywh[:, :2]
                result[index + 1] = (ids[keep], xywh, scores[keep])
        metrics = evaluate_mot(ground_truth, result)
        rows.append('| %s | %.3f | %.3f | %d | %d | %d | %d | %d | %.3f |' % (
            name, metrics['MOTA'], metrics['IDF1'], metrics['IDsw'], metrics['MT'],
            metrics['ML'], metrics['FP'], metrics['FN'], 1e3 * statistics.median(times)))
    print('Machine: %s, %d cores, Python %s; TUD-Campus 71 frames, YOLOv5n 640 person boxes '
          '>= 0.2, min box height %g px, %d repeats'
          % (cpu_model(), os.cpu_count() or 0, platform.python_version(), args.min_height,
             args.repeat))
    print('| tracker | MOTA | IDF1 | ID switches | MT | ML | FP | FN | ms / frame (median) |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    print('\n'.join(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
