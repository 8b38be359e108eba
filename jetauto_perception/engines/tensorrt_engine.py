"""
TensorRT + pycuda backend: build or load a cached engine, run it with one CUDA stream.

One builder for TensorRT 8.5 → 11 (``tensorrt_plan`` decides the typing and flags per version):
INT8 from a Q/DQ ONNX (explicit quantization) everywhere, TensorRT's implicit calibrator only
below 10.1 and on request, FP16 on TensorRT 11 from an FP16 copy of the ONNX. Runs through the
tensor-name API only (8.5+): ``num_io_tensors``, ``get_tensor_name``, ``set_tensor_address``,
``execute_async_v3``
(https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/python-api/infer/Core/ExecutionContext.html).
Engines are cached under a name made of the ONNX file's hash (a Q/DQ file has its own), the
TensorRT version, the GPU name, the precision and how it was quantized, so a change of any of
them builds a new engine instead of loading a stale one.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import pycuda.driver as cuda
import tensorrt as trt

if not hasattr(trt, 'Builder'):  # e.g. only the tensorrt-stubs package (a bare namespace)
    raise ImportError('the tensorrt module has no Builder: TensorRT is not installed')

from .base import EngineConfig, InferenceEngine, is_qdq_model, onnx_metadata, TensorSpec
from .cuda_context import CudaContext
from .tensorrt_plan import BuildPlan, plan_build, version_tuple
from ..errors import ModelError
from ..models.manifest import sha256_of

LOG = logging.getLogger(__name__)
TRT_MAJOR = int(trt.__version__.split('.')[0])
TRT_VERSION = version_tuple(trt.__version__)
#: ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` (TensorRT 10; accepted, always on, in 11).
HAS_STRONG_TYPING = hasattr(trt.NetworkDefinitionCreationFlag, 'STRONGLY_TYPED')
ENGINE_SUFFIXES = ('.engine', '.plan', '.trt')
#: A dynamic batch axis gets an optimisation profile from 1 to this many (config.extra
#: 'max_batch' overrides it).
DEFAULT_MAX_BATCH = 32

ProgressCallback = Callable[[str, int, int], None]


class _TrtLogger(trt.ILogger):
    """Route TensorRT's messages into Python logging (warnings and errors only)."""

    def __init__(self) -> None:
        trt.ILogger.__init__(self)

    def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
        if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
            LOG.error('TensorRT: %s', msg)
        elif severity == trt.ILogger.Severity.WARNING:
            LOG.warning('TensorRT: %s', msg)


_LOGGER = _TrtLogger()


class _ProgressMonitor(trt.IProgressMonitor):
    """Forward the builder's phase/step reports to ``callback(phase, step, num_steps)``."""

    def __init__(self, callback: ProgressCallback) -> None:
        trt.IProgressMonitor.__init__(self)
        self._callback = callback
        self._steps: Dict[str, int] = {}
        self._lock = threading.Lock()

    def phase_start(self, phase_name: str, parent_phase: str, num_steps: int) -> None:
        with self._lock:
            self._steps[phase_name] = num_steps
        self._callback(phase_name, 0, num_steps)

    def step_complete(self, phase_name: str, step: int) -> bool:
        self._callback(phase_name, step + 1, self._steps.get(phase_name, step + 1))
        return True  # False would cancel the build

    def phase_finish(self, phase_name: str) -> None:
        total = self._steps.get(phase_name, 1)
        self._callback(phase_name, total, total)


def dims_tuple(dims: trt.Dims) -> Tuple[int, ...]:
    """Convert a TensorRT ``Dims`` to a tuple of ints (-1 for a dynamic axis)."""
    return tuple(int(dims[i]) for i in range(len(dims)))


def _slug(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9.]+', '-', text).strip('-')


def engine_file_name(onnx_path: str, precision: str, gpu_name: str,
                     trt_version: str = trt.__version__, quantization: str = '') -> str:
    """``<stem>_<onnx sha256[:12]>_trt<version>_<gpu>_<precision>[_<quantization>].engine``."""
    stem = os.path.splitext(os.path.basename(onnx_path))[0]
    return '%s_%s_trt%s_%s_%s%s.engine' % (stem, sha256_of(onnx_path)[:12], trt_version,
                                           _slug(gpu_name), precision,
                                           '_' + quantization if quantization else '')


