"""``jetauto-perception detect``: YOLOv5 over an image, a folder or a video -> JSONL."""
from __future__ import annotations

import argparse
import os
import sys

import cv2

from .common import (add_engine_arguments, apply_class_filter, engine_config_from, ensure_dir,
                     progress_bar)
from .jsonl import JsonlWriter
from ..detection.cuda_yolo import create_yolov5_detector
from ..detection.yolov5 import load_class_names
from ..drawing.draw import draw_detections
from ..engines.factory import create_engine
from ..models.manifest import resolve_model
from ..sources.files import is_video, iterate_frames, list_images
from ..timing import StageStats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', default='yolov5n.onnx',
                        help='ONNX model / TensorRT engine path or manifest name '
                             '(default: yolov5n.onnx)')
    parser.add_argument('--source', required=True, help='image, folder of images, or video')
    parser.add_argument('--output', default='-', help='JSONL output file (default: stdout)')
    parser.add_argument('--conf', type=float, default=0.25, help='score threshold (0.25)')
    parser.add_argument('--iou', type=float, default=0.45, help='NMS IoU threshold (0.45)')
    parser.add_argument('--max-det', type=int, default=300, help='boxes per image (300)')
    parser.add_argument('--multi-label', action='store_true',
                        help='several classes per box (use for mAP evaluation)')
    parser.add_argument('--classes', default='', help='comma-separated class names/ids to keep')
    parser.add_argument('--labels', default='', help='class names file (.txt / .yaml)')
    parser.add_argument('--max-frames', type=int, default=None, help='stop after N frames')
    parser.add_argument('--save-dir', default='', help='write annotated images here')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='cpu',
                        help='pre-processing/decoding on the CPU (default, the reference) or '
                             'the GPU (pycuda)')
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    model = resolve_model(args.model)
    config = engine_config_from(args)
    detector = create_yolov5_detector(
        create_engine(model, config), args.device, device_id=config.device_id,
        class_names=load_class_names(args.labels) if args.labels else None,
        conf_threshold=args.conf, iou_threshold=args.iou, max_det=args.max_det,
        multi_label=args.multi_label)
    apply_class_filter(detector, args.classes)
    save_dir = ensure_dir(args.save_dir)
    total = len(list_images(args.source)) if os.path.isdir(args.source) else 0
    progress = progress_bar('detect', total)
    stats = StageStats()
    with JsonlWriter(args.output) as out:
        for frame in iterate_frames(args.source, args.max_frames):
            detections = detector.detect(frame.image)
            stats.add(detector.timings)
            out.write({'image': frame.name, 'width': int(frame.image.shape[1]),
                       'height': int(frame.image.shape[0]),
                       'detections': [d.to_json() for d in detections]})
            if save_dir:
                name = ('%06d.jpg' % frame.index) if is_video(args.source) else frame.name
                cv2.imwrite(os.path.join(save_dir, name),
                            draw_detections(frame.image.copy(), detections))
            progress.update()
    progress.close()
    means = stats.means()
    print('detect: %d frames; mean pre %.1f ms, infer %.1f ms, post %.1f ms%s'
          % (stats.count, means.get('pre', 0), means.get('infer', 0), means.get('post', 0),
             ('; annotated images in ' + save_dir) if save_dir else ''),
          file=sys.stderr)
    return 0
