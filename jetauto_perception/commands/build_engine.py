"""
``jetauto-perception build-engine``: ONNX -> TensorRT engine (FP32, FP16 or INT8).

By default the engine goes where the nodes look for it (the engine cache, named after the ONNX
file's hash, the TensorRT version, the GPU, the precision and the quantization), so a node given
the same ONNX file, ``backend: tensorrt`` and the precision loads it instead of building.

INT8 comes from a Q/DQ ONNX made by ``jetauto-perception quantize`` (explicit quantization, every
TensorRT from 8.5 to 11, no calibration here). TensorRT's own implicit calibration is kept for
TensorRT < 10.1 and only when ``--calib-images`` (or an existing calibration cache) is given: it
calibrates through the detector's own pre-processing and keeps a calibration cache.
"""
from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any, Dict, Optional, TextIO, Tuple

from .common import add_engine_options, engine_config_from
from ..engines.cuda_context import CudaContext
from ..errors import BackendUnavailableError, ModelError
from ..models.manifest import resolve_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--onnx', required=True,
                        help='ONNX model path or manifest name (e.g. yolov5n.onnx); a Q/DQ '
                             'model from `jetauto-perception quantize` builds an INT8 engine')
    add_engine_options(parser, 'build')
    parser.add_argument('--calib-images', default='',
                        help="int8 on TensorRT < 10.1 only, TensorRT's deprecated implicit "
                             'calibration: folder of calibration images (not needed when the '
                             'cache exists; a Q/DQ model needs none)')
    parser.add_argument('--calib-cache', default='',
                        help='implicit int8: calibration cache file, read when it exists, '
                             'written after calibrating (default: the engine path with .calib)')
    parser.add_argument('--calib-max-images', type=int, default=0,
                        help='implicit int8: use at most this many calibration images '
                             '(default: all)')
    parser.add_argument('--recalibrate', action='store_true',
                        help='implicit int8: delete the calibration cache first and calibrate '
                             'again')
    parser.add_argument('--output', default='',
                        help='engine file to write (default: the engine cache path the nodes '
                             'look up; printed at the end)')


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
    tqdm bars on stderr for the builder's phases and the calibration batches.

    TensorRT reports nested phases (``phase, step, steps``); the bar follows the outermost open
    phase and shows the innermost phase's name. Callbacks come from TensorRT's threads.
    """

    def __init__(self, file: Optional[TextIO] = None) -> None:
        self._file = file  # None: stderr
        self._open: Dict[str, Tuple[int, int]] = {}  # name -> (step, steps), outermost first
        self._lock = threading.Lock()
        self._bars: Dict[str, Any] = {}

    def _bar(self, name: str, total: int) -> Any:
        from tqdm import tqdm
        if name not in self._bars:
            self._bars[name] = tqdm(total=total, desc=name, unit='step', leave=False,
                                    file=self._file, disable=None)  # None: off without a tty
        return self._bars[name]

    def phase(self, name: str, step: int, steps: int) -> None:
        """``build_engine``'s progress callback."""
        with self._lock:
            self._open[name] = (step, steps)
            outer = next(iter(self._open))
            if name == outer:
                bar = self._bar('building', steps)
                bar.total = steps
                bar.n = step
            else:
                bar = self._bar('building', self._open[outer][1])
            bar.set_postfix_str(list(self._open)[-1][:40], refresh=True)  # the innermost
            if step >= steps:  # finished: close it and whatever it contained
                names = list(self._open)
                for inner in names[names.index(name):]:
                    del self._open[inner]
                if not self._open:
                    self._bars.pop('building').close()

    def calibration(self, done: int, total: int) -> None:
        """Report the calibrator's progress (batches)."""
        with self._lock:
            bar = self._bar('calibrating', total)
            bar.update(done - bar.n)
            bar.refresh()  # batches are seconds apart: show each one

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def run(args: argparse.Namespace) -> int:
    onnx_path = resolve_model(args.onnx)
    if not onnx_path.lower().endswith('.onnx'):
        raise ModelError("--onnx wants an .onnx file, got '%s'" % onnx_path)
    config = engine_config_from(args, 'build', backend='tensorrt',
                                calib_images=args.calib_images, calib_cache=args.calib_cache)
    config.validate()
    try:
        import tensorrt
        if not hasattr(tensorrt, 'Builder'):  # tensorrt-stubs alone installs an empty package
            raise ImportError('only the type stubs of tensorrt are installed')
        from ..engines import tensorrt_engine
        from ..quantization.calibration import (calibration_images, CalibrationBatches,
                                                create_entropy_calibrator, read_cache)
    except ImportError as exc:
        raise BackendUnavailableError(
            'build-engine needs the tensorrt and pycuda Python modules (%s): on a Jetson they '
            'come with JetPack (`sudo apt install python3-libnvinfer`, `pip install pycuda`)'
            % exc) from None
    context = CudaContext.get(args.device_id)
    default_cache = args.calib_cache or ''
    if args.output and not default_cache:
        default_cache = os.path.splitext(args.output)[0] + '.calib'
    if args.recalibrate and default_cache and os.path.isfile(default_cache):
        os.remove(default_cache)
    calibration_given = bool(args.calib_images) or read_cache(default_cache) is not None
    plan = tensorrt_engine.plan_for(onnx_path, config, calibration_given)
    output = args.output or tensorrt_engine.engine_path_for(onnx_path, config, context.name,
                                                            plan)
    if os.path.isfile(output) and not args.force:
        print('up to date: %s (same ONNX file, TensorRT version, GPU, precision and '
              'quantization; --force rebuilds)' % output)
        return 0
    progress = BuildProgress()
    calibrator = None
    with context.active():
        if plan.calibrator:
            cache = default_cache or os.path.splitext(output)[0] + '.calib'
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
    print('built %s engine in %.0f s: %s' % (plan.precision, time.perf_counter() - started,
                                             output))
    if args.output:
        print('use it with model_path:=%s backend:=tensorrt' % output)
    else:
        print('nodes given model_path:=%s backend:=tensorrt precision:=%s load it from the cache'
              % (onnx_path, plan.precision))
    return 0
