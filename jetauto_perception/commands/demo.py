"""
``jetauto-perception demo``: the whole pipeline without ROS -> annotated MP4 + JSONL.

Capture (sources.capture: a video, an image folder, a camera, a stream) -> the stages -> drawing.
Stages run in order on each frame and may use the results of earlier ones (the keypoint stage
takes the detector's person boxes); :data:`STAGES` lists them, so adding one is one line.
Writes ``<output>/demo.mp4`` and ``<output>/results.jsonl`` (one JSON object per frame:
``{"frame": i, "time": seconds since the first frame, "width": w, "height": h, "<stage>":
[...]}``), shows a progress bar on a terminal and ends with a summary: frames, fps and the
mean milliseconds of every stage.

Without ``--source`` it plays ``shared/data/video/vtest.avi`` beside the checkout (found like
the models in models.manifest).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from .common import add_engine_arguments, engine_config_from, ensure_dir, progress_bar
from .jsonl import JsonlWriter
from ..drawing.draw import draw_detections, draw_mask
from ..drawing.visualization import draw_results, KeypointSet, stream_color
from ..engines.base import EngineConfig
from ..errors import ModelError, PerceptionError, SourceError
from ..models.manifest import (CHECKOUT_SHARED_MODELS, load_manifest, resolve_model,
                               user_models_dir)
from ..sources.capture import Capture, CaptureSettings
from ..timing import StageStats, StageTimes

DEFAULT_VIDEO = ('data', 'video', 'vtest.avi')
VIDEO_NAME = 'demo.mp4'
RESULTS_NAME = 'results.jsonl'


def default_source() -> str:
    """``shared/data/video/vtest.avi`` beside the checkout (or the current folder's parent)."""
    roots = [os.environ.get('JETAUTO_SHARED_DIR', ''), str(CHECKOUT_SHARED_MODELS.parent),
             str(pathlib.Path.cwd().parent / 'shared')]
    candidates: List[str] = []
    for root in roots:
        path = os.path.abspath(os.path.join(root, *DEFAULT_VIDEO)) if root else ''
        if path and path not in candidates:
            candidates.append(path)
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise SourceError('no --source given, and the default video %s is not here: pass --source '
                      'VIDEO|FOLDER|0 (the first camera)|csi://0|rtsp://...' % candidates[0])


def _command_name() -> str:
    """How this command was started, for fixes to copy (``.venv/bin/jetauto-perception``)."""
    started = sys.argv[0] if sys.argv and sys.argv[0].endswith('jetauto-perception') else ''
    return os.path.relpath(started) if started else 'jetauto-perception'


def _stage_models(args: argparse.Namespace, names: Sequence[str]) -> List[str]:
    """Return the models the stages ``names`` load (MediaPipe is imported only when used)."""
    models = {'detector': args.model, 'keypoints': args.keypoint_model}
    if set(names) - set(models):
        from ..landmarks import face_detection, segmentation
        from ..landmarks.mediapipe_tasks import DEFAULT_MODELS
        models.update({name: DEFAULT_MODELS[task] for name, task in LandmarkStage.TASKS.items()
                       if task in DEFAULT_MODELS})
        models.update({'face_detection': face_detection.DEFAULT_MODEL,
                       'selfie_segmentation': segmentation.DEFAULT_MODEL})
    return [models[name] for name in names if name in models]


def check_inputs(args: argparse.Namespace, names: Sequence[str]) -> str:
    """
    Return the source; raise one PerceptionError saying everything that is missing and the fix.

    A fresh clone has neither the default video nor the models (both come with ../shared).
    """
    steps = []
    manifest = load_manifest()
    missing = []
    for model in _stage_models(args, names):
        try:
            resolve_model(model, manifest)
        except ModelError:
            missing.append(model)
    command = _command_name()
    fetch, export, unknown = [], [], []
    for model in missing:
        entry = manifest.get(model)
        weights = os.path.splitext(model)[0] + '.pt'
        if entry is not None and entry.url:
            fetch.append(model)
        elif entry is not None and weights in manifest:  # Ultralytics publishes only the .pt
            fetch.append(weights)
            export.append('export %s from %s' % (model, weights))
        else:
            unknown.append(model)
    if fetch:
        steps.append('get the models: `%s models fetch %s` (into %s)%s' % (
            command, ' '.join(fetch), user_models_dir(),
            ', then %s (README.md, "Models on a fresh clone")' % ', '.join(export)
            if export else ''))
    if unknown:
        steps.append('model %s not found: check the path (`%s models list` shows the known '
                     'models)' % (', '.join(unknown), command))
    source = args.source
    if not source:
        try:
            source = default_source()
        except SourceError as exc:
            steps.append(str(exc))
    if steps:
        raise PerceptionError('the demo cannot start here:\n' + '\n'.join(
            '  %d. %s' % (number, step) for number, step in enumerate(steps, 1)))
    return source


# -- stages ------------------------------------------------------------------------------------
class Stage:
    """One step of the demo: ``process`` stores its result in ``frame_results[name]``."""

    name = ''
    #: BGR colour of the stage's keypoints (detections are coloured by class).
    color: Tuple[int, int, int] = (0, 255, 255)

    def __init__(self) -> None:
        #: Sub-stage milliseconds of the last frame (pre / infer / post), when the core has them.
        self.timings = StageTimes()

    def process(self, image: np.ndarray, frame_results: Dict[str, Any], time_ms: int) -> Any:
        raise NotImplementedError

    def draw(self, image: np.ndarray, result: Any) -> None:
        raise NotImplementedError

    def to_json(self, result: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


class DetectorStage(Stage):
    """YOLOv5 boxes (``detections``)."""

    name = 'detections'

    def __init__(self, args: argparse.Namespace, engine: EngineConfig) -> None:
        super().__init__()
        from ..detection.yolov5 import YoloV5Detector
        self.detector = YoloV5Detector.from_model(resolve_model(args.model), engine,
                                                  conf_threshold=args.conf)
        self.timings = self.detector.timings

    def process(self, image: np.ndarray, frame_results: Dict[str, Any], time_ms: int) -> Any:
        return self.detector.detect(image)

    def draw(self, image: np.ndarray, result: Any) -> None:
        draw_detections(image, result)

    def to_json(self, result: Any) -> Any:
        return [d.to_json() for d in result]

    def close(self) -> None:
        self.detector.close()


class KeypointStage(Stage):
    """COCO-17 keypoints of the detected people (``keypoints``; needs the detector stage)."""

    name = 'keypoints'
    color = stream_color(0)

    def __init__(self, args: argparse.Namespace, engine: EngineConfig) -> None:
        super().__init__()
        from ..keypoints.estimator import KeypointConfig, KeypointEstimator
        self.estimator = KeypointEstimator.from_model(
            resolve_model(args.keypoint_model), engine, KeypointConfig(device=args.device))
        self.timings = self.estimator.timings

    def process(self, image: np.ndarray, frame_results: Dict[str, Any], time_ms: int) -> Any:
        people = frame_results[DetectorStage.name].with_label('person')
        return self.estimator.estimate(image, people.boxes)

    def draw(self, image: np.ndarray, result: Any) -> None:
        kset = KeypointSet(list(result.keypoints), result.boxes, [], result.names,
                           result.skeleton, self.color)
        draw_results(image, keypoint_sets={self.name: kset}, keypoint_threshold=0.3)

    def to_json(self, result: Any) -> Any:
        return result.to_json()

    def close(self) -> None:
        self.estimator.close()


class LandmarkStage(Stage):
    """
    A MediaPipe keypoint task, tracking across frames.

    ``face_mesh``, ``hands``, ``pose`` (landmarks) or ``face_detection`` (box + 6 keypoints).
    """

    TASKS = {'face_mesh': 'face', 'hands': 'hands', 'pose': 'pose',
             'face_detection': 'face_detection'}

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        super().__init__()
        self.name = name
        self.color = stream_color(1 + list(self.TASKS).index(name))
        task = self.TASKS[name]
        self.landmarker: Any
        if task == 'face_detection':
            from ..landmarks import face_detection as fd
            self.landmarker = fd.MediaPipeFaceDetector(resolve_model(fd.DEFAULT_MODEL))
            self.edges = fd.FACE_DETECTION_EDGES
        else:
            from ..landmarks.mediapipe_tasks import (DEFAULT_MODELS, landmark_edges,
                                                     LandmarkerOptions, MediaPipeLandmarker)
            self.landmarker = MediaPipeLandmarker(
                task, resolve_model(DEFAULT_MODELS[task]),
                LandmarkerOptions(max_instances=2 if task == 'hands' else 1))
            self.edges = landmark_edges(task)
        self.timings = self.landmarker.timings

    def process(self, image: np.ndarray, frame_results: Dict[str, Any], time_ms: int) -> Any:
        return self.landmarker.detect(image, time_ms)

    def draw(self, image: np.ndarray, result: Any) -> None:
        labelled = self.name in ('hands', 'face_detection')  # drawn with box and label
        kset = KeypointSet([k[:, [0, 1, 3]] for k in result.keypoints],
                           np.asarray(result.boxes, np.float32).reshape(-1, 4),
                           [inst.label for inst in result] if labelled else [],
                           self.landmarker.names, self.edges, self.color)
        draw_results(image, keypoint_sets={self.name: kset}, keypoint_threshold=0.5)

    def to_json(self, result: Any) -> Any:
        return [inst.to_json() for inst in result]

    def close(self) -> None:
        self.landmarker.close()


class SegmentationStage(Stage):
    """The MediaPipe selfie segmenter's person mask (``selfie_segmentation``), as an overlay."""

    name = 'selfie_segmentation'
    color = (255, 0, 255)

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        from ..landmarks import segmentation as sg
        self.segmenter = sg.MediaPipeSegmenter(resolve_model(sg.DEFAULT_MODEL))
        self.timings = self.segmenter.timings

    def process(self, image: np.ndarray, frame_results: Dict[str, Any], time_ms: int) -> Any:
        return self.segmenter.segment(image, time_ms)

    def draw(self, image: np.ndarray, result: Any) -> None:
        draw_mask(image, result.mask_u8(), self.color)

    def to_json(self, result: Any) -> Any:
        return {'person_fraction': round(result.person_fraction, 4)}

    def close(self) -> None:
        self.segmenter.close()


StageFactory = Callable[[argparse.Namespace, EngineConfig], Stage]

#: Every stage the demo knows, in pipeline order: (name for --stages, factory, needs).
STAGES: List[Tuple[str, StageFactory, Tuple[str, ...]]] = [
    ('detector', DetectorStage, ()),
    ('keypoints', KeypointStage, ('detector',)),
    ('face_mesh', lambda args, engine: LandmarkStage('face_mesh', args), ()),
    ('hands', lambda args, engine: LandmarkStage('hands', args), ()),
    ('pose', lambda args, engine: LandmarkStage('pose', args), ()),
    ('face_detection', lambda args, engine: LandmarkStage('face_detection', args), ()),
    ('selfie_segmentation', lambda args, engine: SegmentationStage(args), ()),
]
DEFAULT_STAGES = 'detector,keypoints'


def select_stages(text: str) -> List[Tuple[str, StageFactory]]:
    """``detector,keypoints`` -> the factories in pipeline order (raises PerceptionError)."""
    wanted = [s.strip() for s in text.split(',') if s.strip()]
    known = [name for name, _, _ in STAGES]
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise PerceptionError('unknown stage %s: --stages takes a comma-separated list of %s'
                              % (', '.join(unknown), ', '.join(known)))
    for name, _, needs in STAGES:
        missing = [n for n in needs if name in wanted and n not in wanted]
        if missing:
            raise PerceptionError('stage %s needs %s: add it to --stages'
                                  % (name, ', '.join(missing)))
    return [(name, factory) for name, factory, _ in STAGES if name in wanted]


# -- command -----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--source', default='',
                        help='video file, image folder, camera (0, /dev/video0, csi://0), stream '
                             'URL or GStreamer pipeline (default: the shared vtest.avi)')
    parser.add_argument('--output', default='out/demo',
                        help='folder for %s and %s (default: out/demo)'
                             % (VIDEO_NAME, RESULTS_NAME))
    parser.add_argument('--max-frames', type=int, default=None, help='stop after N frames')
    parser.add_argument('--stages', default=DEFAULT_STAGES,
                        help='comma-separated stages, in any order: %s (default: %s)'
                             % (', '.join(name for name, _, _ in STAGES), DEFAULT_STAGES))
    parser.add_argument('--model', default='yolov5n.onnx',
                        help='YOLOv5 model path or manifest name (default: yolov5n.onnx)')
    parser.add_argument('--keypoint-model', default='simplepose_mbv2_256x192.onnx',
                        help='heatmap keypoint model (default: simplepose_mbv2_256x192.onnx)')
    parser.add_argument('--conf', type=float, default=0.25, help='detector score threshold')
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'),
                        help='keypoint crop/decode device (default: auto)')
    parser.add_argument('--realtime', action='store_true',
                        help='read files at their frame rate (default: as fast as processed)')
    add_engine_arguments(parser)


