"""``jetauto-perception track``: YOLOv5 + the tracker over a video or folder -> MOT text."""
from __future__ import annotations

import argparse
import configparser
import os
import sys
import time

from .common import add_engine_arguments, apply_class_filter, engine_config_from, progress_bar
from ..detection.cuda_yolo import create_yolov5_detector
from ..engines.factory import create_engine
from ..errors import PerceptionError
from ..models.manifest import resolve_model
from ..sources.files import is_video, iterate_frames
from ..tracking.appearance import color_histograms
from ..tracking.byte_tracker import ByteTracker, TrackerConfig
from ..tracking.mot_format import read_mot, write_mot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrackerConfig()
    parser.add_argument('--source', required=True, help='video file or folder of images')
    parser.add_argument('--output', required=True,
                        help='MOTChallenge result file (frame,id,x,y,w,h,score,-1,-1,-1)')
    parser.add_argument('--model', default='yolov5n.onnx', help='detector (default yolov5n.onnx)')
    parser.add_argument('--classes', default='',
                        help='comma-separated class names/ids to track (default: all)')
    parser.add_argument('--ground-truth', default='',
                        help='MOTChallenge gt.txt: print MOTA, IDF1, ID switches, MT/ML')
    parser.add_argument('--fps', type=float, default=0.0,
                        help="frame rate for the stamps (default: the video's, a folder's "
                             'seqinfo.ini beside it, else 30)')
    parser.add_argument('--conf', type=float, default=None,
                        help='detector threshold (default: the tracker --low threshold)')
    parser.add_argument('--high', type=float, default=defaults.high_threshold,
                        help='first-stage box score (%(default)s)')
    parser.add_argument('--low', type=float, default=defaults.low_threshold,
                        help='second-stage box score (%(default)s)')
    parser.add_argument('--new-track', type=float, default=defaults.new_track_threshold,
                        help='score that starts a track (%(default)s)')
    parser.add_argument('--min-height', type=float, default=defaults.min_box_height,
                        help='ignore boxes lower than this many pixels (%(default)s)')
    parser.add_argument('--lost-timeout', type=float, default=defaults.lost_timeout,
                        help='seconds a lost track is kept (%(default)s)')
    parser.add_argument('--appearance-weight', type=float, default=defaults.appearance_weight,
                        help='share of colour-histogram similarity in matching, 0 = motion '
                             'only (%(default)s)')
    parser.add_argument('--max-frames', type=int, default=None, help='stop after N frames')
    add_engine_arguments(parser)


def source_fps(source: str, requested: float) -> float:
    """Frame rate for the stamps: asked, the video's own, MOTChallenge seqinfo.ini, or 30."""
    if requested > 0:
        return requested
    if is_video(source):
        import cv2
        capture = cv2.VideoCapture(source)
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        capture.release()
        if fps > 0:
            return float(fps)
    info = os.path.join(os.path.dirname(os.path.abspath(source.rstrip('/'))), 'seqinfo.ini')
    if os.path.isfile(info):
        parser = configparser.ConfigParser()
        parser.read(info)
        rate = parser.get('Sequence', 'frameRate', fallback='')
        if rate:
            return float(rate)
    return 30.0


def print_metrics(ground_truth: str, output: str) -> None:
    from ..evaluation.mot_metrics import evaluate_mot
    metrics = evaluate_mot(read_mot(ground_truth), read_mot(output))
    print('MOTA %.3f  IDF1 %.3f  ID switches %d  MT %d  ML %d  (of %d ids; FP %d, FN %d, '
          'MOTP distance %.3f)'
          % (metrics['MOTA'], metrics['IDF1'], metrics['IDsw'], metrics['MT'], metrics['ML'],
             metrics['GT'], metrics['FP'], metrics['FN'], metrics['MOTP']))


def run(args: argparse.Namespace) -> int:
    if not os.path.exists(args.source):
        raise PerceptionError("source not found: '%s'" % args.source)
    if args.ground_truth and not os.path.isfile(args.ground_truth):
        raise PerceptionError("ground truth not found: '%s'" % args.ground_truth)
    config = TrackerConfig(high_threshold=args.high, low_threshold=args.low,
                           new_track_threshold=args.new_track, min_box_height=args.min_height,
                           lost_timeout=args.lost_timeout,
                           appearance_weight=args.appearance_weight)
    conf = args.conf if args.conf is not None else args.low
    detector = create_yolov5_detector(create_engine(resolve_model(args.model),
                                                    engine_config_from(args)),
                                      'cpu', conf_threshold=conf)
    apply_class_filter(detector, args.classes)
    fps = source_fps(args.source, args.fps)
    tracker = ByteTracker(config)
    progress = progress_bar('track', 0, 'frame')
    track_seconds = 0.0
    frames = 0
    ids_seen: set = set()
    with open(args.output, 'w') as out:
        for frame in iterate_frames(args.source, args.max_frames):
            found = detector.detect(frame.image)
            start = time.perf_counter()
            features = (color_histograms(frame.image, found.boxes)
                        if config.appearance_weight > 0 else None)
            ids = tracker.update(found.boxes, found.scores, found.class_ids, frame.index / fps,
                                 features)
            track_seconds += time.perf_counter() - start
            keep = ids >= 0
            write_mot(out, frames + 1, ids[keep], found.boxes[keep], found.scores[keep])
            ids_seen.update(int(i) for i in ids[keep])
            frames += 1
            progress.update()
    progress.close()
    print('track: %d frames at %.1f fps stamps, %d track ids; tracker %.2f ms per frame '
          '(appearance + association, detector not counted) -> %s'
          % (frames, fps, len(ids_seen), 1e3 * track_seconds / max(frames, 1), args.output),
          file=sys.stderr)
    if args.ground_truth:
        print_metrics(args.ground_truth, args.output)
    return 0
