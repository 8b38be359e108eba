"""
YOLOv5 detection: letterbox pre-processing, output decoding, class-aware NMS.

Output layout of the exported model: ``(1, N, 5 + C)`` rows of ``cx, cy, w, h`` (input pixels),
objectness and C class scores, all sigmoid-activated. A detection's score is
``objectness * class_score``.
"""
from __future__ import annotations

import ast
import os
from typing import Iterable, List, Optional, Sequence, Set, Tuple

import cv2
import numpy as np

from .detections import Detections
from .letterbox import letterbox_blob, LetterboxTransform
from .nms import batched_nms
from ..engines.base import EngineConfig, InferenceEngine
from ..engines.factory import create_engine
from ..errors import ModelError
from ..timing import StageTimes

#: YOLOv5's own limit: at most this many boxes (the best) go into NMS.
MAX_NMS_CANDIDATES = 30000


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    out = np.empty_like(boxes)
    half_w = boxes[:, 2] / 2
    half_h = boxes[:, 3] / 2
    out[:, 0] = boxes[:, 0] - half_w
    out[:, 1] = boxes[:, 1] - half_h
    out[:, 2] = boxes[:, 0] + half_w
    out[:, 3] = boxes[:, 1] + half_h
    return out


def yolov5_candidates(prediction: np.ndarray, conf_threshold: float, multi_label: bool = False,
                      classes: Optional[Set[int]] = None
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Confidence filter and box conversion: ``(boxes_xyxy, scores, class_ids)`` before NMS.

    ``prediction`` is ``(N, 5 + C)`` for one image. With ``multi_label`` every class whose score
    passes the threshold yields a candidate; otherwise only the best class of each row.
    """
    pred = np.asarray(prediction, dtype=np.float32).reshape(-1, prediction.shape[-1])
    pred = pred[pred[:, 4] > conf_threshold]  # objectness alone must pass first (cheap prefilter)
    if pred.shape[0] == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64)
    class_scores = pred[:, 5:] * pred[:, 4:5]
    boxes = cxcywh_to_xyxy(pred[:, :4])
    if multi_label:
        rows, cols = np.nonzero(class_scores > conf_threshold)
        boxes, scores, class_ids = boxes[rows], class_scores[rows, cols], cols.astype(np.int64)
    else:
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(class_scores.shape[0]), class_ids]
        keep = scores > conf_threshold
        boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep].astype(np.int64)
    if classes is not None:
        keep = np.isin(class_ids, np.fromiter(classes, dtype=np.int64))
        boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
    return boxes, scores.astype(np.float32), class_ids


def select_detections(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                      iou_threshold: float, max_det: int
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NMS over filtered candidates: at most ``max_det`` boxes, best score first."""
    if boxes.shape[0] > MAX_NMS_CANDIDATES:
        top = np.argsort(-scores, kind='stable')[:MAX_NMS_CANDIDATES]
        boxes, scores, class_ids = boxes[top], scores[top], class_ids[top]
    keep = batched_nms(boxes, scores, class_ids, iou_threshold)[:max_det]
    return boxes[keep], scores[keep], class_ids[keep]


def decode_yolov5(prediction: np.ndarray, conf_threshold: float = 0.25,
                  iou_threshold: float = 0.45, max_det: int = 300, multi_label: bool = False,
                  classes: Optional[Set[int]] = None
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one image's raw output into ``(boxes_xyxy, scores, class_ids)`` in input pixels."""
    boxes, scores, class_ids = yolov5_candidates(prediction, conf_threshold, multi_label, classes)
    return select_detections(boxes, scores, class_ids, iou_threshold, max_det)


def parse_class_names(text: str) -> List[str]:
    """Parse YOLOv5's ONNX ``names`` metadata (a Python dict or list literal)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ModelError('cannot parse class names %r' % text[:80]) from None
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value)]
    return [str(v) for v in value]


def load_class_names(path: str) -> List[str]:
    """Class names from a labels file: one name per line (.txt) or a YAML ``names`` list/dict."""
    if not os.path.isfile(path):
        raise ModelError("labels file not found: '%s'" % path)
    if path.endswith(('.yaml', '.yml')):
        import yaml
        with open(path) as f:
            data = yaml.safe_load(f)
        names = data.get('names', data) if isinstance(data, dict) else data
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
        return [str(n) for n in names]
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def resolve_class_filter(selection: Iterable[object],
                         class_names: Sequence[str]) -> Optional[Set[int]]:
    """Turn a list of class names or ids into a set of ids (None = keep all classes)."""
    ids: Set[int] = set()
    for item in selection:
        text = str(item).strip()
        if not text:
            continue
        if text.isdigit():
            ids.add(int(text))
        elif text in class_names:
            ids.add(list(class_names).index(text))
        else:
            raise ValueError("unknown class '%s' in the class filter (known: %s, ...)"
                             % (text, ', '.join(list(class_names)[:8])))
    return ids or None


class YoloV5Detector:
    """Letterbox → engine → decode → boxes in source pixels, with per-stage timings."""

    def __init__(self, engine: InferenceEngine, class_names: Optional[Sequence[str]] = None,
                 conf_threshold: float = 0.25, iou_threshold: float = 0.45, max_det: int = 300,
                 multi_label: bool = False, classes: Optional[Set[int]] = None,
                 input_size: Optional[Tuple[int, int]] = None,
                 interpolation: int = cv2.INTER_LINEAR) -> None:
        self.engine = engine
        spec = engine.inputs[0]
        self.input_name = spec.name
        shape = spec.shape
        if len(shape) == 4 and all(isinstance(d, (int, np.integer)) and d > 0 for d in shape[2:]):
            static_hw = (int(shape[2]), int(shape[3]))
            if input_size is not None and tuple(input_size) != static_hw:
                raise ModelError('the model has a fixed input of %dx%d but input_size asks for '
                                 "%dx%d: set input_size to %d (or 0 for the model's size)"
                                 % (static_hw[1], static_hw[0], input_size[1], input_size[0],
                                    static_hw[0]))
            self.input_hw = static_hw
        else:
            self.input_hw = tuple(input_size) if input_size else (640, 640)
        if class_names is None:
            meta = engine.metadata.get('names')
            class_names = parse_class_names(meta) if meta else []
        self.class_names = list(class_names)
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.max_det = max_det
        self.multi_label = multi_label
        self.classes = classes
        self.interpolation = interpolation
        self.timings = StageTimes()
        self._blob = np.empty((1, 3) + tuple(self.input_hw), dtype=np.float32)

    @classmethod
    def from_model(cls, model_path: str, config: Optional[EngineConfig] = None,
                   labels_path: str = '', **kwargs: object) -> 'YoloV5Detector':
        engine = create_engine(model_path, config)
        names = load_class_names(labels_path) if labels_path else None
        return cls(engine, names, **kwargs)  # type: ignore[arg-type]

    def preprocess(self, image_bgr: np.ndarray) -> Tuple[np.ndarray, LetterboxTransform]:
        return letterbox_blob(image_bgr, self.input_hw, self.interpolation, out=self._blob)

    def postprocess(self, output: np.ndarray, transform: LetterboxTransform) -> Detections:
        boxes, scores, class_ids = decode_yolov5(
            output[0] if output.ndim == 3 else output, self.conf_threshold, self.iou_threshold,
            self.max_det, self.multi_label, self.classes)
        return Detections(transform.boxes_to_source(boxes), scores, class_ids, self.class_names)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Detect objects in one BGR uint8 image; boxes in its pixels."""
        self.timings.reset()
        with self.timings.stage('pre'):
            blob, transform = self.preprocess(image_bgr)
        with self.timings.stage('infer'):
            output = self.engine.infer_single(blob)[0]
        with self.timings.stage('post'):
            return self.postprocess(output, transform)

    __call__ = detect

    def close(self) -> None:
        self.engine.close()
