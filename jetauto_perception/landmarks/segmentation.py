"""
MediaPipe Tasks image segmenter with the selfie segmenter: the person mask of an image.

``MediaPipeSegmenter(model_path)`` runs ``ImageSegmenter`` on BGR images (running modes:
``landmarks.task_runner``) and returns a :class:`SegmentationResult`: the ``(H, W)`` float32
confidence (0-1) that each pixel is a person, at the image's size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np

from .task_runner import MediaPipeTask

TASK = 'selfie_segmentation'
DEFAULT_MODEL = 'selfie_segmenter.tflite'


@dataclass
class SegmenterOptions:
    """Nothing to choose: the confidence mask of the model's one class (the person)."""

    def check(self) -> 'SegmenterOptions':
        return self


@dataclass
class SegmentationResult:
    """The person confidence of each pixel, and how MediaPipe ran (``video`` or ``image``)."""

    mask: np.ndarray
    width: int
    height: int
    mode: str
    timestamp_ms: Optional[int] = None
    _masks_u8: Dict[float, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def mask_u8(self, threshold: float = 0.0) -> np.ndarray:
        """
        ``(H, W)`` uint8: the confidence as 0-255, or 0 / 255 at ``threshold`` when > 0.

        Computed once per threshold (the message and the annotated image share it).
        """
        if threshold not in self._masks_u8:
            self._masks_u8[threshold] = (
                cv2.compare(self.mask, float(threshold), cv2.CMP_GE) if threshold > 0.0
                else cv2.convertScaleAbs(self.mask, alpha=255.0))  # rounded, saturated
        return self._masks_u8[threshold]

    @property
    def person_fraction(self) -> float:
        """The share of the image's pixels that are more likely person than background."""
        return float((self.mask > 0.5).mean()) if self.mask.size else 0.0


def replace_background(image: np.ndarray, mask_u8: np.ndarray, blur: int = 31) -> np.ndarray:
    """``image`` with its background blurred (a ``blur`` px box), blended by the 0-255 mask."""
    background = cv2.blur(image, (blur, blur))
    alpha = (mask_u8.astype(np.float32) / 255.0)[..., None]
    return (image * alpha + background * (1.0 - alpha) + 0.5).astype(np.uint8)


class MediaPipeSegmenter(MediaPipeTask):
    """The person mask (selfie segmenter) of BGR images."""

    task = TASK
    kind = 'image segmenter model'
    default_model = DEFAULT_MODEL
    calls = ('segment', 'segment_for_video')

    def __init__(self, model_path: str, options: Optional[SegmenterOptions] = None) -> None:
        super().__init__(model_path, options or SegmenterOptions())

    def task_options(self, base_options: Any, running_mode: Any) -> Tuple[Any, Any]:
        return self._vision.ImageSegmenter, self._vision.ImageSegmenterOptions(
            base_options=base_options, running_mode=running_mode,
            output_confidence_masks=True, output_category_mask=False)

    def __enter__(self) -> 'MediaPipeSegmenter':
        return self

    def segment(self, image_bgr: np.ndarray,
                timestamp_ms: Optional[int] = None) -> SegmentationResult:
        """Segment the person in one ``(H, W, 3)`` uint8 BGR image; the stamp selects the mode."""
        raw, mode = self.run(image_bgr, timestamp_ms)
        height, width = image_bgr.shape[:2]
        masks = raw.confidence_masks or []
        if masks:
            mask = np.array(masks[0].numpy_view(), dtype=np.float32).reshape(height, width)
        else:
            mask = np.zeros((height, width), np.float32)
        self.converted()
        return SegmentationResult(mask, width, height, mode, timestamp_ms)
