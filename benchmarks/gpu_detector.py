#!/usr/bin/env python3
"""
Benchmark the detector's GPU data path against the CPU reference, on one CUDA machine.

Pre-processing of a 1920x1080 BGR frame into a (1, 3, 640, 640) float32 blob:
  * cv2 + numpy (``letterbox_blob``, the CPU path), all cv2 threads and one thread;
  * the pycuda kernel (``CudaLetterbox``): kernel alone on a frame already on the GPU, from a
    page-locked frame (upload + kernel), from an ordinary numpy frame (host copy + upload +
    kernel), and back to a host blob (what an ONNX Runtime engine needs);
  * the same steps composed from CuPy operations (``letterbox_blob_composed(xp=cupy)``, in
    test/letterbox_reference.py with ``StagedLetterbox``, the staging-buffer variant).
Decoding YOLOv5n's (25200, 85) output (ONNX Runtime on bus.jpg): numpy ``yolov5_candidates`` vs
``CudaYoloDecoder`` (kernel + copy of the survivors + one synchronisation), and with NMS.

Writes a markdown fragment (``--output``). Ratios are measured in one run on one machine.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from typing import Callable, List, Tuple

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test'))

from machine import cpu_model  # noqa: E402,I100,I201,I202  (the script's own folder)

from jetauto_perception.detection.cuda_yolo import CudaLetterbox  # noqa: E402
from jetauto_perception.detection.cuda_yolo import CudaYoloDecoder
from jetauto_perception.detection.letterbox import letterbox_blob  # noqa: E402
from jetauto_perception.detection.yolov5 import decode_yolov5  # noqa: E402
from jetauto_perception.detection.yolov5 import select_detections, yolov5_candidates
from jetauto_perception.engines.base import EngineConfig
from jetauto_perception.engines.cuda_context import cuda_available  # noqa: E402
from jetauto_perception.engines.cuda_context import CudaContext
from jetauto_perception.engines.factory import create_engine  # noqa: E402
from letterbox_reference import letterbox_blob_composed, StagedLetterbox  # noqa: E402

SHARED = os.environ.get('JETAUTO_SHARED_DIR',
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                     'shared'))


def wall_ms(run: Callable[[], object], iterations: int, warmup: int = 10) -> Tuple[float, float]:
    """Median and mean wall-clock milliseconds of ``run()`` (which must synchronise itself)."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), statistics.fmean(times)


