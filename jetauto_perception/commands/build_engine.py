"""
``jetauto-perception build-engine``: ONNX -> TensorRT engine (FP32, FP16 or INT8).

By default the engine goes where the nodes look for it (the engine cache, named after the ONNX
file's hash, the TensorRT version, the GPU and the precision), so a node given the same ONNX
file, ``backend: tensorrt`` and the precision loads it instead of building. INT8 calibrates on a
folder of images through the detector's own pre-processing and keeps a calibration cache; a later
build with that cache needs no images.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import List, Optional, TextIO, Tuple

from ..engines.base import EngineConfig
from ..engines.cuda_context import CudaContext
from ..errors import BackendUnavailableError, ModelError
from ..models.manifest import resolve_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--onnx', required=True,
                        help='ONNX model path or manifest name (e.g. yolov5n.onnx)')
    parser.add_argument('--precision', choices=('fp32', 'fp16', 'int8'), default='fp16',
                        help='engine precision (default: fp16)')
    parser.add_argument('--calib-images', default='',
                        help='int8: folder of calibration images (a few hundred like the '
                             "robot's camera sees; not needed when the cache exists)")
    parser.add_argument('--calib-cache', default='',
                        help='int8: calibration cache file, read when it exists, written after '
                             'calibrating (default: the engine path with .calib)')
    parser.add_argument('--calib-max-images', type=int, default=0,
                        help='int8: use at most this many calibration images (default: all)')
    parser.add_argument('--recalibrate', action='store_true',
                        help='int8: delete the calibration cache first and calibrate again')
    parser.add_argument('--workspace', type=int, default=1024, metavar='MB',
                        help='builder workspace in MiB (default: 1024)')
    parser.add_argument('--timing-cache', default='',
                        help='timing cache file, reused and updated (default: timing.cache '
                             'beside the engine)')
    parser.add_argument('--output', default='',
                        help='engine file to write (default: the engine cache path the nodes '
                             'look up; printed at the end)')
    parser.add_argument('--engine-cache-dir', default='',
                        help='engine cache folder (default: ~/.cache/jetauto_perception/engines)')
    parser.add_argument('--device-id', type=int, default=0, help='CUDA device (default: 0)')
    parser.add_argument('--force', action='store_true',
                        help='rebuild even when the engine file exists')


def model_input(onnx_path: str) -> Tuple[str, int, Tuple[int, int]]:
    """
    ``(name, calibration batch, (H, W))`` of the model's one image input.

    The calibration batch is the model's fixed batch, or 1 for a dynamic batch (the build's
    optimisation profile is optimal at 1).
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendUnavailableError('int8 calibration reads the model input with onnxruntime: '
                                      '`pip install onnxruntime`') from None
    try:
        session = ort.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
    except Exception as exc:  # ORT raises its own exception types
        raise ModelError("cannot read '%s' (%s): check the ONNX file"
                         % (onnx_path, str(exc).strip().splitlines()[0][:200])) from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ModelError('int8 calibration needs a model with one (N, 3, H, W) image input; '
                         "'%s' has %s" % (onnx_path, [(i.name, i.shape) for i in inputs]))
    batch, _, height, width = inputs[0].shape
    if not (isinstance(height, int) and isinstance(width, int)):
        raise ModelError("input '%s' of '%s' has a dynamic size %s: export it with a fixed size"
                         % (inputs[0].name, onnx_path, inputs[0].shape))
    return inputs[0].name, batch if isinstance(batch, int) and batch > 0 else 1, (height, width)


