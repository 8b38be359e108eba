"""
Top-down pose pre-processing: person box → fixed-aspect crop → normalised model input.

Geometry (SimpleBaseline's): the box is widened or heightened to the input's aspect ratio
(3:4 for 256×192), enlarged ×1.25 about its centre, and mapped onto the input so that the box
centre lands on ``(W/2, H/2)``; the heatmap of stride 4 maps back with ``x_in = 4 · x_hm``.

Pixel conventions: boxes come in continuous coordinates (0 is the left edge of the first pixel),
as COCO and the detector give them; the crop, the heatmaps and the keypoints that come out have
pixel centres on integers (as ``cv2.warpAffine`` samples and as COCO labels keypoints), so a box
centre moves by -0.5 px on the way in.

Matrices are kept per person as ``(N, 2, 3)`` float64: ``to_input`` maps source pixels to input
pixels, ``to_source`` maps input pixels back (it is also the matrix the warp samples with).
"""
from __future__ import annotations

from dataclasses import dataclass
import functools
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BOX_PADDING = 1.25


@dataclass
class CropGeometry:
    """Where each person's crop comes from: boxes and the affine maps in both directions."""

    boxes: np.ndarray       # (N, 4) xyxy person boxes in source pixels
    centers: np.ndarray     # (N, 2) crop centres in source pixels (integer pixel centres)
    sizes: np.ndarray       # (N, 2) crop width, height in source pixels (aspect of the input)
    to_input: np.ndarray    # (N, 2, 3) source px -> input px
    to_source: np.ndarray   # (N, 2, 3) input px -> source px
    input_hw: Tuple[int, int]

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def flipped_to_source(self) -> np.ndarray:
        """``to_source`` of the horizontally mirrored crops (input x ↦ W - 1 - x first)."""
        width = self.input_hw[1]
        flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        return self.to_source @ flip


def boxes_to_crops(boxes_xyxy: np.ndarray, input_hw: Tuple[int, int],
                   padding: float = BOX_PADDING) -> CropGeometry:
    """Crop geometry of ``(N, 4)`` xyxy boxes for a model input of ``(height, width)``."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    in_h, in_w = int(input_hw[0]), int(input_hw[1])
    aspect = in_w / in_h
    # Continuous box edges -> integer pixel centres: the box centre moves half a pixel.
    centers = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2 - 0.5,
                        (boxes[:, 1] + boxes[:, 3]) / 2 - 0.5], 1)
    widths = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    # Grow the short side to the input's aspect ratio so the crop is never squashed.
    widths, heights = (np.where(widths > aspect * heights, widths, heights * aspect),
                       np.where(widths > aspect * heights, widths / aspect, heights))
    sizes = np.stack([widths, heights], 1) * padding
    scale = in_w / sizes[:, 0]  # == in_h / sizes[:, 1]
    count = boxes.shape[0]
    to_input = np.zeros((count, 2, 3))
    to_input[:, 0, 0] = scale
    to_input[:, 1, 1] = scale
    to_input[:, 0, 2] = in_w / 2.0 - scale * centers[:, 0]
    to_input[:, 1, 2] = in_h / 2.0 - scale * centers[:, 1]
    to_source = np.zeros((count, 2, 3))
    to_source[:, 0, 0] = 1.0 / scale
    to_source[:, 1, 1] = 1.0 / scale
    to_source[:, 0, 2] = centers[:, 0] - in_w / 2.0 / scale
    to_source[:, 1, 2] = centers[:, 1] - in_h / 2.0 / scale
    return CropGeometry(boxes.astype(np.float32), centers, sizes, to_input, to_source,
                        (in_h, in_w))


def frame_box(width: int, height: int) -> np.ndarray:
    """Return the whole frame as one person box (``use_detections: false``)."""
    return np.array([[0.0, 0.0, float(width), float(height)]], dtype=np.float32)


def normalisation_constants(mean: Sequence[float] = IMAGENET_MEAN,
                            std: Sequence[float] = IMAGENET_STD
                            ) -> Tuple[np.ndarray, np.ndarray]:
    """
    Per-channel ``scale, offset`` so that ``x * scale + offset == (x / 255 - mean) / std``.

    ``mean`` and ``std`` are RGB on the 0..1 scale; a std of 0 is refused.
    """
    mean_arr = np.asarray(mean, dtype=np.float64).reshape(3)
    std_arr = np.asarray(std, dtype=np.float64).reshape(3)
    if np.any(std_arr <= 0):
        raise ValueError('std must be positive, got %s' % list(std_arr))
    scale = 1.0 / (255.0 * std_arr)
    return scale.astype(np.float32), (-mean_arr / std_arr).astype(np.float32)


def crop_persons(image_bgr: np.ndarray, geometry: CropGeometry,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Warp every crop of ``geometry`` out of ``image_bgr`` into an ``(N, 3, H, W)`` RGB batch.

    Bilinear sampling, black outside the image (``cv2.warpAffine``), then
    ``(x / 255 - mean) / std``. ``out`` may be a preallocated float32 array of that shape.
    """
    in_h, in_w = geometry.input_hw
    count = len(geometry)
    if out is None:
        out = np.empty((count, 3, in_h, in_w), dtype=np.float32)
    scale, offset = normalisation_constants(mean, std)
    for index in range(count):
        crop = warp_crop(image_bgr, geometry.to_source[index], geometry.input_hw)
        # BGR HWC -> RGB CHW with the normalisation folded into one multiply-add per channel.
        for channel in range(3):
            np.multiply(crop[:, :, 2 - channel], scale[channel], out=out[index, channel])
            out[index, channel] += offset[channel]
    return out


@functools.lru_cache(maxsize=None)
def opencv_warp_is_fixed_point() -> bool:
    """
    Tell whether this OpenCV's ``warpAffine`` rounds sample positions to 1/32 px.

    OpenCV 4 does (INTER_BITS fixed point); OpenCV 5 samples at the exact position. Found by
    warping a black/white step 0.01 px: 1/32-px positions see only the black pixel.
    """
    step = np.zeros((2, 2, 3), np.uint8)
    step[:, 1] = 255
    shifted = warp_crop(step, np.array([[1.0, 0.0, 0.01], [0.0, 1.0, 0.0]]), (1, 1))
    return int(shifted[0, 0, 0]) == 0


def warp_crop(image_bgr: np.ndarray, to_source: np.ndarray,
              input_hw: Tuple[int, int]) -> np.ndarray:
    """One uint8 crop: ``cv2.warpAffine`` sampling the source at ``to_source`` · (x, y, 1)."""
    return cv2.warpAffine(image_bgr, np.asarray(to_source, dtype=np.float64),
                          (int(input_hw[1]), int(input_hw[0])),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
