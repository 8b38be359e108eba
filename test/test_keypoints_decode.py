"""Numpy heatmap decoding and crop geometry of the keypoint pipeline (no model needed)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from jetauto_perception.keypoints.coco17 import flip_permutation
from jetauto_perception.keypoints.crop import (boxes_to_crops, crop_persons, frame_box,
                                               normalisation_constants, opencv_warp_is_fixed_point,
                                               warp_crop)
from jetauto_perception.keypoints.heatmap_decode import (dark_offsets, dark_patches,
                                                         decode_heatmaps, gaussian_blur_heatmaps,
                                                         heatmap_argmax, merge_flipped,
                                                         quarter_offsets)


def gaussian_heatmaps(centres: np.ndarray, shape=(64, 48), sigma: float = 2.0,
                      amplitude: float = 1.0) -> np.ndarray:
    """(N, K, H, W) Gaussian blobs at sub-pixel ``centres`` (N, K, 2) (x, y)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    cx = centres[..., 0][..., None, None]
    cy = centres[..., 1][..., None, None]
    return (amplitude * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2))
            ).astype(np.float32)


def identity_affines(count: int) -> np.ndarray:
    return np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (count, 1, 1))


def test_argmax_takes_the_first_maximum_like_numpy():
    heatmaps = np.zeros((1, 2, 4, 5), np.float32)
    heatmaps[0, 0, 1, 3] = heatmaps[0, 0, 2, 1] = 1.0  # tie: row-major first is (x3, y1)
    heatmaps[0, 1] = -1.0
    px, py, peak = heatmap_argmax(heatmaps)
    assert (px[0, 0], py[0, 0], peak[0, 0]) == (3, 1, 1.0)
    assert (px[0, 1], py[0, 1], peak[0, 1]) == (0, 0, -1.0)


