"""
The inference-engine interface: tensor specs, engine options, and the abstract engine.

Every model in the package runs through :class:`InferenceEngine`: named float32 inputs in, named
outputs out, as numpy arrays. Backends: ONNX Runtime (CPU, CUDA or TensorRT execution providers)
everywhere, and TensorRT + pycuda on the robot (``tensorrt_engine``).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import BackendUnavailableError, ModelError

BACKENDS = ('onnxruntime', 'tensorrt')
ORT_PROVIDERS = {
    'cpu': 'CPUExecutionProvider',
    'cuda': 'CUDAExecutionProvider',
    'tensorrt': 'TensorrtExecutionProvider',
}
PRECISIONS = ('fp32', 'fp16', 'int8')


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (``-1`` or a string for a dynamic axis) and numpy dtype of one tensor."""

    name: str
    shape: Tuple[object, ...]
    dtype: np.dtype


@dataclass
class EngineConfig:
    """How to run a model. Plain data: nodes fill it from parameters, the CLI from flags."""

    backend: str = 'onnxruntime'
    #: ONNX Runtime execution providers in priority order (``cpu``, ``cuda``, ``tensorrt``).
    providers: Sequence[str] = ('cpu',)
    #: TensorRT precision: ``fp32``, ``fp16`` or ``int8``.
    precision: str = 'fp16'
    #: Where TensorRT engines (and the timing cache) are kept; '' = next to the ONNX file's
    #: cache dir ``~/.cache/jetauto_perception/engines``.
    engine_cache_dir: str = ''
    force_engine_rebuild: bool = False
    workspace_mb: int = 1024
    timing_cache: str = ''
    device_id: int = 0
    #: ONNX Runtime intra- and inter-op threads (0 = ONNX Runtime's default: one per core).
    num_threads: int = 0
    #: ONNX Runtime threads busy-wait for work between operators (its default); off, they
    #: sleep, which leaves the cores to other models when several share the machine.
    spin_wait: bool = True
    #: INT8 with TensorRT's implicit calibration (TensorRT < 10.1 only, on request): a folder
    #: of calibration images and the calibration cache file. A Q/DQ ONNX needs neither.
    calib_images: str = ''
    calib_cache: str = ''
    extra: Dict[str, object] = field(default_factory=dict)

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise BackendUnavailableError(
                'unknown backend "%s": use one of %s' % (self.backend, ', '.join(BACKENDS)))
        if self.precision not in PRECISIONS:
            raise BackendUnavailableError(
                "unknown precision '%s': use one of %s" % (self.precision, ', '.join(PRECISIONS)))
        for name in self.providers:
            if name not in ORT_PROVIDERS:
                raise BackendUnavailableError(
                    "unknown ONNX Runtime provider '%s': use %s"
                    % (name, ', '.join(ORT_PROVIDERS)))


@dataclass(frozen=True)
class EngineOption:
    """
    One engine option, declared once for the nodes (ROS parameter), the CLI and build-engine.

    ``param`` is the ROS parameter name, ``flag`` the CLI flag ('' = not one of them);
    ``scopes`` says where it appears: ``node`` (every model node), ``threads`` (the thread budget
    of the image nodes), ``cli`` (the common inference-backend group of detect/eval/keypoints/
    demo) and ``build`` (build-engine).
    """

    field: str
    param: str
    flag: str
    default: Any
    description: str
    scopes: Tuple[str, ...]
    choices: Tuple[str, ...] = ()
    min_value: Optional[int] = None
    max_value: Optional[int] = None
    metavar: Optional[str] = None

    def to_config_value(self, value: Any) -> Any:
        """Convert a parameter / flag value to its :class:`EngineConfig` value."""
        if self.field == 'providers':
            return tuple(p.strip() for p in str(value).split(',') if p.strip())
        return value


