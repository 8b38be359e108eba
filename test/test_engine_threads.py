"""The thread budget (EngineConfig.num_threads / spin_wait) reaches ONNX Runtime's session."""
import pytest

from jetauto_perception.engines.base import EngineConfig
from jetauto_perception.engines.onnxruntime_engine import OnnxRuntimeEngine


def session_options(model, config):
    pytest.importorskip('onnxruntime')
    engine = OnnxRuntimeEngine(str(model), config)
    try:
        return engine.session_options
    finally:
        engine.close()


def test_threads_and_no_spinning(yolov5n_onnx):
    options = session_options(yolov5n_onnx, EngineConfig(num_threads=1, spin_wait=False))
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry('session.intra_op.allow_spinning') == '0'
    assert options.get_session_config_entry('session.inter_op.allow_spinning') == '0'


def test_defaults_are_onnx_runtimes(yolov5n_onnx):
    options = session_options(yolov5n_onnx, EngineConfig())
    assert options.intra_op_num_threads == 0  # its own choice: one per core
    with pytest.raises(Exception):  # no entry: ONNX Runtime's default (spinning)
        options.get_session_config_entry('session.intra_op.allow_spinning')
