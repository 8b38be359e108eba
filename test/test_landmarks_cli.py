"""The `jetauto-perception landmarks` command: JSONL format, video stamps, clear errors."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from conftest import shared_path

pytest.importorskip('mediapipe', reason='mediapipe is not installed (pip install mediapipe)')


def cli(*args):
    return subprocess.run([sys.executable, '-m', 'jetauto_perception', 'landmarks'] + list(args),
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hands_folder_to_jsonl_and_annotations(tmp_path):
    hands = shared_path('data', 'images', 'hands')
    out = tmp_path / 'hands.jsonl'
    save = tmp_path / 'annotated'
    result = cli('--task', 'hands', '--source', str(hands), '--output', str(out),
                 '--save-dir', str(save))
    assert result.returncode == 0, result.stderr
    lines = records(out)
    assert [r['image'] for r in lines] == sorted(os.listdir(str(hands)))
    for r in lines:
        assert set(r) == {'image', 'instances'} and len(r['instances']) == 1
        inst = r['instances'][0]
        assert set(inst) == {'bbox', 'score', 'label', 'keypoints'}
        assert inst['label'] in ('Left', 'Right') and 0.5 < inst['score'] <= 1
        assert len(inst['keypoints']) == 21 and all(len(k) == 4 for k in inst['keypoints'])
        x1, y1, x2, y2 = inst['bbox']
        xs = [k[0] for k in inst['keypoints']]
        ys = [k[1] for k in inst['keypoints']]
        assert x1 <= min(xs) + 1e-3 and max(xs) <= x2 + 1e-3
        assert y1 <= min(ys) + 1e-3 and max(ys) <= y2 + 1e-3
    assert sorted(os.listdir(str(save))) == sorted(r['image'] for r in lines)
    assert '4 frames, 4 instances, IMAGE mode' in result.stderr


def test_face_and_pose_on_single_images(tmp_path):
    face_out = tmp_path / 'face.jsonl'
    result = cli('--task', 'face', '--source',
                 str(shared_path('data', 'images', 'faces', 'cofw_001766.jpg')),
                 '--output', str(face_out), '--blendshapes')
    assert result.returncode == 0, result.stderr
    (face,) = records(face_out)
    (inst,) = face['instances']
    assert inst['label'] == 'face' and len(inst['keypoints']) == 478
    assert len(inst['blendshapes']) == 52
    result = cli('--task', 'pose', '--source', str(shared_path('data', 'images', 'zidane.jpg')))
    assert result.returncode == 0, result.stderr
    (pose,) = [json.loads(line) for line in result.stdout.splitlines()]  # stdout by default
    assert pose['image'] == 'zidane.jpg'
    person = pose['instances'][0]
    assert person['label'] == 'person' and len(person['keypoints']) == 33
    nose, left_hip = person['keypoints'][0], person['keypoints'][23]
    assert nose[1] < left_hip[1]


def test_video_runs_in_video_mode_with_frame_times(tmp_path):
    out = tmp_path / 'video.jsonl'
    result = cli('--task', 'pose', '--source', str(shared_path('data', 'video', 'vtest.avi')),
                 '--max-frames', '5', '--output', str(out))
    assert result.returncode == 0, result.stderr
    assert [r['image'] for r in records(out)] == ['0', '1', '2', '3', '4']
    assert '5 frames' in result.stderr and 'VIDEO mode, stamps every 100.0 ms' in result.stderr


@pytest.mark.parametrize('content,needle', [
    (None, 'not found'),
    (b'garbage' * 50, 'corrupt or not a MediaPipe face landmarker'),
])
def test_bad_model_is_one_line_error(tmp_path, content, needle):
    path = tmp_path / 'model.task'
    if content is not None:
        path.write_bytes(content)
    result = cli('--task', 'face', '--model', str(path), '--source',
                 str(shared_path('data', 'images', 'bus.jpg')))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert 'Traceback' not in result.stderr


def test_bad_option_and_source_are_clear_errors(tmp_path):
    result = cli('--task', 'hands', '--source', str(tmp_path / 'nothing.jpg'))
    assert result.returncode == 2 and 'error: source not found' in result.stderr
    result = cli('--task', 'hands', '--min-detection-confidence', '2',
                 '--source', str(shared_path('data', 'images', 'bus.jpg')))
    assert result.returncode == 2 and 'min_detection_confidence' in result.stderr
