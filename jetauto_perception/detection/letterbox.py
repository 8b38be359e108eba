"""
Letterbox resize (keep aspect ratio, centred padding) and the transform that undoes it.

The geometry matches the one YOLOv5 was trained and validated with: scale so the image fits the
target, round the resized size, split the padding in two with the ``round(d -/+ 0.1)`` rule (the
extra pixel of an odd padding goes to the bottom/right), pad with grey 114.
Not ``cv2.dnn.blobFromImage``: 5.0 ms for this letterbox against 0.55 ms for cv2.resize + the
numpy channel split written into the input tensor (benchmarks/RESULTS.md, detector on CPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

import cv2
import numpy as np

PAD_VALUE = 114

SizeLike = Union[int, Tuple[int, int]]


def as_hw(size: SizeLike) -> Tuple[int, int]:
    """Return ``(height, width)`` for an int (square) or a ``(height, width)`` pair."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    height, width = size
    return int(height), int(width)


@dataclass(frozen=True)
class LetterboxTransform:
    """
    Maps between source-image pixels and letterboxed network-input pixels.

    ``input = source * scale + pad`` on each axis (separate x/y scales because the resized size is
    rounded to whole pixels). Coordinates are continuous pixel coordinates: 0 is the left edge of
    the first pixel and ``width`` the right edge of the last.
    """

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int
    src_width: int
    src_height: int
    dst_width: int
    dst_height: int

    def boxes_to_source(self, boxes: np.ndarray, clip: bool = True) -> np.ndarray:
        """Map ``(N, 4)`` xyxy boxes from input pixels to source pixels (clipped to the image)."""
        out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale_x
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale_y
        if clip:
            np.clip(out[:, 0::2], 0, self.src_width, out=out[:, 0::2])
            np.clip(out[:, 1::2], 0, self.src_height, out=out[:, 1::2])
        return out


def letterbox_transform(src_hw: Tuple[int, int], dst_hw: Tuple[int, int]) -> LetterboxTransform:
    """Compute the letterbox geometry for an image of ``src_hw`` into ``dst_hw``."""
    src_h, src_w = int(src_hw[0]), int(src_hw[1])
    dst_h, dst_w = int(dst_hw[0]), int(dst_hw[1])
    if src_h <= 0 or src_w <= 0:
        raise ValueError('cannot letterbox an empty image (%dx%d)' % (src_w, src_h))
    ratio = min(dst_h / src_h, dst_w / src_w)
    new_w = int(round(src_w * ratio))
    new_h = int(round(src_h * ratio))
    pad_w = (dst_w - new_w) / 2.0
    pad_h = (dst_h - new_h) / 2.0
    left = int(round(pad_w - 0.1))
    top = int(round(pad_h - 0.1))
    return LetterboxTransform(
        scale_x=new_w / src_w, scale_y=new_h / src_h, pad_x=left, pad_y=top,
        src_width=src_w, src_height=src_h, dst_width=dst_w, dst_height=dst_h)


def _resize(image: np.ndarray, transform: LetterboxTransform, interpolation: int) -> np.ndarray:
    """Resize ``image`` to the un-padded size of ``transform`` (no copy when it already is)."""
    new_w = int(round(transform.src_width * transform.scale_x))
    new_h = int(round(transform.src_height * transform.scale_y))
    if (new_w, new_h) == (transform.src_width, transform.src_height):
        return image
    return cv2.resize(image, (new_w, new_h), interpolation=interpolation)


def letterbox(image: np.ndarray, size: SizeLike = 640,
              interpolation: int = cv2.INTER_LINEAR) -> Tuple[np.ndarray, LetterboxTransform]:
    """
    Resize ``image`` (H, W[, C]) into ``size`` keeping its aspect ratio, padding with 114.

    Returns the letterboxed uint8 image and the :class:`LetterboxTransform` that maps boxes back.
    """
    transform = letterbox_transform(image.shape[:2], as_hw(size))
    resized = _resize(image, transform, interpolation)
    new_h, new_w = resized.shape[:2]
    bottom = transform.dst_height - new_h - transform.pad_y
    right = transform.dst_width - new_w - transform.pad_x
    channels = 1 if image.ndim == 2 else image.shape[2]
    padded = cv2.copyMakeBorder(resized, transform.pad_y, bottom, transform.pad_x, right,
                                cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * max(channels, 3))
    return padded, transform


def letterbox_blob(image_bgr: np.ndarray, size: SizeLike = 640,
                   interpolation: int = cv2.INTER_LINEAR,
                   out: np.ndarray | None = None) -> Tuple[np.ndarray, LetterboxTransform]:
    """
    Letterbox a BGR uint8 image into a ``(1, 3, H, W)`` float32 RGB blob scaled to 0..1.

    This is the CPU reference pre-processing of the detector. ``out`` may be a preallocated
    ``(1, 3, H, W)`` float32 array (e.g. an engine's page-locked input buffer) to write into.
    The resized pixels are converted straight into their place in ``out`` and only the border is
    filled with the pad value: no padded uint8 copy and no second pass over the image.
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError('expected an (H, W, 3) uint8 BGR image, got %s %s'
                         % (image_bgr.shape, image_bgr.dtype))
    dst_h, dst_w = as_hw(size)
    transform = letterbox_transform(image_bgr.shape[:2], (dst_h, dst_w))
    resized = _resize(image_bgr, transform, interpolation)
    new_h, new_w = resized.shape[:2]
    if out is None:
        out = np.empty((1, 3, dst_h, dst_w), np.float32)
    planes = out.reshape(3, dst_h, dst_w)
    top, left = transform.pad_y, transform.pad_x
    pad = np.float32(PAD_VALUE / 255.0)
    planes[:, :top, :] = pad
    planes[:, top + new_h:, :] = pad
    planes[:, top:top + new_h, :left] = pad
    planes[:, top:top + new_h, left + new_w:] = pad
    # HWC -> CHW: cv2.split gives contiguous planes (twice as fast as converting through a
    # strided transposed view); each is scaled into its RGB plane while becoming float32.
    scale = np.float32(1.0 / 255.0)
    blue, green, red = cv2.split(resized)
    for plane, channel in zip(planes, (red, green, blue)):
        np.multiply(channel, scale, out=plane[top:top + new_h, left:left + new_w],
                    casting='unsafe')
    return out, transform
