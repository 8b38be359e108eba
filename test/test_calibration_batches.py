"""INT8 calibration data without TensorRT: images -> batches, the cache, the build progress."""
from __future__ import annotations

import io
import pathlib

import cv2
import numpy as np
import pytest

from jetauto_perception.detection.letterbox import letterbox_blob
from jetauto_perception.errors import ModelError, SourceError
from jetauto_perception.quantization.calibration import (calibration_images, CalibrationBatches,
                                                         create_entropy_calibrator, read_cache,
                                                         write_cache)


@pytest.fixture(scope='module')
def coco_images(shared: pathlib.Path) -> list:
    paths = sorted(str(p) for p in (shared / 'data' / 'coco128' / 'images').glob('*.jpg'))
    if len(paths) < 5:
        pytest.skip('coco128 images are not in %s' % shared)
    return paths[:5]


def test_batches_are_the_detector_preprocessing(coco_images: list) -> None:
    batches = CalibrationBatches(coco_images, batch_size=2)
    assert len(batches) == 2 and batches.shape == (2, 3, 640, 640)
    produced = list(batches)
    assert len(produced) == 2  # the fifth image cannot fill a batch
    for index, batch in enumerate(produced):
        assert batch.dtype == np.float32 and batch.shape == (2, 3, 640, 640)
        for row in range(2):
            expected, _ = letterbox_blob(cv2.imread(coco_images[2 * index + row]), 640)
            np.testing.assert_array_equal(batch[row:row + 1], expected)
    # each batch is its own array (TensorRT may still read one while the next is made)
    assert produced[0] is not produced[1]
    assert not np.array_equal(produced[0], produced[1])


def test_non_square_input_and_batch_of_one(coco_images: list) -> None:
    batches = CalibrationBatches(coco_images[:3], batch_size=1, input_size=(384, 640))
    produced = list(batches)
    assert len(produced) == 3 and produced[0].shape == (1, 3, 384, 640)
    expected, _ = letterbox_blob(cv2.imread(coco_images[2]), (384, 640))
    np.testing.assert_array_equal(produced[2], expected)


def test_unreadable_image_is_skipped(coco_images: list, tmp_path: pathlib.Path) -> None:
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    batches = CalibrationBatches([coco_images[0], str(broken), coco_images[1]], batch_size=2)
    produced = list(batches)
    assert len(produced) == 1 and batches.skipped == [str(broken)]
    expected, _ = letterbox_blob(cv2.imread(coco_images[1]), 640)
    np.testing.assert_array_equal(produced[0][1:2], expected)


def test_bad_batch_arguments(coco_images: list) -> None:
    with pytest.raises(SourceError, match='cannot fill one batch'):
        CalibrationBatches(coco_images[:2], batch_size=4)
    with pytest.raises(ValueError):
        CalibrationBatches(coco_images, batch_size=0)


def test_calibration_image_folder(shared: pathlib.Path, tmp_path: pathlib.Path) -> None:
    folder = str(shared / 'data' / 'coco128' / 'images')
    assert len(calibration_images(folder, max_images=7)) == 7
    assert len(calibration_images(folder)) > 7
    with pytest.raises(SourceError, match='not found'):
        calibration_images(str(tmp_path / 'missing'))
    with pytest.raises(SourceError, match='no images'):
        calibration_images(str(tmp_path))


def test_cache_round_trip(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / 'sub' / 'model.calib')
    assert read_cache(path) is None
    write_cache(path, b'TRT-100-EntropyCalibration2\nimages: 3c010a14\n')
    assert read_cache(path) == b'TRT-100-EntropyCalibration2\nimages: 3c010a14\n'
    pathlib.Path(path).write_bytes(b'')
    assert read_cache(path) is None  # an empty cache is no cache


def test_int8_without_images_or_cache_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ModelError, match='--calib-images'):
        create_entropy_calibrator(None, str(tmp_path / 'missing.calib'))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_build_progress_is_silent_without_a_terminal() -> None:
    from jetauto_perception.commands.build_engine import BuildProgress
    out = io.StringIO()
    progress = BuildProgress(out)
    progress.phase('Building engine', 0, 3)
    progress.phase('Building engine', 3, 3)
    progress.calibration(4, 4)
    progress.close()
    assert out.getvalue() == ''  # a log file gets TensorRT's own log lines, not bar redraws


def test_build_progress_bar_follows_the_outer_phase_and_names_the_inner() -> None:
    from jetauto_perception.commands.build_engine import BuildProgress
    out = _Terminal()
    progress = BuildProgress(out)
    progress.phase('Building engine', 0, 4)
    progress.phase('Tactic selection', 3, 10)
    assert '0/4' in out.getvalue() and 'Tactic selection' in out.getvalue()
    progress.phase('Building engine', 2, 4)  # the inner phase is still open: its name stays
    assert out.getvalue().rstrip().endswith('Tactic selection]')
    assert '2/4' in out.getvalue()
    progress.phase('Tactic selection', 10, 10)
    progress.phase('Building engine', 3, 4)
    assert out.getvalue().rstrip().endswith('Building engine]')
    progress.phase('Building engine', 4, 4)  # the outer phase ends: the bar is closed
    progress.calibration(2, 8)
    assert '2/8' in out.getvalue()
    progress.close()


def test_model_input_of_yolov5n(yolov5n_onnx: pathlib.Path) -> None:
    from jetauto_perception.commands.build_engine import model_input
    assert model_input(str(yolov5n_onnx)) == ('images', 1, (640, 640))