def _open_writer(path: str, fps: float, width: int, height: int) -> Any:
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
    if not writer.isOpened():
        raise PerceptionError("cannot write '%s' (no MP4 encoder in this OpenCV, or the folder "
                              'is not writable)' % path)
    return writer


def run(args: argparse.Namespace) -> int:
    if args.max_frames is not None and args.max_frames < 1:
        raise PerceptionError('--max-frames must be at least 1')
    factories = select_stages(args.stages)
    source = check_inputs(args, [name for name, _ in factories])
    engine = engine_config_from(args)
    capture = Capture(source, CaptureSettings(realtime=args.realtime, retry=False))
    reader = capture.open_reader()
    stages: List[Stage] = []
    try:
        for _, factory in factories:
            stages.append(factory(args, engine))
        output = ensure_dir(args.output)
        video_path = os.path.join(output, VIDEO_NAME)
        results_path = os.path.join(output, RESULTS_NAME)
        total = min(args.max_frames or reader.frame_count, reader.frame_count or 10 ** 9)
        progress = progress_bar('demo', 0 if total >= 10 ** 9 else total, 'frame')
        summary = _run_pipeline(capture, stages, video_path, results_path, args.max_frames,
                                progress)
    finally:
        for stage in stages:
            stage.close()
        capture.close()
    print(summary)
    return 0


