"""
``jetauto-perception eval``: COCO mAP of a YOLOv5 model or engine on YOLO-labelled images.

Runs the detector exactly as the nodes do (any backend, precision and device), then scores it
with pycocotools (``evaluation.detection_map``): mAP@0.5:0.95 and mAP@0.5. Use it to check
that an FP16 or INT8 engine kept the accuracy of the ONNX model.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from .common import add_engine_arguments, engine_config_from, progress_bar
from ..detection.cuda_yolo import create_yolov5_detector, CudaYoloV5Detector
from ..detection.yolov5 import load_class_names
from ..engines.factory import create_engine
from ..errors import SourceError
from ..evaluation.detection_map import evaluate_detector
from ..models.manifest import resolve_model
from ..sources.files import list_images
from ..timing import StageStats

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', default='yolov5n.onnx',
                        help='ONNX model / TensorRT engine path or manifest name '
                             '(default: yolov5n.onnx)')
    parser.add_argument('--images', required=True, help='folder of images')
    parser.add_argument('--labels', required=True,
                        help='folder of YOLO txt labels (class cx cy w h, normalised), one per '
                             'image; an image without one has no objects')
    parser.add_argument('--conf', type=float, default=0.001,
                        help='score threshold (default: 0.001, as for mAP)')
    parser.add_argument('--iou', type=float, default=0.6, help='NMS IoU threshold (0.6)')
    parser.add_argument('--max-det', type=int, default=300, help='boxes per image (300)')
    parser.add_argument('--multi-label', action='store_true',
                        help='several classes per box (YOLOv5 val.py does; +~0.5 mAP points)')
    parser.add_argument('--names', default='',
                        help='class names file (.txt / .yaml); default: from the model')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto',
                        help="pre-/post-processing device, as the nodes' parameter (default: "
                             'auto = cuda where pycuda and a GPU are, else cpu)')
    parser.add_argument('--max-images', type=int, default=0,
                        help='evaluate the first N images only (default: all)')
    parser.add_argument('--output', default='', help='also write the result as JSON here')
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    for flag, folder in (('--images', args.images), ('--labels', args.labels)):
        if not os.path.isdir(folder):
            raise SourceError("%s folder not found: '%s'" % (flag, folder))
    paths = list_images(args.images)
    if args.max_images > 0:
        paths = paths[:args.max_images]
    if not paths:
        raise SourceError("no images in '%s'" % args.images)
    model = resolve_model(args.model)
    config = engine_config_from(args)
    names = load_class_names(args.names) if args.names else None
    detector = create_yolov5_detector(
        create_engine(model, config), args.device, class_names=names,
        conf_threshold=args.conf, iou_threshold=args.iou, max_det=args.max_det,
        multi_label=args.multi_label)
    stats = StageStats()
    progress = progress_bar('eval', len(paths))
    try:
        result = evaluate_detector(detector, paths, args.labels, stats, progress.update)
    finally:
        progress.close()
        detector.close()
    means = stats.means()
    device = 'cuda' if isinstance(detector, CudaYoloV5Detector) else 'cpu'
    # ONNX Runtime runs the model in the precision it was exported in
    precision = config.precision if config.backend == 'tensorrt' else 'as exported'
    if config.backend == 'tensorrt' and not model.lower().endswith('.onnx'):
        precision = 'as built'
    backend = '%s (%s)' % (config.backend, precision)
    print(result.summary.rstrip())
    print('mAP50-95 %.4f  mAP50 %.4f  (%d images, %d labelled boxes, %d detections; %s, %s, '
          'device %s; mean pre %.1f ms, infer %.1f ms, post %.1f ms)'
          % (result.map50_95, result.map50, result.images, result.ground_truth_boxes,
             result.detections, os.path.basename(model), backend, device,
             means.get('pre', 0.0), means.get('infer', 0.0), means.get('post', 0.0)))
    if args.output:
        record = {'model': model, 'backend': config.backend, 'precision': precision,
                  'device': device, 'conf': args.conf, 'iou': args.iou,
                  'multi_label': args.multi_label, 'map50_95': result.map50_95,
                  'map50': result.map50, 'images': result.images,
                  'ground_truth_boxes': result.ground_truth_boxes,
                  'detections': result.detections, 'mean_ms': means}
        with open(args.output, 'w') as f:
            json.dump(record, f, indent=2)
            f.write('\n')
    sys.stdout.flush()
    return 0
