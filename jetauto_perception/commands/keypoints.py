"""
``jetauto-perception keypoints``: top-down COCO-17 keypoints of the people in images → JSONL.

Person boxes come from a COCO keypoints file (``--boxes``, ground truth), from the YOLOv5
detector (``--detector-model``), or are the whole image. One JSON object per image:
``{"image": name, "instances": [{"bbox": [x1, y1, x2, y2], "score": s,
"keypoints": [[x, y, score] x 17]}]}`` in source pixels. With ``--boxes`` the results are also
scored against that ground truth (or the one of ``--ground-truth``): mean OKS of its labelled
people and COCO keypoint AP.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Optional

import cv2
import numpy as np

from .common import add_engine_arguments, engine_config_from, ensure_dir, progress_bar
from .jsonl import JsonlWriter
from ..drawing.draw import draw_keypoints
from ..errors import PerceptionError, SourceError
from ..evaluation.keypoint_oks import (CocoKeypointSet, keypoint_average_precision,
                                       load_coco_keypoints, matched_oks)
from ..keypoints.crop import frame_box
from ..keypoints.estimator import KeypointConfig, KeypointEstimator
from ..models.manifest import resolve_model
from ..sources.files import is_video, iterate_frames, list_images
from ..timing import StageStats

DEFAULT_MODEL = 'simplepose_mbv2_256x192.onnx'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help='heatmap pose model: ONNX / engine path or manifest name '
                             '(default: %s)' % DEFAULT_MODEL)
    parser.add_argument('--source', required=True, help='an image or a folder of images')
    boxes = parser.add_mutually_exclusive_group()
    boxes.add_argument('--boxes', default='',
                       help='COCO person-keypoints json: its labelled people (not crowd, '
                            'num_keypoints > 0) are the boxes, and the ground truth to score')
    boxes.add_argument('--detector-model', default='',
                       help='YOLOv5 model whose person detections are the boxes (default: no '
                            'detector, the whole image is one person)')
    parser.add_argument('--ground-truth', default='',
                        help='COCO person-keypoints json to score the results against (mean '
                             'OKS, keypoint AP); --boxes implies its own file')
    parser.add_argument('--detector-conf', type=float, default=0.25,
                        help='detector score threshold (0.25)')
    parser.add_argument('--output', default='-', help='JSONL output file (default: stdout)')
    parser.add_argument('--flip-test', action='store_true',
                        help='also run the mirrored crops and average the heatmaps')
    parser.add_argument('--dark', action='store_true',
                        help='DARK sub-pixel decoding instead of the quarter offset')
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'),
                        help='where crop and decode run: auto = CUDA when pycuda and a GPU '
                             'are present (default: auto)')
    parser.add_argument('--max-persons', type=int, default=0,
                        help='at most this many boxes per image, best first (0: all)')
    parser.add_argument('--score-threshold', type=float, default=0.0,
                        help='drop people whose score (mean keypoint peak) is below this')
    parser.add_argument('--save-dir', default='', help='write images with the skeletons here')
    add_engine_arguments(parser)


def _ground_truth_boxes(dataset: CocoKeypointSet, name: str) -> np.ndarray:
    if name not in dataset.images.values():
        print("warning: image '%s' is not in %s: no boxes" % (name, dataset.path),
              file=sys.stderr)
        return np.zeros((0, 4), np.float32)
    people = dataset.labelled_people(dataset.image_id(name))
    return np.asarray([p.bbox_xyxy for p in people], np.float64).reshape(-1, 4)


def run(args: argparse.Namespace) -> int:
    if os.path.isfile(args.source) and is_video(args.source):
        raise SourceError("keypoints takes an image or a folder of images, not a video: '%s'"
                          % args.source)
    engine_config = engine_config_from(args)
    config = KeypointConfig(decode='dark' if args.dark else 'quarter', flip_test=args.flip_test,
                            device=args.device)
    dataset = load_coco_keypoints(args.boxes) if args.boxes else None
    truth = dataset
    if args.ground_truth:
        truth = load_coco_keypoints(args.ground_truth)
    detector = None
    if args.detector_model:
        from ..detection.yolov5 import resolve_class_filter, YoloV5Detector
        detector = YoloV5Detector.from_model(resolve_model(args.detector_model), engine_config,
                                             conf_threshold=args.detector_conf)
        try:
            detector.classes = resolve_class_filter(['person'], detector.class_names)
        except ValueError as exc:
            raise PerceptionError('the detector has no person class (%s)' % exc) from None
    estimator = KeypointEstimator.from_model(resolve_model(args.model), engine_config, config)
    save_dir = ensure_dir(args.save_dir)
    progress = progress_bar('keypoints',
                            len(list_images(args.source)) if os.path.isdir(args.source) else 0)
    stats = StageStats()
    records: List[Dict[str, object]] = []
    oks: List[float] = []
    try:
        with JsonlWriter(args.output) as out:
            for frame in iterate_frames(args.source):
                scores: Optional[np.ndarray] = None
                if dataset is not None:
                    boxes = _ground_truth_boxes(dataset, frame.name)
                elif detector is not None:
                    detections = detector.detect(frame.image)
                    boxes, scores = detections.boxes, detections.scores
                else:
                    boxes = frame_box(frame.image.shape[1], frame.image.shape[0])
                if 0 < args.max_persons < len(boxes):
                    order = np.arange(len(boxes)) if scores is None else np.argsort(-scores)
                    boxes = boxes[order[:args.max_persons]]
                result = estimator.estimate(frame.image, boxes)
                result = result.select(result.scores >= args.score_threshold)
                stats.add(estimator.timings)
                record = {'image': frame.name, 'instances': result.to_json()}
                records.append(record)
                out.write(record)
                if truth is not None and frame.name in truth.images.values():
                    oks += matched_oks(truth, truth.image_id(frame.name), result.keypoints)
                if save_dir:
                    canvas = frame.image.copy()
                    for points in result.keypoints:
                        draw_keypoints(canvas, points, result.skeleton, score_threshold=0.2)
                    cv2.imwrite(os.path.join(save_dir, frame.name), canvas)
                progress.update()
    finally:
        progress.close()
        estimator.close()
        if detector is not None:
            detector.close()
    means = stats.means()
    people = sum(len(r['instances']) for r in records)  # type: ignore[arg-type]
    print('keypoints: %d images, %d people; device %s; mean pre %.2f ms, infer %.2f ms, '
          'post %.2f ms' % (len(records), people, estimator.device, means.get('pre', 0),
                            means.get('infer', 0), means.get('post', 0)), file=sys.stderr)
    if truth is not None and oks:
        line = ('ground truth: %d labelled people, mean OKS %.4f (best match of each)'
                % (len(oks), float(np.mean(oks))))
        try:
            ap = keypoint_average_precision(truth, [r for r in records
                                                    if r['image'] in truth.images.values()])
            line += ', keypoint AP %.4f (AP50 %.4f, AP75 %.4f)' % (
                ap['AP'], ap['AP50'], ap['AP75'])
        except ImportError:
            line += ' (pip install pycocotools for the keypoint AP)'
        print(line, file=sys.stderr)
    return 0