class BuildProgress:
    """
    Progress bars on stderr for the builder's phases and the calibration batches.

    TensorRT reports nested phases (``phase, step, steps``); the bar shows the outermost open
    phase's fraction and the innermost phase's name. Without a terminal, one line per outer
    phase.
    """

    WIDTH = 28

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._open: List[Tuple[str, int, int]] = []  # (name, step, steps), outermost first
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._drawn = False
        self.start = time.perf_counter()

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _bar(self, label: str, done: int, total: int, detail: str) -> str:
        filled = int(self.WIDTH * done / total) if total else 0
        elapsed = time.perf_counter() - self.start
        return '\r%s [%s%s] %d/%d %s (%.0f s)\x1b[K' % (
            label, '#' * filled, '-' * (self.WIDTH - filled), done, total, detail[:40], elapsed)

    def phase(self, name: str, step: int, steps: int) -> None:
        """``build_engine``'s progress callback."""
        with self._lock:
            names = [entry[0] for entry in self._open]
            if name not in names:
                self._open.append((name, step, steps))
                if len(self._open) == 1 and not self.tty:
                    self._write('build-engine: %s...\n' % name)
            else:
                self._open[names.index(name)] = (name, step, steps)
            if step >= steps:  # finished: close it and whatever it contained
                index = [entry[0] for entry in self._open].index(name)
                del self._open[index:]
            if not self.tty or not self._open:
                return
            now = time.perf_counter()
            if now - self._last_draw < 0.1:
                return
            self._last_draw = now
            outer, inner = self._open[0], self._open[-1]
            self._write(self._bar('building', outer[1], outer[2], inner[0]))
            self._drawn = True

    def calibration(self, done: int, total: int) -> None:
        """Report the calibrator's progress (batches)."""
        with self._lock:
            if self.tty:
                self._write(self._bar('calibrating', done, total, 'batches'))
                self._drawn = True
            elif done == total or done % 50 == 0:
                self._write('build-engine: calibrated %d/%d batches\n' % (done, total))

    def close(self) -> None:
        if self._drawn:
            self._write('\n')


def run(args: argparse.Namespace) -> int:
    onnx_path = resolve_model(args.onnx)
    if not onnx_path.lower().endswith('.onnx'):
        raise ModelError("--onnx wants an .onnx file, got '%s'" % onnx_path)
    config = EngineConfig(backend='tensorrt', precision=args.precision,
                          engine_cache_dir=args.engine_cache_dir, force_engine_rebuild=args.force,
                          workspace_mb=args.workspace, timing_cache=args.timing_cache,
                          device_id=args.device_id, calib_images=args.calib_images,
                          calib_cache=args.calib_cache)
    config.validate()
    if args.workspace <= 0:
        raise ModelError('--workspace must be a positive number of MiB')
    try:
        import tensorrt
        if not hasattr(tensorrt, 'Builder'):  # tensorrt-stubs alone installs an empty package
            raise ImportError('only the type stubs of tensorrt are installed')
        from ..engines import tensorrt_engine
        from ..quantization.calibration import (calibration_images, CalibrationBatches,
                                                create_entropy_calibrator)
    except ImportError as exc:
        raise BackendUnavailableError(
            'build-engine needs the tensorrt and pycuda Python modules (%s): on a Jetson they '
            'come with JetPack (`sudo apt install python3-libnvinfer`, `pip install pycuda`)'
            % exc) from None
    context = CudaContext.get(args.device_id)
    output = args.output or tensorrt_engine.engine_path_for(onnx_path, config, context.name)
    if os.path.isfile(output) and not args.force:
        print('up to date: %s (same ONNX file, TensorRT version, GPU and precision; --force '
              'rebuilds)' % output)
        return 0
    progress = BuildProgress()
    calibrator = None
    with context.active():
        if args.precision == 'int8':
            cache = args.calib_cache or os.path.splitext(output)[0] + '.calib'
            if args.recalibrate and os.path.isfile(cache):
                os.remove(cache)
            batches: Optional[CalibrationBatches] = None
            if args.calib_images:
                _, batch, input_hw = model_input(onnx_path)
                batches = CalibrationBatches(
                    calibration_images(args.calib_images, args.calib_max_images), batch,
                    input_hw)
            calibrator = create_entropy_calibrator(batches, cache, progress.calibration)
        started = time.perf_counter()
        try:
            tensorrt_engine.build_engine(onnx_path, output, config, calibrator,
                                         progress=progress.phase)
        finally:
            progress.close()
    print('built %s engine in %.0f s: %s' % (args.precision, time.perf_counter() - started,
                                             output))
    if args.output:
        print('use it with model_path:=%s backend:=tensorrt' % output)
    else:
        print('nodes given model_path:=%s backend:=tensorrt precision:=%s load it from the cache'
              % (onnx_path, args.precision))
    return 0
