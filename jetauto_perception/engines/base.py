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
from typing import Dict, List, Mapping, Sequence, Tuple

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
    #: INT8 only: a folder of calibration images and the calibration cache file.
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
