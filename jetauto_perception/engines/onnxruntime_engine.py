"""ONNX Runtime backend (CPU everywhere; CUDA / TensorRT execution providers where installed)."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping

import numpy as np

from .base import EngineConfig, InferenceEngine, ORT_PROVIDERS, TensorSpec
from ..errors import BackendUnavailableError, ModelError

LOG = logging.getLogger(__name__)

_ORT_TYPES = {
    'tensor(float)': np.dtype(np.float32),
    'tensor(float16)': np.dtype(np.float16),
    'tensor(double)': np.dtype(np.float64),
    'tensor(int64)': np.dtype(np.int64),
    'tensor(int32)': np.dtype(np.int32),
    'tensor(uint8)': np.dtype(np.uint8),
    'tensor(bool)': np.dtype(np.bool_),
}


def _spec(node: Any) -> TensorSpec:
    return TensorSpec(node.name, tuple(node.shape),
                      _ORT_TYPES.get(node.type, np.dtype(np.float32)))


class OnnxRuntimeEngine(InferenceEngine):
    """An ``onnxruntime.InferenceSession`` behind the engine interface."""

    def __init__(self, model_path: str, config: EngineConfig) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailableError(
                'backend onnxruntime needs the onnxruntime Python package: '
                '`pip install onnxruntime` (or onnxruntime-gpu)') from None
        available = ort.get_available_providers()
        wanted = [ORT_PROVIDERS[name] for name in config.providers] or ['CPUExecutionProvider']
        providers = [p for p in wanted if p in available]
        missing = [p for p in wanted if p not in available]
        if missing:
            LOG.warning('ONNX Runtime providers %s are not available here (have %s); using %s',
                        missing, available, providers or ['CPUExecutionProvider'])
        if 'CPUExecutionProvider' not in providers:
            providers.append('CPUExecutionProvider')
        options = ort.SessionOptions()
        if config.num_threads > 0:
            options.intra_op_num_threads = config.num_threads
            options.inter_op_num_threads = config.num_threads
        if not config.spin_wait:
            options.add_session_config_entry('session.intra_op.allow_spinning', '0')
            options.add_session_config_entry('session.inter_op.allow_spinning', '0')
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(model_path, sess_options=options,
                                                 providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... types
            text = str(exc).strip()
            first_line = text.splitlines()[0] if text else type(exc).__name__
            raise ModelError("cannot load model '%s' with ONNX Runtime (%s): the file is corrupt "
                             'or not an ONNX model; download it again with '
                             '`jetauto-perception models fetch --force`'
                             % (model_path, first_line[:200])) from None
        self.providers = self._session.get_providers()
        #: the options the session runs with (threads, spinning: the node's thread budget)
        self.session_options = self._session.get_session_options()
        self._inputs = [_spec(i) for i in self._session.get_inputs()]
        self._outputs = [_spec(o) for o in self._session.get_outputs()]
        meta = self._session.get_modelmeta()
        self._metadata = dict(meta.custom_metadata_map or {})
        self._output_names = [o.name for o in self._outputs]

    @property
    def inputs(self) -> List[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> List[TensorSpec]:
        return self._outputs

    @property
    def metadata(self) -> Dict[str, str]:
        return self._metadata

    def infer(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        results = self._session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, results))
