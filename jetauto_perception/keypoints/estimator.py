"""
Top-down heatmap keypoint estimation: person boxes in, COCO-17 keypoints out.

Stages (each a plain-data function of its own module):
person boxes → crop geometry (``pose_crop``) → affine crop + normalise of all persons into one
``(N, 3, H, W)`` batch → engine → heatmaps ``(N, K, h, w)`` → decode (``heatmap_decode``)
→ keypoints in source pixels. On ``device='cuda'`` the crop and the decode run as CUDA kernels
(``cuda_pose``) and the batch stays in GPU memory between them.

A model with a static batch of 1 (the shared SimplePose export is one) is run once per crop; a
model with a dynamic batch axis gets the whole batch in one call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .coco17 import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_SKELETON, flip_permutation
from .crop import (BOX_PADDING, boxes_to_crops, crop_persons, CropGeometry, IMAGENET_MEAN,
                   IMAGENET_STD)
from .heatmap_decode import decode_heatmaps, DECODE_METHODS, merge_flipped
from ..engines.base import EngineConfig, InferenceEngine
from ..engines.cuda_context import resolve_device
from ..engines.factory import create_engine
from ..errors import ModelError
from ..timing import StageTimes


@dataclass
class KeypointConfig:
    """How to run a top-down heatmap model (plain data: nodes fill it from parameters)."""

    #: Model input ``(height, width)``; None takes it from the model (it must then be static).
    input_hw: Optional[Tuple[int, int]] = None
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    box_padding: float = BOX_PADDING
    #: ``quarter`` (quarter-offset), ``dark`` (DARK) or ``argmax``.
    decode: str = 'quarter'
    flip_test: bool = False
    #: ``auto`` (CUDA when pycuda and a GPU are present), ``cpu`` or ``cuda``.
    device: str = 'auto'
    device_id: int = 0
    keypoint_names: Sequence[str] = COCO_KEYPOINT_NAMES
    skeleton: Sequence[Tuple[int, int]] = COCO_SKELETON
    flip_pairs: Sequence[Tuple[int, int]] = COCO_FLIP_PAIRS


@dataclass
class PoseInstances:
    """The people of one image: boxes, instance scores and ``(N, K, 3)`` keypoints (x, y, s)."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    names: Sequence[str] = COCO_KEYPOINT_NAMES
    skeleton: Sequence[Tuple[int, int]] = COCO_SKELETON
    timings: Dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def select(self, mask: np.ndarray) -> 'PoseInstances':
        return PoseInstances(self.boxes[mask], self.scores[mask], self.keypoints[mask],
                             self.names, self.skeleton, self.timings)

    def to_json(self, digits: int = 2) -> List[Dict[str, Any]]:
        """``[{"bbox": [x1, y1, x2, y2], "score": s, "keypoints": [[x, y, s], ...]}, ...]``."""
        return [{'bbox': [round(float(v), digits) for v in box],
                 'score': round(float(score), 5),
                 'keypoints': [[round(float(x), digits), round(float(y), digits),
                                round(float(s), 5)] for x, y, s in points]}
                for box, score, points in zip(self.boxes, self.scores, self.keypoints)]


def _static_dim(value: object) -> Optional[int]:
    if isinstance(value, (int, np.integer)) and int(value) > 0:
        return int(value)
    return None