def default_cache_dir() -> str:
    return os.path.join(os.path.expanduser('~'), '.cache', 'jetauto_perception', 'engines')


def plan_for(onnx_path: str, config: EngineConfig, calibration_given: bool = False) -> BuildPlan:
    """Plan the build this TensorRT makes of ``onnx_path`` at ``config.precision``."""
    return plan_build(TRT_VERSION, config.precision, is_qdq_model(onnx_path), calibration_given,
                      HAS_STRONG_TYPING)


def engine_path_for(onnx_path: str, config: EngineConfig, gpu_name: str,
                    plan: Optional[BuildPlan] = None) -> str:
    """Where the engine of ``onnx_path`` built as ``plan`` (default: :func:`plan_for`) is kept."""
    plan = plan or plan_for(onnx_path, config)
    quantization = plan.cache_tag
    if plan.calibrator and config.calib_cache and os.path.isfile(config.calib_cache):
        quantization += '-' + sha256_of(config.calib_cache)[:8]
    cache_dir = config.engine_cache_dir or default_cache_dir()
    return os.path.join(cache_dir, engine_file_name(onnx_path, plan.precision, gpu_name,
                                                    quantization=quantization))


def fp16_onnx(onnx_path: str, target: str) -> str:
    """
    Write an FP16 copy of ``onnx_path`` (inputs and outputs kept FP32) for TensorRT 11.

    NVIDIA prescribes ModelOpt AutoCast (``keep_io_types=True``), which needs torch (GBs on a
    Jetson); onnxconverter-common's float16 conversion makes the same kind of model.
    """
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError:
        raise ModelError('an FP16 engine on TensorRT 11 is built from an FP16 ONNX: `pip install '
                         'onnx onnxconverter-common`, or convert the model yourself (ModelOpt '
                         'AutoCast) and build it with --precision fp32') from None
    model = float16.convert_float_to_float16(onnx.load(onnx_path), keep_io_types=True)
    onnx.save(model, target)
    return target


def build_engine(onnx_path: str, engine_path: str, config: EngineConfig,
                 calibrator: Optional[trt.IInt8Calibrator] = None,
                 progress: Optional[ProgressCallback] = None) -> bytes:
    """
    Parse ``onnx_path``, build a serialized engine as :func:`plan_for` says, save it atomically.

    Uses (and updates) the timing cache ``config.timing_cache`` (default: beside the engine) so
    rebuilding on the same GPU is much faster. ``calibrator`` (a ``trt.IInt8Calibrator``) is
    for TensorRT's implicit INT8 below 10.1 only; a Q/DQ model needs none.
    """
    plan = plan_for(onnx_path, config, calibrator is not None)
    for note in plan.notes:
        LOG.info('%s', note)
    os.makedirs(os.path.dirname(engine_path) or '.', exist_ok=True)
    source = onnx_path
    if plan.fp16_onnx:
        source = fp16_onnx(onnx_path, os.path.splitext(engine_path)[0] + '.fp16.onnx')
    builder = trt.Builder(_LOGGER)
    flags = 0
    if TRT_MAJOR < 10:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if plan.strongly_typed and HAS_STRONG_TYPING:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, _LOGGER)
    if not parser.parse_from_file(source):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError("TensorRT cannot parse '%s' (%s): check the ONNX file (opset, "
                         'corruption) or re-export it' % (source, errors[:300]))
    builder_config = builder.create_builder_config()
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mb << 20)
    for flag in plan.builder_flags:  # only below TensorRT 11, which has no precision flags
        builder_config.set_flag(getattr(trt.BuilderFlag, flag))
    if plan.calibrator and calibrator is not None:  # TensorRT < 10.1 (gone in 11)
        builder_config.int8_calibrator = calibrator
    _add_dynamic_profile(builder, network, builder_config, config)
    timing_path = config.timing_cache or os.path.join(os.path.dirname(engine_path) or '.',
                                                      'timing.cache')
    cache_bytes = b''
    if os.path.isfile(timing_path):
        with open(timing_path, 'rb') as f:
            cache_bytes = f.read()
    timing_cache = builder_config.create_timing_cache(cache_bytes)
    builder_config.set_timing_cache(timing_cache, False)
    monitor = None
    if progress is not None and hasattr(trt, 'IProgressMonitor'):
        monitor = _ProgressMonitor(progress)
        builder_config.progress_monitor = monitor
    serialized = builder.build_serialized_network(network, builder_config)
    if serialized is None:
        raise ModelError("TensorRT failed to build an engine from '%s' (see the TensorRT errors "
                         'above); try more --workspace or another precision' % onnx_path)
    data = bytes(memoryview(serialized))
    _atomic_write(engine_path, data)
    _atomic_write(timing_path, bytes(memoryview(builder_config.get_timing_cache().serialize())))
    LOG.info('built TensorRT %s engine %s', plan.precision, engine_path)
    return data


