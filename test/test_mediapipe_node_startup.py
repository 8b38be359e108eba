"""A MediaPipe node that cannot start says why in one line and exits 1 (no traceback)."""
import os
import subprocess

import pytest

from conftest import require_ros

require_ros()

from ros_helpers import node_command  # noqa: E402,I100
from ros_helpers import node_env  # noqa: E402


def run_node(module, *params):
    env = dict(os.environ, **node_env())
    result = subprocess.run(node_command(module, *params), env=env, capture_output=True,
                            text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize('module', ['face_mesh_node', 'hands_node', 'pose_node',
                                    'face_detection_node', 'segmentation_node'])
def test_missing_model(module, tmp_path):
    code, output = run_node(module, 'model_path:=%s' % (tmp_path / 'nope.task'))
    assert code == 1, output
    assert 'cannot start: model file not found' in output and 'Traceback' not in output


def test_corrupt_model(tmp_path):
    bad = tmp_path / 'bad.task'
    bad.write_bytes(b'not a model' * 100)
    code, output = run_node('hands_node', 'model_path:=%s' % bad)
    assert code == 1, output
    assert 'corrupt or not a MediaPipe hands landmarker' in output and 'Traceback' not in output


def test_corrupt_segmenter_model(tmp_path):
    bad = tmp_path / 'selfie_segmenter.tflite'
    bad.write_bytes(b'not a model' * 100)
    code, output = run_node('segmentation_node', 'model_path:=%s' % bad)
    assert code == 1, output
    assert 'corrupt or not a MediaPipe image segmenter' in output and 'sha256 differs' in output
    assert 'Traceback' not in output


def test_wrong_bundle_for_the_node():
    code, output = run_node('face_mesh_node', 'model_path:=hand_landmarker.task')
    assert code == 1, output
    assert 'face_landmarker.task' in output and 'Traceback' not in output


def test_bad_choice():
    code, output = run_node('face_mesh_node', 'face_edges:=wireframe')
    assert code == 1, output
    assert 'face_edges' in output and 'contours' in output and 'Traceback' not in output


def test_out_of_range_parameter():
    code, output = run_node('pose_node', 'num_poses:=0')
    assert code == 1, output
    assert 'num_poses' in output and 'Traceback' not in output