class KeypointEstimator:
    """Person boxes + image → :class:`PoseInstances`, on the CPU or with CUDA kernels."""

    def __init__(self, engine: InferenceEngine, config: Optional[KeypointConfig] = None) -> None:
        self.engine = engine
        self.config = config = config or KeypointConfig()
        if config.decode not in DECODE_METHODS:
            raise ValueError("decode must be one of %s, not '%s'"
                             % (', '.join(DECODE_METHODS), config.decode))
        if len(engine.inputs) != 1 or len(engine.outputs) < 1:
            raise ModelError('a heatmap keypoint model has one input and a heatmap output; this '
                             'one has %d inputs and %d outputs'
                             % (len(engine.inputs), len(engine.outputs)))
        in_spec, out_spec = engine.inputs[0], engine.outputs[0]
        self.input_name = in_spec.name
        self.output_name = out_spec.name
        if len(in_spec.shape) != 4 or len(out_spec.shape) != 4:
            raise ModelError('expected a (N, 3, H, W) input and (N, K, h, w) heatmaps, got %s '
                             'and %s' % (in_spec.shape, out_spec.shape))
        model_hw = (_static_dim(in_spec.shape[2]), _static_dim(in_spec.shape[3]))
        if config.input_hw is not None:
            want = (int(config.input_hw[0]), int(config.input_hw[1]))
            if None not in model_hw and model_hw != want:
                raise ModelError('the model has a fixed input of %dx%d (HxW) but input_size asks '
                                 'for %dx%d: set input_size to [%d, %d]'
                                 % (model_hw[0], model_hw[1], want[0], want[1], model_hw[0],
                                    model_hw[1]))
            self.input_hw = want
        elif None in model_hw:
            raise ModelError('the model has a dynamic input size: set input_size '
                             '(e.g. [256, 192])')
        else:
            self.input_hw = (int(model_hw[0]), int(model_hw[1]))  # type: ignore[arg-type]
        heat = [_static_dim(d) for d in out_spec.shape[1:]]
        if None in heat:
            # Dynamic heatmap size: find it by running one blank crop.
            probe = np.zeros((1, 3) + self.input_hw, dtype=np.float32)
            heat = list(self.engine.infer({self.input_name: probe})[self.output_name].shape[1:])
        self.num_keypoints, self.heatmap_hw = int(heat[0]), (int(heat[1]), int(heat[2]))
        self.stride = self.input_hw[0] / self.heatmap_hw[0]
        if abs(self.input_hw[1] / self.heatmap_hw[1] - self.stride) > 1e-6:
            raise ModelError('heatmaps %s do not have one stride to the input %s'
                             % (self.heatmap_hw, self.input_hw))
        if len(config.keypoint_names) != self.num_keypoints:
            raise ModelError('the model outputs %d heatmaps but %d keypoint names are configured'
                             % (self.num_keypoints, len(config.keypoint_names)))
        #: The model's fixed batch size (1 for the shared SimplePose), or None when dynamic.
        self.model_batch = _static_dim(in_spec.shape[0])
        self.flip_perm = flip_permutation(self.num_keypoints, tuple(config.flip_pairs))
        self.device = resolve_device(config.device)
        self.timings = StageTimes()
        self._cuda: Any = None
        if self.device == 'cuda':
            from .cuda_pose import CudaPoseRunner
            self._cuda = CudaPoseRunner(self, config.device_id)

    @classmethod
    def from_model(cls, model_path: str, engine_config: Optional[EngineConfig] = None,
                   config: Optional[KeypointConfig] = None) -> 'KeypointEstimator':
        return cls(create_engine(model_path, engine_config), config)

    # -- stages ----------------------------------------------------------------------------------
    def geometry(self, boxes_xyxy: np.ndarray) -> CropGeometry:
        return boxes_to_crops(boxes_xyxy, self.input_hw, self.config.box_padding)

    def run_model(self, batch: np.ndarray) -> np.ndarray:
        """Heatmaps ``(N, K, h, w)`` of a crop batch; one call per crop for a batch-1 model."""
        count = batch.shape[0]
        out = np.empty((count, self.num_keypoints) + self.heatmap_hw, dtype=np.float32)
        step = self.model_batch or max(count, 1)
        if self.model_batch is not None and self.model_batch != 1 and count % step:
            raise ModelError('the model has a fixed batch of %d: export it with batch 1 or a '
                             'dynamic batch axis' % self.model_batch)
        for start in range(0, count, step):
            result = self.engine.infer({self.input_name: batch[start:start + step]})
            out[start:start + step] = result[self.output_name]
        return out

    def estimate(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> PoseInstances:
        """
        Keypoints of the people in ``boxes_xyxy`` ``(N, 4)`` (source pixels) of one image.

        Instance score = mean of the keypoint peak values.
        """
        if image_bgr is None or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError('expected an (H, W, 3) BGR image, got %s'
                             % (None if image_bgr is None else image_bgr.shape,))
        self.timings.reset()
        geometry = self.geometry(boxes_xyxy)
        count = len(geometry)
        if count == 0:
            keypoints = np.zeros((0, self.num_keypoints, 3), np.float32)
        elif self._cuda is not None:
            keypoints = self._cuda.run(image_bgr, geometry, self.timings)
        else:
            keypoints = self._estimate_cpu(image_bgr, geometry)
        scores = keypoints[:, :, 2].mean(axis=1) if count else np.zeros((0,), np.float32)
        return PoseInstances(geometry.boxes, scores.astype(np.float32), keypoints,
                             tuple(self.config.keypoint_names), tuple(self.config.skeleton),
                             dict(self.timings.ms))

    __call__ = estimate

    def _estimate_cpu(self, image_bgr: np.ndarray, geometry: CropGeometry) -> np.ndarray:
        config = self.config
        with self.timings.stage('pre'):
            batch = crop_persons(image_bgr, geometry, config.mean, config.std)
            if config.flip_test:
                batch = np.concatenate([batch, batch[..., ::-1]])
        with self.timings.stage('infer'):
            heatmaps = self.run_model(batch)
        with self.timings.stage('post'):
            count = len(geometry)
            if config.flip_test:
                heatmaps = merge_flipped(heatmaps[:count], heatmaps[count:], self.flip_perm)
            return decode_heatmaps(heatmaps, geometry.to_source, self.stride, config.decode)

    def close(self) -> None:
        if self._cuda is not None:
            self._cuda.close()
            self._cuda = None
        self.engine.close()
