"""
``jetauto-perception landmarks``: MediaPipe face mesh, hands, pose, faces, selfie mask -> JSONL.

Keypoint tasks (``face``, ``hands``, ``pose``, ``face_detection``) write one JSON object per image
or video frame: ``{"image": name, "instances": [{"bbox": [x1, y1, x2, y2], "score": s, "label":
"face" | "Left" | "Right" | "person", "keypoints": [[x, y, z, score], ...]}]}`` in source pixels
(z is MediaPipe's relative depth, 0 for face detection). ``selfie_segmentation`` writes
``{"image", "width", "height", "person_fraction"}`` per image and, with ``--mask-dir``, the
masks as mono8 PNGs. Images run in MediaPipe's IMAGE mode; videos in VIDEO mode (tracking)
with the frame times as timestamps.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Dict, Optional, Tuple

import cv2
import numpy as np

from .common import ensure_dir, progress_bar
from .jsonl import JsonlWriter
from ..errors import PerceptionError
from ..models.manifest import resolve_model
from ..sources.files import is_video, iterate_frames, list_images
from ..timing import StageStats

LANDMARK_TASKS = ('face', 'hands', 'pose')
TASK_CHOICES = LANDMARK_TASKS + ('face_detection', 'selfie_segmentation')
#: Instances per image when --max-instances is not given (MediaPipe's 1, but both hands).
DEFAULT_COUNTS = {'face': 1, 'hands': 2, 'pose': 1}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--task', required=True, choices=TASK_CHOICES,
                        help='face (478-point face mesh), hands (21 joints + handedness), '
                             'pose (33 body landmarks), face_detection (box + 6 keypoints per '
                             'face) or selfie_segmentation (person mask)')
    parser.add_argument('--model', default='',
                        help='model path or manifest name (default: face_landmarker.task, '
                             'hand_landmarker.task, pose_landmarker_full.task, '
                             'blaze_face_short_range.tflite or selfie_segmenter.tflite)')
    parser.add_argument('--source', required=True, help='image, folder of images, or video')
    parser.add_argument('--output', default='-', help='JSONL output file (default: stdout)')
    parser.add_argument('--max-instances', type=int, default=None,
                        help='faces / hands / bodies per image (default: 1, hands 2)')
    for name in ('detection', 'presence', 'tracking'):
        parser.add_argument('--min-%s-confidence' % name, type=float, default=0.5,
                            help='MediaPipe min_%s_confidence (0.5)' % name)
    parser.add_argument('--min-suppression-threshold', type=float, default=0.3,
                        help='face_detection: IoU above which face boxes are merged (0.3)')
    parser.add_argument('--blendshapes', action='store_true',
                        help='faces: add the 52 blendshape scores to each instance')
    parser.add_argument('--face-edges', choices=('contours', 'tesselation', 'none'),
                        default='contours', help='faces: edges drawn with --save-dir')
    parser.add_argument('--threshold', type=float, default=0.0,
                        help='selfie_segmentation: 0 = masks are the person confidence as '
                             '0-255; above 0 = 255 where the confidence reaches it, else 0')
    parser.add_argument('--mask-dir', default='',
                        help='selfie_segmentation: write the masks here as <name>.png')
    parser.add_argument('--max-frames', type=int, default=None, help='stop after N frames')
    parser.add_argument('--save-dir', default='',
                        help='write annotated images here (selfie_segmentation: the background '
                             'blurred)')


def video_fps(path: str) -> float:
    """Frames per second of a video file (30 where the container does not say)."""
    capture = cv2.VideoCapture(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()
    return fps if 0.0 < fps < 1000.0 else 30.0


#: One task's per-frame steps: run (image, stamp) -> result, its JSON record fields, a drawing,
#: and the number of instances it counts.
Steps = Tuple[Callable[[np.ndarray, Optional[int]], Any], Callable[[Any], Dict[str, Any]],
              Callable[[np.ndarray, Any], np.ndarray], Callable[[Any], int]]


def keypoint_steps(runner: Any, edges: Any, radius: int) -> Steps:
    from ..drawing.draw import class_color, draw_keypoints

    def draw(canvas: np.ndarray, result: Any) -> np.ndarray:
        for index, inst in enumerate(result):
            draw_keypoints(canvas, inst.keypoints, edges, 0.5, class_color(index),
                           radius=radius)
        return canvas

    return (runner.detect, lambda result: {'instances': [inst.to_json() for inst in result]},
            draw, len)


def create_task(args: argparse.Namespace) -> Tuple[Any, Steps]:
    """Return the task's MediaPipe wrapper (a context manager) and its steps."""
    # imported here: mediapipe loads for this command only
    if args.task == 'face_detection':
        from ..landmarks import face_detection as fd
        detector = fd.MediaPipeFaceDetector(
            resolve_model(args.model or fd.DEFAULT_MODEL), fd.FaceDetectorOptions(
                args.min_detection_confidence, args.min_suppression_threshold))
        return detector, keypoint_steps(detector, fd.FACE_DETECTION_EDGES, 3)
    if args.task == 'selfie_segmentation':
        from ..landmarks import segmentation as sg
        segmenter = sg.MediaPipeSegmenter(resolve_model(args.model or sg.DEFAULT_MODEL))
        return segmenter, (
            segmenter.segment,
            lambda result: {'width': result.width, 'height': result.height,
                            'person_fraction': round(result.person_fraction, 4)},
            lambda canvas, result: sg.replace_background(canvas,
                                                         result.mask_u8(args.threshold)),
            lambda result: 0)
    from ..landmarks.mediapipe_tasks import (DEFAULT_MODELS, landmark_edges, LandmarkerOptions,
                                             MediaPipeLandmarker)
    options = LandmarkerOptions(
        max_instances=args.max_instances or DEFAULT_COUNTS[args.task],
        min_detection_confidence=args.min_detection_confidence,
        min_presence_confidence=args.min_presence_confidence,
        min_tracking_confidence=args.min_tracking_confidence,
        output_face_blendshapes=args.blendshapes)
    landmarker = MediaPipeLandmarker(args.task, resolve_model(args.model or
                                                              DEFAULT_MODELS[args.task]),
                                     options)
    return landmarker, keypoint_steps(landmarker, landmark_edges(args.task, args.face_edges),
                                      1 if args.task == 'face' else 3)


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.threshold <= 1.0:
        raise PerceptionError('--threshold must be within 0-1, got %s' % args.threshold)
    if args.mask_dir and args.task != 'selfie_segmentation':
        raise PerceptionError('--mask-dir is for --task selfie_segmentation')
    try:
        runner, (process, record, draw, count) = create_task(args)
    except ValueError as exc:  # options out of range
        raise PerceptionError(str(exc)) from None
    video = is_video(args.source)
    frame_ms: Optional[float] = 1000.0 / video_fps(args.source) if video else None
    save_dir = ensure_dir(args.save_dir)
    mask_dir = ensure_dir(args.mask_dir)
    total = len(list_images(args.source)) if os.path.isdir(args.source) else 0
    progress = progress_bar('landmarks', total)
    stats = StageStats()
    instances = 0
    with runner, JsonlWriter(args.output) as out:
        for frame in iterate_frames(args.source, args.max_frames):
            stamp = int(round(frame.index * frame_ms)) if frame_ms is not None else None
            result = process(frame.image, stamp)
            stats.add(runner.timings)
            instances += count(result)
            out.write(dict({'image': frame.name}, **record(result)))
            name = ('%06d.jpg' % frame.index) if video else frame.name
            if mask_dir:
                cv2.imwrite(os.path.join(mask_dir, os.path.splitext(name)[0] + '.png'),
                            result.mask_u8(args.threshold))
            if save_dir:
                cv2.imwrite(os.path.join(save_dir, name), draw(frame.image.copy(), result))
            progress.update()
    progress.close()
    means = stats.means()
    mode = ('VIDEO mode, stamps every %.1f ms' % frame_ms) if frame_ms else 'IMAGE mode'
    written = [text % folder for text, folder in (('masks in %s', mask_dir),
                                                  ('annotated images in %s', save_dir))
               if folder]
    print('landmarks (%s): %d frames, %d instances, %s; mean pre %.1f ms, infer %.1f ms, post '
          '%.1f ms%s' % (args.task, stats.count, instances, mode, means.get('pre', 0),
                         means.get('infer', 0), means.get('post', 0),
                         ''.join('; ' + w for w in written)),
          file=sys.stderr)
    return 0