def test_quarter_offset_moves_toward_the_larger_neighbour_and_not_at_edges():
    heatmaps = np.zeros((1, 3, 8, 8), np.float32)
    heatmaps[0, 0, 4, 4], heatmaps[0, 0, 4, 5], heatmaps[0, 0, 3, 4] = 1.0, 0.5, 0.2
    heatmaps[0, 1, 0, 7] = 1.0  # corner: no neighbour pair on either axis
    heatmaps[0, 1, 1, 7] = 0.9
    heatmaps[0, 2, 5, 2] = 1.0  # symmetric neighbours: no offset
    px, py, _ = heatmap_argmax(heatmaps)
    offsets = quarter_offsets(heatmaps, px, py)
    np.testing.assert_array_equal(offsets[0], [[0.25, -0.25], [0.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize('method,tolerance', [('argmax', 0.5), ('quarter', 0.26), ('dark', 0.03)])
def test_decoders_recover_a_subpixel_gaussian_peak(method, tolerance):
    rng = np.random.default_rng(1)
    centres = np.stack([rng.uniform(4, 43, (6, 17)), rng.uniform(4, 59, (6, 17))], axis=-1)
    heatmaps = gaussian_heatmaps(centres)
    keypoints = decode_heatmaps(heatmaps, identity_affines(6), stride=1.0, method=method)
    error = np.abs(keypoints[..., :2] - centres)
    assert error.max() <= tolerance
    np.testing.assert_allclose(keypoints[..., 2], heatmaps.reshape(6, 17, -1).max(-1))


def test_dark_beats_quarter_offset_on_average():
    rng = np.random.default_rng(2)
    centres = np.stack([rng.uniform(4, 43, (8, 17)), rng.uniform(4, 59, (8, 17))], axis=-1)
    heatmaps = gaussian_heatmaps(centres, sigma=2.5)
    heatmaps += rng.normal(0, 0.01, heatmaps.shape).astype(np.float32)
    errors = {}
    for method in ('quarter', 'dark'):
        out = decode_heatmaps(heatmaps, identity_affines(8), 1.0, method)
        errors[method] = np.linalg.norm(out[..., :2] - centres, axis=-1).mean()
    assert errors['dark'] < 0.5 * errors['quarter']


def test_dark_windowed_blur_equals_blurring_the_whole_heatmap():
    rng = np.random.default_rng(3)
    heatmaps = rng.normal(0.1, 0.3, (3, 17, 64, 48)).astype(np.float32)
    px = rng.integers(0, 48, (3, 17))
    py = rng.integers(0, 64, (3, 17))
    patches = dark_patches(heatmaps, px, py).reshape(3, 17, 5, 5)
    full = gaussian_blur_heatmaps(heatmaps)
    compared = 0
    for n in range(3):
        for k in range(17):
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    y, x = py[n, k] + dy, px[n, k] + dx
                    if 0 <= y < 64 and 0 <= x < 48:  # the whole-heatmap blur stops at the edge
                        assert abs(patches[n, k, dy + 2, dx + 2] - full[n, k, y, x]) < 1e-9
                        compared += 1
    assert compared > 1000


def test_dark_keeps_the_peak_without_room_or_without_a_maximum():
    heatmaps = np.zeros((1, 2, 16, 16), np.float32)
    heatmaps[0, 0, 1, 8] = 1.0  # one row from the top: no ±2 room
    heatmaps[0, 1] = -1.0       # flat and negative: the log surface is flat (det = 0)
    px, py, _ = heatmap_argmax(heatmaps)
    np.testing.assert_array_equal(dark_offsets(heatmaps, px, py), 0.0)


def test_decode_maps_through_stride_and_affine():
    centres = np.array([[[10.0, 20.0]]])
    heatmaps = gaussian_heatmaps(centres)[:, :1]
    affine = np.array([[[0.5, 0.0, 100.0], [0.0, 0.5, -3.0]]])
    out = decode_heatmaps(heatmaps, affine, stride=4.0, method='argmax')
    np.testing.assert_allclose(out[0, 0, :2], [0.5 * 40 + 100, 0.5 * 80 - 3])


def test_decode_rejects_bad_input():
    with pytest.raises(ValueError, match='decode method'):
        decode_heatmaps(np.zeros((1, 1, 4, 4)), identity_affines(1), method='soft')
    with pytest.raises(ValueError, match=r'\(N, K, H, W\)'):
        decode_heatmaps(np.zeros((4, 4)), identity_affines(1))
    assert decode_heatmaps(np.zeros((0, 17, 64, 48)), identity_affines(0)).shape == (0, 17, 3)


def test_flip_merge_of_a_mirrored_model_is_the_original():
    """A model that is exactly mirror-equivariant on the shifted grid gives back its heatmaps."""
    rng = np.random.default_rng(4)
    heatmaps = rng.random((2, 17, 8, 6)).astype(np.float32)
    perm = flip_permutation(17)
    flipped = np.empty_like(heatmaps)
    # What merge_flipped undoes: a one-column shift left, mirror, swap left and right.
    shifted = np.concatenate([heatmaps[..., 1:], heatmaps[..., -1:]], axis=-1)
    flipped[:, perm] = shifted[..., ::-1]
    merged = merge_flipped(heatmaps, flipped, perm)
    np.testing.assert_allclose(merged[..., 1:], heatmaps[..., 1:], atol=1e-7)
    assert set(perm[[1, 2, 15, 16]]) == {2, 1, 16, 15} and perm[0] == 0


def test_crop_geometry_is_3_to_4_enlarged_and_centred():
    boxes = np.array([[100.0, 50.0, 200.0, 450.0], [0.0, 0.0, 300.0, 100.0]])
    geometry = boxes_to_crops(boxes, (256, 192))
    # 100x400 gets wider, 300x100 taller: both become 300x400, then x1.25.
    np.testing.assert_allclose(geometry.sizes, [[375.0, 500.0], [375.0, 500.0]])
    np.testing.assert_allclose(geometry.centers[0], [149.5, 249.5])
    for i in range(2):
        forward = np.vstack([geometry.to_input[i], [0, 0, 1]])
        back = np.vstack([geometry.to_source[i], [0, 0, 1]])
        np.testing.assert_allclose(forward @ back, np.eye(3), atol=1e-12)
        centre = forward @ np.array([*geometry.centers[i], 1.0])
        np.testing.assert_allclose(centre[:2], [96.0, 128.0])
    np.testing.assert_array_equal(frame_box(640, 480), [[0, 0, 640, 480]])


def test_crop_persons_warps_and_normalises_rgb():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    geometry = boxes_to_crops(np.array([[10.0, 20.0, 70.0, 110.0]]), (64, 48))
    batch = crop_persons(image, geometry)
    crop = cv2.warpAffine(image, geometry.to_source[0], (48, 64),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = ((crop[:, :, ::-1] / 255.0 - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(batch[0], expected, atol=1e-5)
    with pytest.raises(ValueError, match='std'):
        normalisation_constants(std=(0.2, 0.0, 0.2))


def reference_warp(image: np.ndarray, to_source: np.ndarray, out_hw,
                   fixed_point: bool) -> np.ndarray:
    """
    Bilinear ``warpAffine`` (WARP_INVERSE_MAP, black border) in float64 numpy, not rounded.

    ``fixed_point``: sample positions as OpenCV 4's fixed-point code makes them (row and column
    terms rounded to 1/1024 px, a half step added, cut to 1/32 px); else exact (OpenCV 5).
    """
    h, w = image.shape[:2]
    m = np.asarray(to_source, dtype=np.float64)
    ys, xs = np.mgrid[0:out_hw[0], 0:out_hw[1]]
    if fixed_point:
        fx = (np.rint((m[0, 1] * ys + m[0, 2]) * 1024).astype(np.int64) + 16
              + np.rint(m[0, 0] * xs * 1024).astype(np.int64)) >> 5
        fy = (np.rint((m[1, 1] * ys + m[1, 2]) * 1024).astype(np.int64) + 16
              + np.rint(m[1, 0] * xs * 1024).astype(np.int64)) >> 5
        x0, y0 = fx >> 5, fy >> 5
        ax, ay = (fx & 31) / 32.0, (fy & 31) / 32.0
    else:
        sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
        ax, ay = sx - x0, sy - y0
    ax, ay = ax[..., None], ay[..., None]

    def pixel(yy, xx):
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        return image[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)] * inside[..., None]

    top = pixel(y0, x0) * (1 - ax) + pixel(y0, x0 + 1) * ax
    bottom = pixel(y0 + 1, x0) * (1 - ax) + pixel(y0 + 1, x0 + 1) * ax
    return top * (1 - ay) + bottom * ay


def test_reference_warp_matches_this_opencv():
    """The model of cv2's sampling (both kinds) the CUDA crop is also checked against."""
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    image[::7] = 255  # sharp edges, where a 1/32 px difference shows
    for _ in range(6):
        scale = rng.uniform(0.2, 3.0)
        to_source = np.array([[scale, 0.0, rng.uniform(-30, 60)],
                              [0.0, scale, rng.uniform(-30, 80)]])
        reference = warp_crop(image, to_source, (64, 48)).astype(np.float64)
        ours = reference_warp(image, to_source, (64, 48), opencv_warp_is_fixed_point())
        assert np.abs(ours - reference).max() <= 0.51  # cv2 rounds to uint8 (float32 weights)
        other = reference_warp(image, to_source, (64, 48), not opencv_warp_is_fixed_point())
        assert np.abs(other - reference).max() > 1.0  # the two kinds do differ on edges
