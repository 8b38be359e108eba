"""
``jetauto-perception landmarks``: MediaPipe face mesh / hands / pose -> JSONL.

One JSON object per image or video frame: ``{"image": name, "instances": [{"bbox": [x1, y1, x2,
y2], "score": s, "label": "face" | "Left" | "Right" | "person", "keypoints": [[x, y, z, score],
...]}]}`` in source pixels (z is MediaPipe's relative depth). Images run in MediaPipe's IMAGE mode;
videos in VIDEO mode (tracking) with the frame times as timestamps.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

import cv2

from .common import ensure_dir, Progress
from .jsonl import JsonlWriter
from ..errors import PerceptionError
from ..models.manifest import resolve_model
from ..sources.files import is_video, iterate_frames, list_images
from ..timing import StageStats

TASK_CHOICES = ('face', 'hands', 'pose')
#: Instances per image when --max-instances is not given (MediaPipe's 1, but both hands).
DEFAULT_COUNTS = {'face': 1, 'hands': 2, 'pose': 1}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--task', required=True, choices=TASK_CHOICES,
                        help='face (478-point face mesh), hands (21 joints + handedness) or '
                             'pose (33 body landmarks)')
    parser.add_argument('--model', default='',
                        help='.task bundle path or manifest name (default: face_landmarker.task'
                             ', hand_landmarker.task or pose_landmarker_full.task)')
    parser.add_argument('--source', required=True, help='image, folder of images, or video')
    parser.add_argument('--output', default='-', help='JSONL output file (default: stdout)')
    parser.add_argument('--max-instances', type=int, default=None,
                        help='faces / hands / bodies per image (default: 1, hands 2)')
    for name in ('detection', 'presence', 'tracking'):
        parser.add_argument('--min-%s-confidence' % name, type=float, default=0.5,
                            help='MediaPipe min_%s_confidence (0.5)' % name)
    parser.add_argument('--blendshapes', action='store_true',
                        help='faces: add the 52 blendshape scores to each instance')
    parser.add_argument('--face-edges', choices=('contours', 'tesselation', 'none'),
                        default='contours', help='faces: edges drawn with --save-dir')
    parser.add_argument('--max-frames', type=int, default=None, help='stop after N frames')
    parser.add_argument('--save-dir', default='', help='write annotated images here')


def video_fps(path: str) -> float:
    """Frames per second of a video file (30 where the container does not say)."""
    capture = cv2.VideoCapture(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()
    return fps if 0.0 < fps < 1000.0 else 30.0


def run(args: argparse.Namespace) -> int:
    # imported here: mediapipe loads for this command only
    from ..drawing.draw import class_color, draw_keypoints
    from ..landmarks.mediapipe_tasks import (DEFAULT_MODELS, landmark_edges, LandmarkerOptions,
                                             MediaPipeLandmarker)

    options = LandmarkerOptions(
        max_instances=args.max_instances or DEFAULT_COUNTS[args.task],
        min_detection_confidence=args.min_detection_confidence,
        min_presence_confidence=args.min_presence_confidence,
        min_tracking_confidence=args.min_tracking_confidence,
        output_face_blendshapes=args.blendshapes)
    try:
        options.check()
    except ValueError as exc:
        raise PerceptionError(str(exc)) from None
    model = resolve_model(args.model or DEFAULT_MODELS[args.task])
    video = is_video(args.source)
    frame_ms: Optional[float] = 1000.0 / video_fps(args.source) if video else None
    edges = landmark_edges(args.task, args.face_edges)
    save_dir = ensure_dir(args.save_dir)
    total = len(list_images(args.source)) if os.path.isdir(args.source) else 0
    progress = Progress('landmarks', total)
    stats = StageStats()
    instances = 0
    with MediaPipeLandmarker(args.task, model, options) as landmarker, \
            JsonlWriter(args.output) as out:
        for frame in iterate_frames(args.source, args.max_frames):
            stamp = int(round(frame.index * frame_ms)) if frame_ms is not None else None
            result = landmarker.detect(frame.image, stamp)
            stats.add(landmarker.timings)
            instances += len(result)
            out.write({'image': frame.name,
                       'instances': [inst.to_json() for inst in result]})
            if save_dir:
                canvas = frame.image.copy()
                for index, inst in enumerate(result):
                    draw_keypoints(canvas, inst.keypoints, edges, 0.5, class_color(index),
                                   radius=1 if args.task == 'face' else 3)
                name = ('%06d.jpg' % frame.index) if video else frame.name
                cv2.imwrite(os.path.join(save_dir, name), canvas)
            progress.update()
    progress.close()
    means = stats.means()
    mode = ('VIDEO mode, stamps every %.1f ms' % frame_ms) if frame_ms else 'IMAGE mode'
    print('landmarks (%s): %d frames, %d instances, %s; mean pre %.1f ms, infer %.1f ms, post '
          '%.1f ms%s' % (args.task, stats.count, instances, mode, means.get('pre', 0),
                         means.get('infer', 0), means.get('post', 0),
                         ('; annotated images in ' + save_dir) if save_dir else ''),
          file=sys.stderr)
    return 0
