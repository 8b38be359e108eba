"""
Heatmap → keypoints, vectorised numpy (the reference the CUDA kernels are checked against).

Input: a batch of heatmaps ``(N, K, H, W)`` (one crop per person, stride ``s`` to the model
input) and each crop's input→source affine ``(N, 2, 3)``. Output: ``(N, K, 3)`` = source-pixel
x, y and the heatmap's peak value as the keypoint score.

Per heatmap: integer argmax (first maximum in row-major order, as ``np.argmax``), then a
sub-pixel refinement:

- ``quarter``: a quarter pixel toward the larger of the two neighbours on each axis
  (SimpleBaseline); needs both neighbours, i.e. ``0 < x < W-1``.
- ``dark``: DARK (Zhang et al., CVPR 2020): blur the heatmap with a Gaussian (zero outside),
  take the log, and step by ``-H⁻¹ ∇`` of its second-order Taylor expansion at the peak.
  Needs ±2 pixels of room (``2 ≤ x ≤ W-3``) and a true maximum there (Hessian negative
  definite), otherwise the peak stays where it is; the blurred values are floored at 1e-3
  before the log and the step is clipped to ±1 pixel per axis (see ``DARK_EPS``). Only the
  5×5 blurred values around each peak are computed; blurring the whole heatmap
  (``gaussian_blur_heatmaps``) gives the same numbers.
- ``argmax``: no refinement.

Then ``x_in = stride · x_hm`` and the affine maps input pixels to source pixels.

Hand-written rather than mmpose's codecs: those need PyTorch and mmcv (gigabytes on a Jetson),
and the windowed DARK here is 4x faster than blurring whole heatmaps with cv2 (0.55 vs 2.2 ms at
batch 8, benchmarks/RESULTS.md).
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

DECODE_METHODS = ('quarter', 'dark', 'argmax')
#: DARK's blur: sigma 2, kernel 11 (radius 5), as in the paper's COCO setting.
DARK_SIGMA = 2.0
DARK_RADIUS = 5
#: Floor under the blurred heatmap before the log. DARK's code uses 1e-10, where the log's slope
#: (1/x) turns float rounding of near-zero blurred values into whole-pixel steps; mmpose's 1e-3
#: keeps it well-conditioned (and equal on CPU and GPU).
DARK_EPS = 1e-3
#: A Newton step longer than this (heatmap pixels, per axis) is clipped: the quadratic model
#: does not reach that far, and the clip keeps the decode a continuous function of the heatmap.
DARK_MAX_STEP = 1.0


def heatmap_argmax(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer peak ``(x, y)`` and peak value of each heatmap: arrays of shape ``(N, K)``."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    index = flat.argmax(axis=2)
    peak = np.take_along_axis(flat, index[..., None], axis=2)[..., 0]
    return index % w, index // w, peak


def quarter_offsets(heatmaps: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """``(N, K, 2)`` offsets of ±0.25 (or 0) toward the larger neighbour on each axis."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * k, h * w)
    rows = np.arange(n * k)
    x = px.reshape(-1)
    y = py.reshape(-1)
    inside_x = (x > 0) & (x < w - 1)
    inside_y = (y > 0) & (y < h - 1)
    base = y * w + x
    right = flat[rows, np.where(inside_x, base + 1, base)]
    left = flat[rows, np.where(inside_x, base - 1, base)]
    down = flat[rows, np.where(inside_y, base + w, base)]
    up = flat[rows, np.where(inside_y, base - w, base)]
    offsets = np.stack([np.sign(right - left) * inside_x, np.sign(down - up) * inside_y], axis=1)
    return (0.25 * offsets).reshape(n, k, 2)


def gaussian_weights(sigma: float = DARK_SIGMA, radius: int = DARK_RADIUS) -> np.ndarray:
    """Normalised 1-D Gaussian taps ``g[-radius..radius]`` (float64)."""
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-taps ** 2 / (2.0 * sigma * sigma))
    return weights / weights.sum()