#: Every engine option, in the order nodes declare them and the CLI lists them.
ENGINE_OPTIONS: Tuple[EngineOption, ...] = (
    EngineOption('backend', 'backend', '--backend', 'onnxruntime', 'Inference backend',
                 ('node', 'cli'), choices=BACKENDS),
    EngineOption('providers', 'onnxruntime_providers', '--providers', 'cpu',
                 'ONNX Runtime execution providers in priority order, comma-separated: cpu, '
                 'cuda, tensorrt', ('node', 'cli')),
    EngineOption('precision', 'precision', '--precision', 'fp16',
                 'TensorRT engine precision', ('node', 'cli', 'build'), choices=PRECISIONS),
    EngineOption('engine_cache_dir', 'engine_cache_dir', '--engine-cache-dir', '',
                 'Folder for built TensorRT engines ("" = ~/.cache/jetauto_perception/engines)',
                 ('node', 'cli', 'build')),
    EngineOption('force_engine_rebuild', 'force_engine_rebuild', '--force', False,
                 'Rebuild the TensorRT engine even when a cached one matches',
                 ('node', 'build')),
    EngineOption('device_id', 'device_id', '--device-id', 0, 'CUDA device index',
                 ('node', 'build'), min_value=0, max_value=16, metavar='N'),
    EngineOption('num_threads', 'threads', '--threads', 0,
                 'ONNX Runtime intra- and inter-op threads (0 = one per core)',
                 ('threads', 'cli'), min_value=0, max_value=256, metavar='N'),
    EngineOption('spin_wait', 'spin_wait', '', True,
                 'ONNX Runtime threads busy-wait between operators (faster alone; set false when '
                 'several models share the cores)', ('threads',)),
    EngineOption('workspace_mb', '', '--workspace', 1024, 'TensorRT builder workspace in MiB',
                 ('build',), min_value=1, max_value=1 << 20, metavar='MB'),
    EngineOption('timing_cache', '', '--timing-cache', '',
                 'TensorRT timing cache file, reused and updated ("" = timing.cache beside the '
                 'engine)', ('build',)),
)


def engine_options(scope: str) -> List[EngineOption]:
    """Return the options of one scope: ``node``, ``threads``, ``cli`` or ``build``."""
    return [option for option in ENGINE_OPTIONS if scope in option.scopes]


def engine_config(values: Mapping[str, Any], **overrides: Any) -> EngineConfig:
    """Make an :class:`EngineConfig` of ``{field: parameter or flag value}`` (others default)."""
    options = {option.field: option for option in ENGINE_OPTIONS}
    fields = {name: options[name].to_config_value(value) if name in options else value
              for name, value in values.items()}
    fields.update(overrides)
    return EngineConfig(**fields)


class InferenceEngine(abc.ABC):
    """A loaded model: ``infer({input_name: array}) -> {output_name: array}``."""

    @property
    @abc.abstractmethod
    def inputs(self) -> List[TensorSpec]:
        """The model's inputs."""

    @property
    @abc.abstractmethod
    def outputs(self) -> List[TensorSpec]:
        """The model's outputs."""

    @property
    def metadata(self) -> Dict[str, str]:
        """Custom metadata stored in the model (e.g. YOLOv5's ``names`` and ``stride``)."""
        return {}

    @abc.abstractmethod
    def infer(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the model once. Inputs must match :attr:`inputs` (shape and dtype)."""

    def infer_single(self, array: np.ndarray) -> List[np.ndarray]:
        """Run a one-input model; outputs in the order of :attr:`outputs`."""
        result = self.infer({self.inputs[0].name: array})
        return [result[spec.name] for spec in self.outputs]

    def close(self) -> None:
        """Release the engine's resources (device memory, sessions)."""

    def __enter__(self) -> 'InferenceEngine':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_model_file(path: str) -> None:
    """Raise :class:`ModelError` with a one-line fix when ``path`` is not a readable file."""
    if not path:
        raise ModelError('no model path given: set model_path (or --model) to an .onnx file, '
                         'or run `jetauto-perception models list` to see the known models')
    if not os.path.isfile(path):
        raise ModelError("model file not found: '%s'. Check the path, or run "
                         '`jetauto-perception models fetch` to download the known models' % path)
    if os.path.getsize(path) == 0:
        raise ModelError("model file '%s' is empty: download it again "
                         '(`jetauto-perception models fetch --force`)' % path)


def is_qdq_model(path: str) -> bool:
    """
    Tell whether an ONNX file is explicitly quantized (has QuantizeLinear/DequantizeLinear nodes).

    Reads the graph with ``onnx`` where it is installed; without it (a bare Jetson), looks for the
    operator name in the protobuf bytes, where every node's ``op_type`` is stored as plain text.
    """
    try:
        import onnx
    except ImportError:
        with open(path, 'rb') as f:
            return b'DequantizeLinear' in f.read()
    model = onnx.load(path, load_external_data=False)
    return any(node.op_type in ('QuantizeLinear', 'DequantizeLinear')
               for node in model.graph.node)


def onnx_metadata(path: str) -> Dict[str, str]:
    """
    Read the custom metadata of an ONNX file (YOLOv5's ``names``, ``stride``); {} without onnx.

    A TensorRT engine keeps none of it, so the TensorRT backend reads it from the ONNX file the
    engine was built from (a Q/DQ file made by ``quantize`` carries it over from the float one).
    """
    try:
        import onnx
    except ImportError:
        return {}
    model = onnx.load(path, load_external_data=False)
    return {entry.key: entry.value for entry in model.metadata_props}
