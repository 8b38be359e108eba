#!/usr/bin/env python3
"""
Benchmark the keypoint pipeline's CUDA kernels against the numpy / cv2 reference.

Decode of ``(N, 17, 64, 48)`` heatmaps (N = 1, 8, 32) that are already in GPU memory, where
TensorRT leaves them:
  * CUDA: ``decode_heatmaps`` kernel + one copy of the ``(N, 17, 3)`` results + synchronise;
  * numpy: copy the heatmaps back (page-locked buffer), then ``heatmap_decode.decode_heatmaps``;
  * for DARK also the conventional CPU form: cv2 blur of every whole heatmap, then the step.
Crop + normalise of N person boxes out of a 1920x1080 frame into the ``(N, 3, 256, 192)``
input: cv2 (``crop_persons``) vs the CUDA kernel (frame already on the GPU; and with the frame's
upload from an ordinary numpy array).

With ``--cpu-only`` (no pycuda needed) it times the numpy / cv2 side alone, e.g. on the 2-core
development machine. Writes a markdown fragment (``--output``); ratios come from one run.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from typing import Callable, List, Tuple

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from gpu_detector import gpu_ms  # noqa: E402,I100
from gpu_detector import wall_ms
from machine import cpu_model

from jetauto_perception.engines.cuda_context import cuda_available  # noqa: E402,I201
from jetauto_perception.engines.cuda_context import CudaContext
from jetauto_perception.keypoints.crop import boxes_to_crops  # noqa: E402
from jetauto_perception.keypoints.crop import (crop_persons, normalisation_constants,
                                               opencv_warp_is_fixed_point)
from jetauto_perception.keypoints.heatmap_decode import dark_offsets_from_patches  # noqa: E402
from jetauto_perception.keypoints.heatmap_decode import (decode_heatmaps, gaussian_blur_heatmaps,
                                                         heatmap_argmax, heatmap_to_source)

SHARED = os.environ.get('JETAUTO_SHARED_DIR',
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                     'shared'))
BATCHES = (1, 8, 32)
HEATMAP = (17, 64, 48)


def model_like_heatmaps(rng: np.random.Generator, count: int) -> np.ndarray:
    """Gaussian peaks (sigma 2) at random sub-pixel places plus noise, like a model's output."""
    k, h, w = HEATMAP
    ys, xs = np.mgrid[0:h, 0:w]
    cx = rng.uniform(2, w - 3, (count, k, 1, 1))
    cy = rng.uniform(2, h - 3, (count, k, 1, 1))
    peaks = rng.uniform(0.3, 1.0, (count, k, 1, 1))
    maps = peaks * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 8.0)
    return (maps + rng.normal(0, 0.01, maps.shape)).astype(np.float32)


def conventional_dark(heatmaps: np.ndarray, to_source: np.ndarray) -> np.ndarray:
    """DARK as its reference code does it: blur every whole heatmap (cv2), then the step."""
    n, k, h, w = heatmaps.shape
    px, py, peak = heatmap_argmax(heatmaps)
    blurred = np.pad(gaussian_blur_heatmaps(heatmaps), ((0, 0), (0, 0), (2, 2), (2, 2)))
    flat_x, flat_y = px.reshape(-1) + 2, py.reshape(-1) + 2
    maps = blurred.reshape(n * k, h + 4, w + 4)
    rows = flat_y[:, None] + np.arange(-2, 3)
    cols = flat_x[:, None] + np.arange(-2, 3)
    patches = maps[np.arange(n * k)[:, None, None], rows[:, :, None], cols[:, None, :]]
    valid = (flat_x >= 4) & (flat_x <= w - 1) & (flat_y >= 4) & (flat_y <= h - 1)
    offsets = dark_offsets_from_patches(patches, valid).reshape(n, k, 2)
    out = np.empty((n, k, 3), np.float32)
    out[..., :2] = heatmap_to_source(np.stack([px, py], -1) + offsets, to_source, 4.0)
    out[..., 2] = peak
    return out


def person_boxes(rng: np.random.Generator, count: int) -> np.ndarray:
    x1 = rng.uniform(0, 1700, count)
    y1 = rng.uniform(0, 600, count)
    return np.stack([x1, y1, x1 + rng.uniform(80, 300, count),
                     y1 + rng.uniform(200, 480, count)], 1)


