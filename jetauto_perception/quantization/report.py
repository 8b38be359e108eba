"""
The FP32-vs-INT8 report: accuracy on a labelled set, file size, CPU latency, layers in float.

Accuracy uses the package's own evaluation: COCO mAP of the YOLOv5 detector exactly as ``eval``
runs it (``evaluation.detection_map``), mean OKS of the heatmap model on a COCO keypoints file
with the ground-truth boxes (``evaluation.keypoint_oks``). CPU latency is ONNX Runtime's, the
models measured alternately in one run so a busy machine slows them alike.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..sources.files import list_images, read_image

#: The detection evaluation settings of the accuracy figures (YOLOv5 val.py's).
CONF, IOU, MAX_DET = 0.001, 0.6, 300


@dataclass
class ReportRow:
    """One model of the report."""

    name: str
    path: str = ''
    size_mb: float = 0.0
    output_error: Optional[float] = None
    map50_95: Optional[float] = None
    map50: Optional[float] = None
    mean_oks: Optional[float] = None
    cpu_ms: Optional[float] = None
    float_layers: List[str] = field(default_factory=list)


@dataclass
class Report:
    """Rows (FP32 first), the settings, and notes."""

    kind: str
    rows: List[ReportRow]
    settings: Dict[str, Any] = field(default_factory=dict)
    rules: Dict[str, int] = field(default_factory=dict)
    sensitivity: List[Dict[str, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + '\n'

    def to_markdown(self) -> str:
        """Render a Markdown table (the CLI prints it and writes it to ``--report x.md``)."""
        accuracy = ('mAP50-95', 'mAP50') if self.kind == 'yolov5' else ('mean OKS',)
        lines = ['| model | output error | %s | size MB | CPU ms | layers in float |'
                 % ' | '.join(accuracy),
                 '|---|---|%s---|---|---|' % ('---|' * len(accuracy))]
        for row in self.rows:
            values = ([row.map50_95, row.map50] if self.kind == 'yolov5' else [row.mean_oks])
            lines.append('| %s | %s | %s | %s | %s | %s |' % (
                row.name, _fmt(row.output_error, '%.4f'),
                ' | '.join(_fmt(v, '%.4f') for v in values),
                _fmt(row.size_mb or None, '%.2f'), _fmt(row.cpu_ms, '%.1f'),
                ', '.join(row.float_layers) if row.float_layers else ('all' if row.name ==
                                                                      'FP32' else '-')))
        text = '\n'.join(lines) + '\n'
        if self.rules:
            text += '\nClipping rule per activation: %s\n' % ', '.join(
                '%s %d' % kv for kv in sorted(self.rules.items()))
        if self.sensitivity:
            text += '\nMost sensitive layers (output error with only that layer quantized):\n'
            text += ''.join('- %s (%s): %.4f\n' % (s['layer'], s['rule'], s['error'])
                            for s in self.sensitivity)
        if self.settings:
            text += '\nSettings: %s\n' % ', '.join('%s %s' % kv for kv in self.settings.items())
        text += ''.join('\n%s\n' % note for note in self.notes)
        return text

    def write(self, path: str) -> None:
        with open(path, 'w') as f:
            f.write(self.to_json() if path.lower().endswith('.json') else self.to_markdown())


def _fmt(value: Optional[float], pattern: str) -> str:
    return '-' if value is None else pattern % value


def file_size_mb(path: str) -> float:
    return os.path.getsize(path) / 1e6


def detection_accuracy(model_path: str, images_dir: str, labels_dir: str,
                       max_images: int = 0, threads: int = 0,
                       progress: Optional[Callable[[], None]] = None) -> tuple:
    """``(mAP50-95, mAP50)`` of a YOLOv5 ONNX model, conf 0.001, IoU 0.6, multi-label."""
    from ..detection.yolov5 import YoloV5Detector
    from ..engines.base import EngineConfig
    from ..evaluation.detection_map import evaluate_detector
    paths = list_images(images_dir)
    if max_images > 0:
        paths = paths[:max_images]
    detector = YoloV5Detector.from_model(
        model_path, EngineConfig(num_threads=threads), conf_threshold=CONF, iou_threshold=IOU,
        max_det=MAX_DET, multi_label=True)
    try:
        result = evaluate_detector(detector, paths, labels_dir, progress=progress)
    finally:
        detector.close()
    return result.map50_95, result.map50


def keypoint_accuracy(model_path: str, coco_json: str, threads: int = 0) -> float:
    """Mean OKS over the labelled people of a COCO keypoints file, from their own boxes."""
    from ..engines.base import EngineConfig
    from ..evaluation.keypoint_oks import load_coco_keypoints, object_keypoint_similarity
    from ..keypoints.estimator import KeypointConfig, KeypointEstimator
    dataset = load_coco_keypoints(coco_json)
    folder = os.path.dirname(coco_json)
    estimator = KeypointEstimator.from_model(model_path, EngineConfig(num_threads=threads),
                                             KeypointConfig(device='cpu'))
    oks = []
    try:
        for image_id, name in sorted(dataset.images.items()):
            people = dataset.labelled_people(image_id)
            if not people:
                continue
            result = estimator.estimate(read_image(os.path.join(folder, name)),
                                        np.array([p.bbox_xyxy for p in people]))
            oks += [object_keypoint_similarity(points, person.keypoints, person.area)
                    for points, person in zip(result.keypoints, people)]
    finally:
        estimator.close()
    return float(np.mean(oks)) if oks else 0.0


def cpu_latency(model_paths: Sequence[str], batch: np.ndarray, runs: int = 20,
                threads: int = 0) -> List[float]:
    """Median ms of one ONNX Runtime CPU inference per model, the models run alternately."""
    from ..engines.base import EngineConfig
    from ..engines.onnxruntime_engine import OnnxRuntimeEngine
    engines = [OnnxRuntimeEngine(path, EngineConfig(num_threads=threads))
               for path in model_paths]
    times: List[List[float]] = [[] for _ in engines]
    feeds = [{engine.inputs[0].name: batch} for engine in engines]
    for engine, feed in zip(engines, feeds):
        engine.infer(feed)  # warm-up
    for _ in range(max(runs, 1)):
        for index, (engine, feed) in enumerate(zip(engines, feeds)):
            start = time.perf_counter()
            engine.infer(feed)
            times[index].append((time.perf_counter() - start) * 1e3)
    return [float(np.median(t)) for t in times]
