"""``jetauto-perception eval``: mAP of YOLOv5n on coco128 images through the CLI."""
from __future__ import annotations

import json
import pathlib
import shutil

import pytest

from jetauto_perception import cli


@pytest.fixture(scope='module')
def coco128(shared: pathlib.Path) -> pathlib.Path:
    folder = shared / 'data' / 'coco128'
    if not (folder / 'images').is_dir() or not (folder / 'labels').is_dir():
        pytest.skip('coco128 is not in %s' % shared)
    return folder


def _eval(tmp_path: pathlib.Path, model: pathlib.Path, images: pathlib.Path,
          labels: pathlib.Path, *extra: str) -> dict:
    out = tmp_path / ('result_%d.json' % len(list(tmp_path.glob('result_*.json'))))
    assert cli.main(['eval', '--model', str(model), '--images', str(images), '--labels',
                     str(labels), '--device', 'cpu', '--output', str(out)] + list(extra)) == 0
    return json.loads(out.read_text())


def test_eval_yolov5n_on_coco128(tmp_path: pathlib.Path, yolov5n_onnx: pathlib.Path,
                                 coco128: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    images, labels = coco128 / 'images', coco128 / 'labels'
    low = _eval(tmp_path, yolov5n_onnx, images, labels, '--max-images', '24', '--multi-label')
    printed = capsys.readouterr().out
    assert 'mAP50-95 %.4f  mAP50 %.4f' % (low['map50_95'], low['map50']) in printed
    assert 'Average Precision' in printed
    assert low['images'] == 24 and low['ground_truth_boxes'] > 50 and low['detections'] > 100
    assert low['device'] == 'cpu' and low['multi_label'] is True
    # YOLOv5n scores about 0.36 / 0.56 on all 96 images; 24 images land near it
    assert 0.2 < low['map50_95'] < 0.6 and low['map50_95'] < low['map50'] < 0.85
    # a high threshold drops low-score true positives: mAP must fall
    high = _eval(tmp_path, yolov5n_onnx, images, labels, '--max-images', '24', '--conf', '0.5')
    assert high['detections'] < low['detections'] / 5
    assert high['map50_95'] < low['map50_95']


def test_eval_with_wrong_labels_scores_low(tmp_path: pathlib.Path, yolov5n_onnx: pathlib.Path,
                                           coco128: pathlib.Path) -> None:
    """The score depends on the labels: every label shifted to another class scores ~0."""
    images = sorted((coco128 / 'images').glob('*.jpg'))[:8]
    image_dir, label_dir = tmp_path / 'images', tmp_path / 'labels'
    image_dir.mkdir()
    label_dir.mkdir()
    for image in images:
        shutil.copy(str(image), str(image_dir / image.name))
        label = coco128 / 'labels' / (image.stem + '.txt')
        if label.is_file():
            lines = []
            for line in label.read_text().splitlines():
                parts = line.split()
                parts[0] = str((int(parts[0]) + 1) % 80)
                lines.append(' '.join(parts))
            (label_dir / label.name).write_text('\n'.join(lines) + '\n')
    right = _eval(tmp_path, yolov5n_onnx, image_dir, coco128 / 'labels')
    wrong = _eval(tmp_path, yolov5n_onnx, image_dir, label_dir)
    assert right['map50'] > 0.3
    assert wrong['map50'] < 0.1


@pytest.mark.parametrize('which', ['images', 'labels'])
def test_eval_missing_folder_is_one_clear_line(tmp_path: pathlib.Path,
                                               yolov5n_onnx: pathlib.Path, which: str,
                                               capsys: pytest.CaptureFixture) -> None:
    folders = {'images': str(tmp_path), 'labels': str(tmp_path)}
    folders[which] = str(tmp_path / 'missing')
    assert cli.main(['eval', '--model', str(yolov5n_onnx), '--images', folders['images'],
                     '--labels', folders['labels']]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: --%s folder not found' % which) and '\n' not in err


def test_eval_empty_image_folder(tmp_path: pathlib.Path, yolov5n_onnx: pathlib.Path,
                                 capsys: pytest.CaptureFixture) -> None:
    assert cli.main(['eval', '--model', str(yolov5n_onnx), '--images', str(tmp_path),
                     '--labels', str(tmp_path)]) == 2
    assert 'no images' in capsys.readouterr().err
