"""A node that cannot start says why in one line and exits 1 (no traceback)."""
import os
import subprocess

from conftest import require_ros

require_ros()

from ros_helpers import node_command, node_env  # noqa: E402,I100


def run_node(*params):
    env = dict(os.environ, **node_env())
    return subprocess.run(node_command('yolov5_node', *params), env=env, capture_output=True,
                          text=True, timeout=120)


def test_missing_model(tmp_path):
    result = run_node('model_path:=%s' % (tmp_path / 'nope.onnx'))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'model file not found' in output and 'Traceback' not in output


def test_corrupt_model(tmp_path):
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(b'not a model' * 100)
    result = run_node('model_path:=%s' % bad)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'corrupt or not an ONNX model' in output and 'Traceback' not in output


def test_bad_parameter_value():
    result = run_node('backend:=openvino')
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'backend' in output and 'Traceback' not in output
