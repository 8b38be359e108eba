"""
The backend factory: one call that loads a model with the backend an :class:`EngineConfig` names.

It lives apart from the interface (``engines.base``) so that the backends import the interface
and the factory imports the backends, with no import cycle between them.
"""
from __future__ import annotations

from typing import Optional

from .base import check_model_file, EngineConfig, InferenceEngine
from ..errors import BackendUnavailableError


def create_engine(model_path: str, config: Optional[EngineConfig] = None) -> InferenceEngine:
    """Load ``model_path`` with the backend named in ``config``."""
    config = config or EngineConfig()
    config.validate()
    check_model_file(model_path)
    if config.backend == 'tensorrt':
        try:
            from .tensorrt_engine import TensorRTEngine
        except ImportError as exc:  # tensorrt or pycuda missing
            raise BackendUnavailableError(
                'backend tensorrt needs the tensorrt and pycuda Python modules (%s): on a Jetson '
                'they come with JetPack (`sudo apt install python3-libnvinfer`, '
                '`pip install pycuda`); otherwise use backend onnxruntime' % exc) from None
        return TensorRTEngine(model_path, config)
    from .onnxruntime_engine import OnnxRuntimeEngine
    return OnnxRuntimeEngine(model_path, config)
