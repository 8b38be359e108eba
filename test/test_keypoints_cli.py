"""The `jetauto-perception keypoints` command: JSONL layout, ground-truth scoring, clear errors."""
import json
import subprocess
import sys

import pytest

from conftest import REPO, shared_path


def cli(*args):
    return subprocess.run([sys.executable, '-m', 'jetauto_perception', 'keypoints'] + list(args),
                          cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def pose_model():
    return str(shared_path('models', 'pose', 'simplepose_mbv2_256x192.onnx'))


@pytest.fixture(scope='module')
def coco_dir():
    return shared_path('data', 'coco_kpts')


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ground_truth_boxes_give_17_keypoints_and_a_score(pose_model, coco_dir, tmp_path):
    out = tmp_path / 'kp.jsonl'
    save = tmp_path / 'drawn'
    result = cli('--model', pose_model, '--source', str(coco_dir), '--boxes',
                 str(coco_dir / 'test_coco.json'), '--output', str(out), '--device', 'cpu',
                 '--save-dir', str(save))
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out)
    assert [r['image'] for r in records] == sorted(p.name for p in coco_dir.glob('*.jpg'))
    assert sum(len(r['instances']) for r in records) == 12
    for record in records:
        assert set(record) == {'image', 'instances'}
        for instance in record['instances']:
            assert set(instance) == {'bbox', 'score', 'keypoints'}
            assert len(instance['keypoints']) == 17
            x1, y1, x2, y2 = instance['bbox']
            assert x1 < x2 and y1 < y2
            # Keypoints lie in the crop (the box made 3:4 and x1.25), so near the box.
            reach = 0.9 * max(x2 - x1, (y2 - y1) * 0.75)
            for x, y, score in instance['keypoints']:
                assert x1 - reach <= x <= x2 + reach and y1 - reach <= y <= y2 + reach
            assert instance['score'] == pytest.approx(
                sum(p[2] for p in instance['keypoints']) / 17, abs=1e-4)
    assert 'mean OKS 0.8' in result.stderr  # >= 0.79 is the accuracy test's job
    assert len(list(save.iterdir())) == 4


def test_whole_image_without_boxes_is_one_person(pose_model, images_dir, tmp_path):
    out = tmp_path / 'one.jsonl'
    result = cli('--model', pose_model, '--source', str(images_dir / 'zidane.jpg'),
                 '--output', str(out), '--device', 'cpu', '--flip-test', '--dark')
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(out)
    assert record['image'] == 'zidane.jpg'
    (instance,) = record['instances']
    assert instance['bbox'] == [0, 0, 1280, 720]


def test_detector_boxes_and_max_persons(pose_model, yolov5n_onnx, images_dir, tmp_path):
    out = tmp_path / 'det.jsonl'
    result = cli('--model', pose_model, '--source', str(images_dir / 'bus.jpg'),
                 '--detector-model', str(yolov5n_onnx), '--max-persons', '2', '--output',
                 str(out), '--device', 'cpu')
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(out)
    assert len(record['instances']) == 2


@pytest.mark.parametrize('args,needle', [
    (['--model', 'missing.onnx'], 'model'),
    (['--source', 'no/such/dir'], 'source not found'),
    (['--boxes', 'no/such.json'], 'COCO keypoints file not found'),
])
def test_bad_input_is_a_one_line_error(pose_model, coco_dir, tmp_path, args, needle):
    base = {'--model': pose_model, '--source': str(coco_dir), '--output':
            str(tmp_path / 'x.jsonl')}
    merged = dict(base, **dict(zip(args[::2], args[1::2])))
    result = cli(*[item for pair in merged.items() for item in pair], '--device', 'cpu')
    assert result.returncode == 2
    assert result.stderr.startswith('error: ') and needle in result.stderr
    assert 'Traceback' not in result.stderr