def gpu_ms(run: Callable[[], object], stream: object, iterations: int, warmup: int = 10
           ) -> float:
    """Mean GPU milliseconds of the work ``run()`` enqueues on ``stream`` (CUDA events)."""
    import pycuda.driver as cuda
    for _ in range(warmup):
        run()
    start, end = cuda.Event(), cuda.Event()
    start.record(stream)
    for _ in range(iterations):
        run()
    end.record(stream)
    end.synchronize()
    return end.time_since(start) / iterations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iterations', type=int, default=200)
    parser.add_argument('--output', default='', help='markdown file to write')
    args = parser.parse_args()
    ok, reason = cuda_available()
    if not ok:
        print('error: this benchmark needs a CUDA GPU with pycuda (%s)' % reason,
              file=sys.stderr)
        return 2
    import cupy
    import pycuda.driver as cuda
    n = args.iterations
    bus = cv2.imread(os.path.join(SHARED, 'data', 'images', 'bus.jpg'))
    frame = cv2.resize(bus, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    context = CudaContext.get(0)
    rows: List[Tuple[str, float, float]] = []
    decode_rows: List[Tuple[str, float, float]] = []
    with context.active():
        stream = cuda.Stream()
        letterbox = StagedLetterbox(640, stream=stream, upload='copy')
        blob_device = cuda.mem_alloc(3 * 640 * 640 * 4)
        staged = letterbox.staging_frame(1080, 1920)
        np.copyto(staged, frame)
        threads = cv2.getNumThreads()
        rows.append(('cv2 + numpy `letterbox_blob` (%d cv2 threads)' % threads,)
                    + wall_ms(lambda: letterbox_blob(frame, 640), n))
        cv2.setNumThreads(1)
        rows.append(('cv2 + numpy `letterbox_blob` (1 thread)',)
                    + wall_ms(lambda: letterbox_blob(frame, 640), n))
        cv2.setNumThreads(threads)

        def enqueue_synced(resizer: CudaLetterbox, source: np.ndarray) -> Callable[[], None]:
            """One enqueue of ``source`` into the blob, timed to the finished blob."""
            def run() -> None:
                resizer.enqueue(source, blob_device)
                stream.synchronize()
            return run

        # kernel alone: the frame is on the GPU after the first upload; re-launch only the kernel
        letterbox.enqueue(staged, blob_device)
        stream.synchronize()
        kernel_only = gpu_ms(lambda: _launch_kernel_only(letterbox, blob_device, frame.shape),
                             stream, n)
        rows.append(('CUDA kernel, frame already on the GPU (CUDA events)',
                     kernel_only, kernel_only))
        rows.append(('CUDA, page-locked frame: upload + kernel + sync',)
                    + wall_ms(enqueue_synced(letterbox, staged), n))
        rows.append(('CUDA, numpy frame: copy to page-locked + upload + kernel + sync',)
                    + wall_ms(enqueue_synced(letterbox, frame), n))
        mapped = StagedLetterbox(640, stream=stream, upload='mapped')
        mapped_staged = mapped.staging_frame(1080, 1920)
        np.copyto(mapped_staged, frame)
        rows.append(('CUDA zero-copy (%s), page-locked frame: kernel reads host memory + sync'
                     % mapped.upload,) + wall_ms(enqueue_synced(mapped, mapped_staged), n))
        rows.append(('CUDA zero-copy (%s), numpy frame: copy to page-locked + kernel + sync'
                     % mapped.upload,) + wall_ms(enqueue_synced(mapped, frame), n))
        mapped.close()
        rows.append(('CUDA, numpy frame -> host blob (for ONNX Runtime)',)
                    + wall_ms(lambda: letterbox(frame), n))

        frame_gpu = cupy.asarray(frame)

        def cupy_on_device() -> None:
            letterbox_blob_composed(frame_gpu, 640, xp=cupy)
            cupy.cuda.get_current_stream().synchronize()

        def cupy_from_host() -> None:
            letterbox_blob_composed(cupy.asarray(frame), 640, xp=cupy)
            cupy.cuda.get_current_stream().synchronize()

        rows.append(('CuPy composed ops, frame already on the GPU',)
                    + wall_ms(cupy_on_device, n))
        rows.append(('CuPy composed ops, numpy frame (`cupy.asarray` upload)',)
                    + wall_ms(cupy_from_host, n))
        # all three agree (the CPU reference within one grey level)
        reference, _ = letterbox_blob(frame, 640)
        cuda_blob, _ = letterbox(frame)
        cupy_blob = cupy.asnumpy(letterbox_blob_composed(frame_gpu, 640, xp=cupy)[0])
        agreement = (float(np.abs(cuda_blob - reference).max() * 255),
                     float(np.abs(cupy_blob - reference).max() * 255))

        # -- decode ---------------------------------------------------------------------------
        engine = create_engine(os.path.join(SHARED, 'models', 'yolov5', 'yolov5n.onnx'),
                               EngineConfig())
        prediction = engine.infer_single(letterbox_blob(bus, 640)[0])[0][0].copy()
        prediction_device = cuda.mem_alloc(prediction.nbytes)
        cuda.memcpy_htod(prediction_device, prediction)
        for conf, multi in ((0.25, False), (0.001, True)):
            label = 'conf %g%s' % (conf, ', multi-label' if multi else '')
            decoder = CudaYoloDecoder(25200, 85, conf, multi, stream=stream)
            count = len(yolov5_candidates(prediction, conf, multi)[0])
            decode_rows.append(('numpy `yolov5_candidates`, %s (%d candidates)' % (label, count),)
                               + wall_ms(lambda: yolov5_candidates(prediction, conf, multi), n))
            decode_rows.append(('CUDA decoder (kernel + copy back + sync), %s' % label,)
                               + wall_ms(lambda: decoder.candidates(prediction_device), n))
            decode_rows.append(('numpy decode + NMS (`decode_yolov5`), %s' % label,)
                               + wall_ms(lambda: decode_yolov5(prediction, conf, 0.45, 300,
                                                               multi), n))
            decode_rows.append(('CUDA decoder + NMS on the CPU, %s' % label,)
                               + wall_ms(lambda: select_detections(
                                   *decoder.candidates(prediction_device), 0.45, 300), n))
            decoder.close()
        prediction_device.free()
        blob_device.free()
        letterbox.close()
        gpu_name = context.name

    lines = _markdown(rows, decode_rows, gpu_name, agreement, n)
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.output:
        with open(args.output, 'w') as f:
            f.write(text)
    return 0


def _launch_kernel_only(letterbox: CudaLetterbox, blob_device: object,
                        shape: Tuple[int, ...]) -> None:
    """Re-run only the letterbox kernel over the frame already uploaded."""
    from jetauto_perception.detection.cuda_yolo import LETTERBOX_BLOCK
    from jetauto_perception.detection.letterbox import letterbox_transform, PAD_VALUE
    src_h, src_w = shape[:2]
    t = letterbox_transform((src_h, src_w), letterbox.input_hw)
    new_w, new_h = int(round(src_w * t.scale_x)), int(round(src_h * t.scale_y))
    dst_h, dst_w = letterbox.input_hw
    grid = ((dst_w + 31) // 32, (dst_h + 7) // 8, 1)
    letterbox._kernel.prepared_async_call(
        grid, LETTERBOX_BLOCK, letterbox.stream, letterbox._frame_pointer, src_w, src_h,
        src_w * 3, int(blob_device), dst_w, dst_h, t.pad_x, t.pad_y, new_w, new_h,
        src_w / new_w, src_h / new_h, PAD_VALUE / 255.0, 1)


def _markdown(rows: List[Tuple[str, float, float]], decode_rows: List[Tuple[str, float, float]],
              gpu_name: str, agreement: Tuple[float, float], n: int) -> List[str]:
    import cupy
    import pycuda
    cv2_ms = rows[0][1]
    lines = [
        '## GPU detector data path (issue 6)',
        '',
        'Machine: GPU **%s**, CPU %s (%d cores visible); %s; Python %s, numpy %s, OpenCV %s, '
        'pycuda %s, CuPy %s. Median of %d runs after 10 warm-ups (the kernel-only row: mean '
        'from CUDA events).' % (gpu_name, cpu_model(), os.cpu_count() or 0,
                                datetime.date.today().isoformat(), platform.python_version(),
                                np.__version__, cv2.__version__, pycuda.VERSION_TEXT,
                                cupy.__version__, n),
        '',
        '### Pre-processing: 1920x1080 BGR uint8 -> (1, 3, 640, 640) float32 RGB /255',
        '',
        '| method | median ms | mean ms | speed-up vs cv2 + numpy (all threads) |',
        '| --- | ---: | ---: | ---: |',
    ]
    for name, median, mean in rows:
        lines.append('| %s | %.3f | %.3f | %.1fx |' % (name, median, mean, cv2_ms / median))
    lines += [
        '',
        'Largest difference from the CPU reference: CUDA kernel %.3f, CuPy %.3f grey levels '
        '(1 level = 1/255).' % agreement,
        '',
        '### Decode: YOLOv5n output (25200 x 85) of bus.jpg, already on the GPU for CUDA',
        '',
        '| method | median ms | mean ms |',
        '| --- | ---: | ---: |',
    ]
    for name, median, mean in decode_rows:
        lines.append('| %s | %.3f | %.3f |' % (name, median, mean))
    return lines


if __name__ == '__main__':
    sys.exit(main())
