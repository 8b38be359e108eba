"""
The GPU letterbox's arithmetic composed from array operations, and a zero-copy staging variant.

Test and benchmark helpers (not product code): ``letterbox_blob_composed`` runs the kernel's
float resize with numpy (a CPU check against cv2) or CuPy (the benchmark's "same steps from
library operations"); ``StagedLetterbox`` lets a caller write a frame straight into the
page-locked staging buffer, to measure the GPU path without the host copy.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from jetauto_perception.detection.cuda_yolo import CudaLetterbox
from jetauto_perception.detection.letterbox import (as_hw, letterbox_transform,
                                                    LetterboxTransform, PAD_VALUE, SizeLike)


def _linear_taps(new_size: int, src_size: int, xp: Any) -> Tuple[Any, Any, Any]:
    """Source indices (i0, i1) and weight of i1 for each of ``new_size`` outputs (cv2 rule)."""
    position = ((xp.arange(new_size, dtype=xp.float32) + xp.float32(0.5))
                * xp.float32(src_size / new_size) - xp.float32(0.5))
    first = xp.floor(position).astype(xp.int32)
    weight = (position - first).astype(xp.float32)
    before = first < 0
    first[before] = 0
    weight[before] = 0
    after = first >= src_size - 1
    first[after] = src_size - 1
    weight[after] = 0
    return first, xp.minimum(first + 1, src_size - 1), weight


def letterbox_blob_composed(image: Any, size: SizeLike = 640, xp: Any = np,
                            swap_rb: bool = True) -> Tuple[Any, LetterboxTransform]:
    """
    Compose the letterbox kernel's arithmetic from array operations of ``xp``.

    ``xp`` is numpy (a CPU check of the kernel's float resize against cv2) or CuPy (the
    benchmark's "same steps from library operations"). ``image`` is an (H, W, 3) uint8 array of
    that library. Returns a ``(1, 3, H, W)`` float32 blob like :func:`letterbox_blob`.
    """
    src_h, src_w = int(image.shape[0]), int(image.shape[1])
    transform = letterbox_transform((src_h, src_w), as_hw(size))
    new_w = int(round(src_w * transform.scale_x))
    new_h = int(round(src_h * transform.scale_y))
    x0, x1, wx = _linear_taps(new_w, src_w, xp)
    y0, y1, wy = _linear_taps(new_h, src_h, xp)
    wx = wx[None, :, None]
    rows = []
    for y_index in (y0, y1):
        picked = image[y_index]
        left = picked[:, x0].astype(xp.float32)
        right = picked[:, x1].astype(xp.float32)
        rows.append(left + wx * (right - left))
    top, bottom = rows
    value = top + wy[:, None, None] * (bottom - top)
    if swap_rb:
        value = value[:, :, ::-1]
    blob = xp.full((1, 3, transform.dst_height, transform.dst_width), PAD_VALUE / 255.0,
                   dtype=xp.float32)
    blob[0, :, transform.pad_y:transform.pad_y + new_h, transform.pad_x:transform.pad_x + new_w] \
        = value.transpose(2, 0, 1) * xp.float32(1.0 / 255.0)
    return blob, transform


class StagedLetterbox(CudaLetterbox):
    """A :class:`CudaLetterbox` whose callers may fill the staging buffer themselves."""

    def staging_frame(self, height: int, width: int) -> np.ndarray:
        """Return the page-locked ``(height, width, 3)`` uint8 staging array (reused)."""
        self._reserve_frame(height * width * 3)
        assert self._staging is not None
        return self._staging[:height * width * 3].reshape(height, width, 3)

    def _stage(self, image: np.ndarray) -> None:
        staging = self._staging
        if staging is not None and image.flags['C_CONTIGUOUS'] \
                and image.__array_interface__['data'][0] \
                == staging.__array_interface__['data'][0]:
            return  # already there: no host copy
        super()._stage(image)