def dark_patches(heatmaps: np.ndarray, px: np.ndarray, py: np.ndarray,
                 sigma: float = DARK_SIGMA, radius: int = DARK_RADIUS) -> np.ndarray:
    """
    Blurred heatmap values on the 5×5 grid centred on each peak: ``(N*K, 5, 5)`` float64.

    Equal to ``gaussian_blur_heatmaps(...)[y-2:y+3, x-2:x+3]``, but only these 25 values are
    computed (zero padding outside the heatmap).
    """
    n, k, h, w = heatmaps.shape
    reach = radius + 2
    span = np.arange(-reach, reach + 1)
    rows = py.reshape(-1)[:, None] + span  # (M, 2*reach+1) heatmap rows around each peak
    cols = px.reshape(-1)[:, None] + span
    inside = (((rows >= 0) & (rows < h))[:, :, None]
              & ((cols >= 0) & (cols < w))[:, None, :])
    flat = heatmaps.reshape(n * k, h * w)
    index = np.clip(rows, 0, h - 1)[:, :, None] * w + np.clip(cols, 0, w - 1)[:, None, :]
    windows = np.where(inside, np.take_along_axis(flat, index.reshape(n * k, -1), axis=1)
                       .reshape(index.shape), 0.0).astype(np.float64)
    # Separable blur of the window where the whole kernel fits (2r+5 -> 5 per axis): a sum of
    # shifted slices, which stays cheap for small batches (no BLAS thread start-up).
    weights = gaussian_weights(sigma, radius)
    along_x = np.zeros(windows.shape[:2] + (5,))
    for tap, weight in enumerate(weights):
        along_x += weight * windows[:, :, tap:tap + 5]
    blurred = np.zeros((windows.shape[0], 5, 5))
    for tap, weight in enumerate(weights):
        blurred += weight * along_x[:, tap:tap + 5, :]
    return blurred


def gaussian_blur_heatmaps(heatmaps: np.ndarray, sigma: float = DARK_SIGMA,
                           radius: int = DARK_RADIUS) -> np.ndarray:
    """
    Blur every heatmap as a whole (zero outside), the way DARK's reference code does.

    Not used by the decoder (it blurs only around the peak); kept as the conventional baseline
    that tests and benchmarks compare with.
    """
    n, k, h, w = heatmaps.shape
    out = np.empty((n, k, h, w), dtype=np.float64)
    kernel = gaussian_weights(sigma, radius)
    for i in range(n):
        for j in range(k):
            out[i, j] = cv2.sepFilter2D(heatmaps[i, j].astype(np.float64), cv2.CV_64F, kernel,
                                        kernel, borderType=cv2.BORDER_CONSTANT)
    return out