def _add_dynamic_profile(builder: trt.Builder, network: trt.INetworkDefinition,
                         builder_config: trt.IBuilderConfig, config: EngineConfig) -> None:
    """Give a dynamic leading (batch) axis a 1..max_batch optimisation profile."""
    profile = None
    max_batch = int(str(config.extra.get('max_batch', DEFAULT_MAX_BATCH)))
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = dims_tuple(tensor.shape)
        if all(d > 0 for d in shape):
            continue
        if any(d <= 0 for d in shape[1:]):
            raise ModelError("input '%s' of the model has dynamic axes %s other than the batch: "
                             'export it with a fixed input size' % (tensor.name, shape))
        profile = profile or builder.create_optimization_profile()
        rest = shape[1:]
        smallest = trt.Dims([1] + list(rest))
        profile.set_shape(tensor.name, smallest, smallest, trt.Dims([max_batch] + list(rest)))
    if profile is not None:
        builder_config.add_optimization_profile(profile)


def _atomic_write(path: str, data: bytes) -> None:
    tmp = path + '.tmp%d' % os.getpid()
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


class TensorRTEngine(InferenceEngine):
    """
    A deserialized engine with page-locked host buffers, device buffers and one stream.

    ``model_path`` is an ONNX file (an engine is built or loaded from the cache) or a serialized
    engine (``.engine``/``.plan``), loaded as is.
    """

    def __init__(self, model_path: str, config: EngineConfig) -> None:
        self.config = config
        self._metadata = {} if model_path.endswith(ENGINE_SUFFIXES) else onnx_metadata(model_path)
        self._cuda = CudaContext.get(config.device_id)
        with self._cuda.active():
            self._runtime = trt.Runtime(_LOGGER)
            self.engine_path, self._engine = self._load_or_build(model_path)
            self._context = self._engine.create_execution_context()
            self.stream = cuda.Stream()
            self._names = [self._engine.get_tensor_name(i)
                           for i in range(self._engine.num_io_tensors)]
            self._input_names = [n for n in self._names
                                 if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
            self._output_names = [n for n in self._names if n not in self._input_names]
            self._dtypes = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n)))
                            for n in self._names}
            self._host: Dict[str, np.ndarray] = {}
            self._device: Dict[str, Any] = {}
            self._capacity: Dict[str, int] = {}
            self._input_shapes: Dict[str, Tuple[int, ...]] = {}
            for name in self._input_names:
                shape = dims_tuple(self._engine.get_tensor_shape(name))
                if any(d < 0 for d in shape):
                    shape = (1,) + shape[1:]
                self._set_input_shape(name, shape)

    # -- loading -------------------------------------------------------------------------------
    def _load_or_build(self, model_path: str) -> Tuple[str, trt.ICudaEngine]:
        if model_path.endswith(ENGINE_SUFFIXES):
            engine = self._deserialize(model_path)
            if engine is None:
                raise ModelError("cannot load TensorRT engine '%s': it was built by another "
                                 'TensorRT version or GPU, or is corrupt; rebuild it with '
                                 '`jetauto-perception build-engine --onnx MODEL.onnx`'
                                 % model_path)
            return model_path, engine
        path = engine_path_for(model_path, self.config, self._cuda.name)
        if os.path.isfile(path) and not self.config.force_engine_rebuild:
            engine = self._deserialize(path)
            if engine is not None:
                LOG.info('loaded cached TensorRT engine %s', path)
                return path, engine
            LOG.warning('cached engine %s does not load; rebuilding it', path)
        LOG.info('building a TensorRT engine for %s (minutes on a Jetson; cached as %s)',
                 model_path, path)
        data = build_engine(model_path, path, self.config)
        engine = self._runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise ModelError("TensorRT built but cannot load '%s'" % path)
        return path, engine

    def _deserialize(self, path: str) -> Optional[trt.ICudaEngine]:
        with open(path, 'rb') as f:
            data = f.read()
        if not data:
            return None
        try:
            return self._runtime.deserialize_cuda_engine(data)
        except Exception:  # TensorRT 8 raises, 10 returns None on a version mismatch
            return None

    # -- buffers -------------------------------------------------------------------------------
    def _ensure_buffer(self, name: str, shape: Tuple[int, ...]) -> None:
        size = int(np.prod(shape))
        if self._capacity.get(name, -1) < size:
            self._host[name] = cuda.pagelocked_empty(size, self._dtypes[name])
            self._device[name] = cuda.mem_alloc(max(size, 1) * self._dtypes[name].itemsize)
            self._capacity[name] = size
            self._context.set_tensor_address(name, int(self._device[name]))

    def _set_input_shape(self, name: str, shape: Tuple[int, ...]) -> None:
        if self._input_shapes.get(name) == shape:
            return
        if not self._context.set_input_shape(name, list(shape)):
            raise ValueError("input '%s' cannot take shape %s" % (name, shape))
        self._input_shapes[name] = shape
        self._ensure_buffer(name, shape)
        for out in self._output_names:
            self._ensure_buffer(out, self._output_shape(out))

    def _output_shape(self, name: str) -> Tuple[int, ...]:
        return dims_tuple(self._context.get_tensor_shape(name))

    def host_buffer(self, name: str) -> np.ndarray:
        """Page-locked host array of tensor ``name`` shaped as its current shape."""
        shape = self._input_shapes.get(name) or self._output_shape(name)
        return self._host[name][:int(np.prod(shape))].reshape(shape)

    def device_buffer(self, name: str) -> Any:
        """Return the pycuda device allocation bound to tensor ``name`` (GPU pre-processing)."""
        return self._device[name]

    @property
    def cuda_context(self) -> CudaContext:
        return self._cuda

    # -- interface -----------------------------------------------------------------------------
    @property
    def metadata(self) -> Dict[str, str]:
        return self._metadata

    @property
    def inputs(self) -> List[TensorSpec]:
        return [TensorSpec(n, dims_tuple(self._engine.get_tensor_shape(n)), self._dtypes[n])
                for n in self._input_names]

    @property
    def outputs(self) -> List[TensorSpec]:
        return [TensorSpec(n, dims_tuple(self._engine.get_tensor_shape(n)), self._dtypes[n])
                for n in self._output_names]

    def execute_async(self) -> None:
        """Enqueue the engine on :attr:`stream` over the bound device buffers (no copies)."""
        if not self._context.execute_async_v3(self.stream.handle):
            raise RuntimeError('TensorRT execution failed')

    def infer(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """
        Copy inputs in, run, copy outputs out; one synchronisation.

        The returned arrays are views of page-locked buffers, valid until the next call.
        """
        with self._cuda.active():
            for name in self._input_names:
                array = np.ascontiguousarray(feeds[name], dtype=self._dtypes[name])
                self._set_input_shape(name, tuple(array.shape))
                host = self.host_buffer(name)
                np.copyto(host, array)
                cuda.memcpy_htod_async(self._device[name], host, self.stream)
            self.execute_async()
            results = {}
            for name in self._output_names:
                host = self.host_buffer(name)
                cuda.memcpy_dtoh_async(host, self._device[name], self.stream)
                results[name] = host
            self.stream.synchronize()
        return results

    def close(self) -> None:
        with self._cuda.active():
            for allocation in self._device.values():
                allocation.free()
            self._device.clear()
            self._host.clear()
            self._context = None  # type: ignore[assignment]
            self._engine = None  # type: ignore[assignment]
