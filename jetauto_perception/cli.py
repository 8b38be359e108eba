"""``jetauto-perception`` command line: ROS-free entry points to every pipeline."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from .errors import PerceptionError

#: Sub-command modules under ``jetauto_perception.commands`` (imported lazily, so a missing
#: optional dependency of one command never breaks the others).
COMMANDS = [
    ('detect', 'detect objects with YOLOv5 in an image, a folder or a video -> JSONL'),
    ('models', 'list, locate and download the models the package uses'),
    ('keypoints', 'COCO-17 human keypoints of the people in images (top-down heatmaps) -> JSONL'),
    ('build-engine', 'build a TensorRT engine (fp32, fp16, int8 from a Q/DQ model) from ONNX'),
    ('quantize', 'float ONNX -> INT8 Q/DQ ONNX (calibrated, with an FP32-vs-INT8 report)'),
    ('eval', 'COCO mAP of a YOLOv5 model or engine on YOLO-labelled images (any backend)'),
    ('landmarks', 'MediaPipe face mesh, hands, pose, face detection or selfie mask -> JSONL'),
    ('track', 'track objects across a video or image folder -> MOTChallenge text (+ MOTA, IDF1)'),
    ('localize', 'detections and keypoints in 3D from a colour + registered depth image -> JSONL'),
    ('demo', 'the whole pipeline on a video, camera or stream -> annotated MP4 + JSONL'),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='jetauto-perception',
        description='JetAuto perception pipelines without ROS (the ROS nodes use the same core).')
    parser.add_argument('-v', '--verbose', action='store_true', help='debug logging')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    for name, help_text in COMMANDS:
        module = importlib.import_module('.commands.' + name.replace('-', '_'), __package__)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format='%(levelname)s %(name)s: %(message)s')
    try:
        return int(args.run(args) or 0)
    except PerceptionError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
