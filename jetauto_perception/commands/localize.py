"""``jetauto-perception localize``: detections and keypoints in 3D from colour + aligned depth."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Tuple

import cv2
import numpy as np

from .common import add_engine_arguments, apply_class_filter, engine_config_from
from .jsonl import JsonlWriter
from ..detection.yolov5 import YoloV5Detector
from ..errors import PerceptionError, SourceError
from ..models.manifest import resolve_model
from ..sources.camera_info import load_calibration
from ..sources.files import list_images, read_image
from ..spatial.depth import check_same_size, depth_to_meters, Intrinsics
from ..spatial.localize import Localizer

LOG = logging.getLogger('jetauto_perception.localize')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--source', required=True, help='colour image, or a folder of them')
    parser.add_argument('--depth', required=True,
                        help='depth image registered to the colour (16-bit PNG/TIFF in mm, or '
                             'a float image in m; 0 = no depth), or a folder with matching names '
                             "(the same name, or 'color' -> 'depth' in it)")
    parser.add_argument('--camera-info', required=True,
                        help='calibration YAML of the colour camera (camera_calibration_parsers)')
    parser.add_argument('--output', default='-', help='JSONL output (default: stdout)')
    parser.add_argument('--model', default='yolov5n.onnx', help='detector (yolov5n.onnx)')
    parser.add_argument('--keypoint-model', default='simplepose_mbv2_256x192.onnx',
                        help="people's keypoint model; '' = no keypoints (box depth only)")
    parser.add_argument('--conf', type=float, default=0.25, help='detector threshold (0.25)')
    parser.add_argument('--classes', default='', help='comma-separated class names/ids to keep')
    add_engine_arguments(parser)


def depth_partner(color_path: str, depth_source: str) -> str:
    """Find the depth file of a colour file: ``depth_source``, or its match in that folder."""
    if not os.path.isdir(depth_source):
        return depth_source
    name = os.path.basename(color_path)
    for candidate in (name, name.replace('color', 'depth'), name.replace('rgb', 'depth')):
        path = os.path.join(depth_source, candidate)
        if candidate and os.path.isfile(path) and os.path.abspath(path) != \
                os.path.abspath(color_path):
            return path
    raise SourceError("no depth image for '%s' in '%s' (same name, or 'color' -> 'depth')"
                      % (name, depth_source))


def pairs(source: str, depth: str) -> List[Tuple[str, str]]:
    if os.path.isdir(source):
        colors = [p for p in list_images(source) if 'depth' not in os.path.basename(p)]
        if not colors:
            raise SourceError("no colour images in '%s'" % source)
        return [(c, depth_partner(c, depth)) for c in colors]
    if not os.path.isfile(source):
        raise SourceError("colour image not found: '%s'" % source)
    return [(source, depth_partner(source, depth))]


def read_depth(path: str) -> np.ndarray:
    """Read a depth file as float32 metres, NaN = no depth (uint16 = mm, float = m)."""
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise SourceError("cannot read depth image '%s'" % path)
    if raw.ndim != 2:
        raise SourceError("depth image '%s' has %d channels: give a single-channel 16-bit (mm) "
                          'or float (m) image' % (path, raw.shape[2]))
    if raw.dtype == np.uint16:
        return depth_to_meters(raw, '16UC1')
    if raw.dtype == np.float32:
        return depth_to_meters(raw, '32FC1')
    raise SourceError("depth image '%s' is %s: give 16-bit millimetres or float metres"
                      % (path, raw.dtype))


def run(args: argparse.Namespace) -> int:
    calibration = load_calibration(args.camera_info)
    if calibration.intrinsics is None:
        raise PerceptionError("'%s' is uncalibrated (no focal lengths)" % args.camera_info)
    engine_config = engine_config_from(args)
    detector = YoloV5Detector.from_model(resolve_model(args.model), engine_config,
                                         conf_threshold=args.conf)
    apply_class_filter(detector, args.classes)
    estimator = None
    if args.keypoint_model:
        from ..keypoints.estimator import KeypointEstimator
        estimator = KeypointEstimator.from_model(resolve_model(args.keypoint_model),
                                                 engine_config)
    localizer = Localizer()
    count = objects = 0
    try:
        with JsonlWriter(args.output) as out:
            for color_path, depth_path in pairs(args.source, args.depth):
                image = read_image(color_path)
                depth = read_depth(depth_path)
                intrinsics = Intrinsics(*calibration.intrinsics, width=calibration.width,
                                        height=calibration.height)
                check_same_size(depth.shape[:2], image.shape[:2], intrinsics)
                found = detector.detect(image)
                people: list = []
                if estimator is not None:
                    persons = found.with_label('person')
                    pose = estimator.estimate(image, persons.boxes)
                    people = [(b, s, k, '') for b, s, k in
                              zip(pose.boxes, pose.scores, pose.keypoints)]
                result = localizer.localize(depth, intrinsics,
                                            [(d.label, d.score, d.bbox, '') for d in found],
                                            people)
                for reason in result.skipped:
                    LOG.info('%s: %s', os.path.basename(color_path), reason)
                detections = [o.to_json() for o in result.objects]
                for record in detections:
                    del record['id']
                keypoints = [k.to_json() for k in result.keypoints]
                for record in keypoints:
                    del record['id']
                out.write({'image': os.path.basename(color_path), 'detections': detections,
                           'keypoints': keypoints})
                count += 1
                objects += len(detections)
    finally:
        detector.close()
        if estimator is not None:
            estimator.close()
    print('localize: %d images, %d objects in 3D (metres, camera optical frame)'
          % (count, objects), file=sys.stderr)
    return 0