def _run_pipeline(capture: Capture, stages: List[Stage], video_path: str, results_path: str,
                  max_frames: Optional[int], progress: tqdm) -> str:
    fps = capture.fps or 30.0
    stats = StageStats()
    inner: Dict[str, StageStats] = {stage.name: StageStats() for stage in stages}
    writer = None
    size = (0, 0)
    first_stamp: Optional[int] = None
    start = time.perf_counter()
    frames = 0
    try:
        with JsonlWriter(results_path) as out:
            times = StageTimes()
            frame_iter = capture.frames(max_frames)
            while True:
                times.reset()
                with times.stage('capture'):
                    frame = next(frame_iter, None)
                if frame is None:
                    break
                image = frame.image
                first_stamp = frame.stamp_ns if first_stamp is None else first_stamp
                time_ms = int(round(frame.index * 1000.0 / fps))
                results: Dict[str, Any] = {}
                for stage in stages:
                    with times.stage(stage.name):
                        results[stage.name] = stage.process(image, results, time_ms)
                    inner[stage.name].add(stage.timings)
                with times.stage('draw'):
                    canvas = image.copy()
                    for stage in stages:
                        stage.draw(canvas, results[stage.name])
                with times.stage('write'):
                    if writer is None:
                        size = (image.shape[1], image.shape[0])
                        writer = _open_writer(video_path, fps, size[0], size[1])
                    if (canvas.shape[1], canvas.shape[0]) != size:
                        # Images of a folder may differ in size; a video has one.
                        canvas = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
                    writer.write(canvas)
                    record: Dict[str, Any] = {
                        'frame': frame.index,
                        'time': round((frame.stamp_ns - first_stamp) * 1e-9, 4),
                        'width': int(image.shape[1]), 'height': int(image.shape[0])}
                    for stage in stages:
                        record[stage.name] = stage.to_json(results[stage.name])
                    out.write(record)
                stats.add(times)
                frames += 1
                progress.update()
    finally:
        progress.close()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise SourceError('%s gave no frames' % capture.spec.describe())
    elapsed = time.perf_counter() - start
    parts = []
    for name, mean in stats.means().items():
        text = '%s %.1f' % (name, mean)
        sub = inner.get(name)
        if sub is not None and sub.sums:
            text += ' (%s)' % ', '.join('%s %.1f' % kv for kv in sub.means().items())
        parts.append(text)
    return ('demo: %d frames in %.1f s (%.1f fps) from %s\n'
            'mean ms per frame: %s\n'
            'wrote %s and %s' % (frames, elapsed, frames / max(elapsed, 1e-9),
                                 capture.spec.describe(), '; '.join(parts), video_path,
                                 results_path))
