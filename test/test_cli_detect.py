"""The `jetauto-perception detect` command: output format, annotated images, clear errors."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, '-m', 'jetauto_perception'] + list(args), cwd=REPO,
                          capture_output=True, text=True, timeout=300, **kwargs)


def test_detect_folder_writes_jsonl_and_annotations(yolov5n_onnx, images_dir, tmp_path):
    out = tmp_path / 'out.jsonl'
    save = tmp_path / 'annotated'
    result = cli('detect', '--model', str(yolov5n_onnx), '--source', str(images_dir),
                 '--output', str(out), '--save-dir', str(save))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    names = [r['image'] for r in records]
    assert names == sorted(names) and 'bus.jpg' in names and 'zidane.jpg' in names
    for r in records:
        assert set(r) == {'image', 'width', 'height', 'detections'}
        for d in r['detections']:
            assert set(d) == {'class_id', 'label', 'score', 'bbox'}
            x1, y1, x2, y2 = d['bbox']
            assert 0 <= x1 <= x2 <= r['width'] and 0 <= y1 <= y2 <= r['height']
            assert 0.25 <= d['score'] <= 1
    bus = next(r for r in records if r['image'] == 'bus.jpg')
    assert (bus['width'], bus['height']) == (810, 1080)
    assert {'person', 'bus'} <= {d['label'] for d in bus['detections']}
    assert sorted(os.listdir(save)) == sorted(names)


def test_detect_video_frames_and_class_filter(yolov5n_onnx, shared, tmp_path):
    video = shared / 'data' / 'video' / 'vtest.avi'
    if not video.exists():
        pytest.skip('no shared video')
    out = tmp_path / 'v.jsonl'
    result = cli('detect', '--model', str(yolov5n_onnx), '--source', str(video), '--output',
                 str(out), '--max-frames', '3', '--classes', 'person')
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r['image'] for r in records] == ['0', '1', '2']
    labels = {d['label'] for r in records for d in r['detections']}
    assert labels == {'person'}


@pytest.mark.parametrize('model_text,needle', [
    (None, 'model file not found'),
    (b'garbage' * 50, 'corrupt or not an ONNX model'),
])
def test_bad_model_is_one_line_error(tmp_path, images_dir, model_text, needle):
    model = tmp_path / 'model.onnx'
    if model_text is not None:
        model.write_bytes(model_text)
    result = cli('detect', '--model', str(model), '--source', str(images_dir / 'bus.jpg'))
    assert result.returncode == 2
    assert needle in result.stderr
    assert 'Traceback' not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_source_is_one_line_error(yolov5n_onnx):
    result = cli('detect', '--model', str(yolov5n_onnx), '--source', '/nonexistent/dir')
    assert result.returncode == 2 and 'source not found' in result.stderr
    assert 'Traceback' not in result.stderr
