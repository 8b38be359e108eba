"""A node that cannot start says why in one line and exits 1 (no traceback)."""
import os
import subprocess

from conftest import require_ros

require_ros()

from ros_helpers import node_command, node_env  # noqa: E402,I100


import pytest  # noqa: E402,I100

#: The model nodes and the model file type each one loads.
MODEL_NODES = [('yolov5_node', '.onnx'), ('keypoint_node', '.onnx'),
               ('face_mesh_node', '.task'), ('hands_node', '.task'), ('pose_node', '.task')]


def run_node(*params, node='yolov5_node'):
    env = dict(os.environ, **node_env())
    return subprocess.run(node_command(node, *params), env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize('node,suffix', MODEL_NODES)
def test_missing_model(tmp_path, node, suffix):
    missing = tmp_path / ('nope' + suffix)
    result = run_node('model_path:=%s' % missing, node=node)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    message = output.replace(str(missing), '<model>')
    assert 'not found' in message and 'Traceback' not in message
    assert len([line for line in output.splitlines() if 'cannot start' in line]) == 1


@pytest.mark.parametrize('node,suffix', MODEL_NODES)
def test_corrupt_model(tmp_path, node, suffix):
    bad = tmp_path / ('bad' + suffix)
    bad.write_bytes(b'not a model' * 100)
    result = run_node('model_path:=%s' % bad, node=node)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    # The temporary path itself holds the test's name: look at the message around it.
    message = output.replace(str(bad), '<model>')
    assert 'corrupt' in message and 'Traceback' not in message


def test_bad_parameter_value():
    result = run_node('backend:=openvino')
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'backend' in output and 'Traceback' not in output