def table(title: str, header: Tuple[str, ...], rows: List[Tuple[object, ...]]) -> str:
    lines = ['**%s**' % title, '', '| ' + ' | '.join(header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(
            ('%.4f' % v if isinstance(v, float) and v < 0.1 else
             '%.3f' % v if isinstance(v, float) and v < 10 else
             '%.1f' % v if isinstance(v, float) else str(v)) for v in row) + ' |')
    return '\n'.join(lines) + '\n'


def run_cpu(iterations: int) -> Tuple[List[Tuple[object, ...]], List[Tuple[object, ...]]]:
    rng = np.random.default_rng(0)
    decode_rows: List[Tuple[object, ...]] = []
    frame = test_frame()
    for batch in BATCHES:
        heatmaps = model_like_heatmaps(rng, batch)
        affine = boxes_to_crops(person_boxes(rng, batch), (256, 192)).to_source
        row: List[object] = [batch]
        for run in (lambda: decode_heatmaps(heatmaps, affine, 4.0, 'quarter'),
                    lambda: decode_heatmaps(heatmaps, affine, 4.0, 'dark'),
                    lambda: conventional_dark(heatmaps, affine)):
            row.append(wall_ms(run, iterations)[0])
        geometry = boxes_to_crops(person_boxes(rng, batch), (256, 192))
        row.append(wall_ms(lambda: crop_persons(frame, geometry), max(iterations // 4, 20))[0])
        decode_rows.append(tuple(row))
    return decode_rows, []


def test_frame() -> np.ndarray:
    path = os.path.join(SHARED, 'data', 'coco_kpts', '000000197388.jpg')
    image = cv2.imread(path)
    if image is None:
        image = np.random.default_rng(0).integers(0, 256, (392, 640, 3), dtype=np.uint8)
    return cv2.resize(image, (1920, 1080), interpolation=cv2.INTER_CUBIC)


def run_gpu(iterations: int) -> Tuple[List[Tuple[object, ...]], List[Tuple[object, ...]], str]:
    import pycuda.driver as cuda

    from jetauto_perception.keypoints.cuda_pose import CudaPoseKernels
    rng = np.random.default_rng(0)
    context = CudaContext.get(0)
    decode_rows: List[Tuple[object, ...]] = []
    crop_rows: List[Tuple[object, ...]] = []
    frame = test_frame()
    scale, offset = normalisation_constants()
    with context.active():
        kernels = CudaPoseKernels(0)
        stream = cuda.Stream()
        perm = cuda.to_device(np.arange(17, dtype=np.int32))
        frame_device = cuda.to_device(frame)
        for batch in BATCHES:
            heatmaps = model_like_heatmaps(rng, batch)
            affine = boxes_to_crops(person_boxes(rng, batch), (256, 192)).to_source
            maps_device = cuda.to_device(heatmaps)
            affine_device = cuda.to_device(affine.reshape(batch, 6).astype(np.float64))
            out_device = cuda.mem_alloc(batch * 17 * 3 * 4)
            result = cuda.pagelocked_empty((batch, 17, 3), np.float32)
            staged = cuda.pagelocked_empty(heatmaps.shape, np.float32)

            def gpu_decode(method: str) -> Callable[[], object]:
                def run() -> object:
                    kernels.decode(maps_device, None, perm, affine_device, out_device, batch, 17,
                                   (64, 48), 4.0, method, stream=stream)
                    cuda.memcpy_dtoh_async(result, out_device, stream)
                    stream.synchronize()
                    return result
                return run

            def cpu_decode(method: str) -> Callable[[], object]:
                def run() -> object:
                    cuda.memcpy_dtoh_async(staged, maps_device, stream)
                    stream.synchronize()
                    if method == 'conventional':
                        return conventional_dark(staged, affine)
                    return decode_heatmaps(staged, affine, 4.0, method)
                return run

            def kernel_only(method: str) -> Callable[[], object]:
                return lambda: kernels.decode(maps_device, None, perm, affine_device, out_device,
                                              batch, 17, (64, 48), 4.0, method, stream=stream)

            row: List[object] = [batch]
            for method in ('quarter', 'dark'):
                numpy_ms = wall_ms(cpu_decode(method), iterations)[0]
                cuda_ms = wall_ms(gpu_decode(method), iterations)[0]
                row += [numpy_ms, cuda_ms, gpu_ms(kernel_only(method), stream, iterations),
                        numpy_ms / cuda_ms]
            conventional = wall_ms(cpu_decode('conventional'), max(iterations // 4, 20))[0]
            row += [conventional, conventional / row[6]]
            decode_rows.append(tuple(row))

            geometry = boxes_to_crops(person_boxes(rng, batch), (256, 192))
            matrices = cuda.to_device(geometry.to_source.reshape(batch, 6).astype(np.float64))
            crops = cuda.mem_alloc(batch * 3 * 256 * 192 * 4)

            def gpu_crop(upload: bool, fixed_point: bool) -> Callable[[], object]:
                def run() -> object:
                    if upload:
                        cuda.memcpy_htod_async(frame_device, frame, stream)
                    kernels.crop(frame_device, (1080, 1920), 1920 * 3, matrices, batch, crops,
                                 (256, 192), scale, offset, stream, fixed_point)
                    stream.synchronize()
                    return None
                return run

            cv2_ms = wall_ms(lambda: crop_persons(frame, geometry), max(iterations // 4, 20))[0]
            exact_ms = wall_ms(gpu_crop(False, False), iterations)[0]
            fixed_ms = wall_ms(gpu_crop(False, True), iterations)[0]
            upload_ms = wall_ms(gpu_crop(True, opencv_warp_is_fixed_point()), iterations)[0]
            crop_rows.append((batch, cv2_ms, exact_ms, fixed_ms, upload_ms,
                              cv2_ms / (fixed_ms if opencv_warp_is_fixed_point() else exact_ms),
                              cv2_ms / upload_ms))
        name = context.name
    return decode_rows, crop_rows, name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--iterations', type=int, default=300)
    parser.add_argument('--cpu-only', action='store_true',
                        help='time only the numpy / cv2 side (no GPU needed)')
    parser.add_argument('--output', default='', help='markdown file to write')
    args = parser.parse_args()
    machine = '%s, %d cores; numpy %s, OpenCV %s (%d threads), Python %s; %s' % (
        cpu_model(), os.cpu_count() or 0, np.__version__, cv2.__version__, cv2.getNumThreads(),
        platform.python_version(), datetime.date.today().isoformat())
    parts: List[str] = []
    if args.cpu_only:
        rows, _ = run_cpu(args.iterations)
        parts.append(table(
            'numpy / cv2 only, median ms (%s)' % machine,
            ('batch', 'decode quarter', 'decode DARK (windowed)', 'DARK, whole-heatmap cv2 blur',
             'crop + normalise (cv2), 1920x1080 frame'), rows))
    else:
        ok, reason = cuda_available()
        if not ok:
            print('error: this benchmark needs pycuda and a CUDA GPU (%s); --cpu-only times '
                  'the CPU side alone' % reason, file=sys.stderr)
            return 2
        decode_rows, crop_rows, gpu = run_gpu(args.iterations)
        parts.append('GPU: %s. Host: %s.\n' % (gpu, machine))
        parts.append(table(
            'Decode of (N, 17, 64, 48) heatmaps in GPU memory, median wall ms per call',
            ('N', 'quarter: numpy (incl. copy back)', 'quarter: CUDA (incl. results back)',
             'quarter: kernel (events)', 'quarter: speed-up', 'DARK: numpy (incl. copy back)',
             'DARK: CUDA (incl. results back)', 'DARK: kernel (events)', 'DARK: speed-up',
             'DARK: numpy + cv2 whole-heatmap blur', 'DARK: speed-up vs whole-heatmap'),
            decode_rows))
        parts.append(table(
            'Crop + normalise of N boxes from a 1920x1080 BGR frame to (N, 3, 256, 192), '
            'median wall ms',
            ('N', 'cv2 + numpy', 'CUDA, frame on GPU (exact sampling, OpenCV 5)',
             'CUDA, frame on GPU (1/32-px sampling, OpenCV 4)',
             'CUDA incl. frame upload (sampling of this cv2)', 'speed-up (same sampling)',
             'speed-up incl. upload'), crop_rows))
    text = '\n'.join(parts)
    print(text)
    if args.output:
        with open(args.output, 'w') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