def dark_offsets_from_patches(patches: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """
    Newton step ``-H⁻¹ ∇`` of ``log(blurred)`` at the centre of each 5×5 patch: ``(M, 2)``.

    ``valid`` (M,) marks peaks with ±2 pixels of room; a step is also dropped (0) where the
    Hessian is not negative definite, i.e. the centre is no maximum of the log surface, and
    clipped to ``±DARK_MAX_STEP``.
    """
    logs = np.log(np.maximum(patches, DARK_EPS))
    centre = logs[:, 2, 2]
    dx = 0.5 * (logs[:, 2, 3] - logs[:, 2, 1])
    dy = 0.5 * (logs[:, 3, 2] - logs[:, 1, 2])
    dxx = 0.25 * (logs[:, 2, 4] - 2 * centre + logs[:, 2, 0])
    dyy = 0.25 * (logs[:, 4, 2] - 2 * centre + logs[:, 0, 2])
    dxy = 0.25 * (logs[:, 3, 3] - logs[:, 1, 3] - logs[:, 3, 1] + logs[:, 1, 1])
    det = dxx * dyy - dxy * dxy
    usable = valid & (det > 0) & (dxx < 0)
    safe_det = np.where(usable, det, 1.0)
    step_x = -(dyy * dx - dxy * dy) / safe_det
    step_y = -(dxx * dy - dxy * dx) / safe_det
    steps = np.stack([np.where(usable, step_x, 0.0), np.where(usable, step_y, 0.0)], axis=1)
    return np.clip(steps, -DARK_MAX_STEP, DARK_MAX_STEP)


def dark_offsets(heatmaps: np.ndarray, px: np.ndarray, py: np.ndarray,
                 sigma: float = DARK_SIGMA, radius: int = DARK_RADIUS) -> np.ndarray:
    """``(N, K, 2)`` DARK sub-pixel offsets at the integer peaks ``px, py``."""
    n, k, h, w = heatmaps.shape
    x = px.reshape(-1)
    y = py.reshape(-1)
    valid = (x >= 2) & (x <= w - 3) & (y >= 2) & (y <= h - 3)
    patches = dark_patches(heatmaps, px, py, sigma, radius)
    return dark_offsets_from_patches(patches, valid).reshape(n, k, 2)


def heatmap_to_source(coords_hm: np.ndarray, to_source: np.ndarray, stride: float) -> np.ndarray:
    """Map ``(N, K, 2)`` heatmap coordinates through ``x_in = stride · x_hm`` and the affines."""
    affine = np.asarray(to_source, dtype=np.float64)
    x_in = coords_hm[..., 0] * stride
    y_in = coords_hm[..., 1] * stride
    x = affine[:, 0, 0, None] * x_in + affine[:, 0, 1, None] * y_in + affine[:, 0, 2, None]
    y = affine[:, 1, 0, None] * x_in + affine[:, 1, 1, None] * y_in + affine[:, 1, 2, None]
    return np.stack([x, y], axis=-1)


def decode_heatmaps(heatmaps: np.ndarray, to_source: np.ndarray, stride: float = 4.0,
                    method: str = 'quarter', sigma: float = DARK_SIGMA,
                    radius: int = DARK_RADIUS) -> np.ndarray:
    """Keypoints ``(N, K, 3)`` float32 (source x, y, peak value) of a heatmap batch."""
    if method not in DECODE_METHODS:
        raise ValueError("decode method must be one of %s, not '%s'"
                         % (', '.join(DECODE_METHODS), method))
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if heatmaps.ndim != 4:
        raise ValueError('heatmaps must be (N, K, H, W), got shape %s' % (heatmaps.shape,))
    n, k = heatmaps.shape[:2]
    out = np.zeros((n, k, 3), dtype=np.float32)
    if n == 0:
        return out
    px, py, peak = heatmap_argmax(heatmaps)
    coords = np.stack([px, py], axis=-1).astype(np.float64)
    if method == 'quarter':
        coords += quarter_offsets(heatmaps, px, py)
    elif method == 'dark':
        coords += dark_offsets(heatmaps, px, py, sigma, radius)
    out[..., :2] = heatmap_to_source(coords, to_source, stride)
    out[..., 2] = peak
    return out


def merge_flipped(heatmaps: np.ndarray, flipped: np.ndarray, flip_perm: np.ndarray,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Average heatmaps with those of the mirrored crops (flip test).

    ``flipped`` are the model's heatmaps for the horizontally mirrored crops: mirror them back,
    swap left/right joints (``flip_perm``), shift one column right (SimpleBaseline's
    alignment of the mirrored grid; column 0 keeps its value), and average.
    """
    back = flipped[:, flip_perm, :, ::-1]
    shifted = np.empty_like(back)
    shifted[..., 1:] = back[..., :-1]
    shifted[..., 0] = back[..., 0]
    if out is None:
        out = np.empty(heatmaps.shape, dtype=np.float32)
    np.add(heatmaps, shifted, out=out)
    out *= 0.5
    return out
