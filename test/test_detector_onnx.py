"""YOLOv5n end to end with ONNX Runtime on the standard demo images."""
import cv2
import numpy as np
import pytest

from jetauto_perception.detection.yolov5 import YoloV5Detector
from jetauto_perception.engines.base import EngineConfig
from jetauto_perception.engines.factory import create_engine
from jetauto_perception.errors import BackendUnavailableError, ModelError


@pytest.fixture(scope='module')
def detector(yolov5n_onnx):
    return YoloV5Detector.from_model(str(yolov5n_onnx))


def labels_of(dets, min_score=0.25):
    return [d.label for d in dets if d.score >= min_score]


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_class_names_come_from_the_onnx_metadata(detector):
    assert len(detector.class_names) == 80
    assert detector.class_names[0] == 'person' and detector.class_names[5] == 'bus'
    assert detector.input_hw == (640, 640)


def test_bus(detector, images_dir):
    image = cv2.imread(str(images_dir / 'bus.jpg'))
    dets = detector.detect(image)
    labels = labels_of(dets)
    assert labels.count('person') >= 3
    bus = [d for d in dets if d.label == 'bus']
    assert len(bus) == 1
    # The bus spans most of the image width, in source pixels (810 x 1080).
    x1, y1, x2, y2 = bus[0].bbox
    assert x2 - x1 > 600 and x2 <= 810 and y2 <= 1080
    assert iou(bus[0].bbox, (50, 230, 810, 770)) > 0.8
    assert set(detector.timings.ms) == {'pre', 'infer', 'post'}


def test_zidane(detector, images_dir):
    image = cv2.imread(str(images_dir / 'zidane.jpg'))
    dets = detector.detect(image)
    people = [d for d in dets if d.label == 'person']
    ties = [d for d in dets if d.label == 'tie']
    assert len(people) >= 2 and len(ties) >= 1
    best = max(people, key=lambda d: d.score)
    assert best.score > 0.7
    assert iou(best.bbox, (743, 48, 1141, 720)) > 0.8   # Zidane, right half of the frame
    tie = max(ties, key=lambda d: d.score)
    assert 400 < (tie.bbox[0] + tie.bbox[2]) / 2 < 560   # Ancelotti's tie, left of centre
    for d in dets:
        assert 0 <= d.bbox[0] <= d.bbox[2] <= 1280 and 0 <= d.bbox[1] <= d.bbox[3] <= 720


def test_grey_image_has_no_detections(detector):
    dets = detector.detect(np.full((480, 640, 3), 114, np.uint8))
    assert len(dets) == 0


def test_missing_and_corrupt_models(tmp_path):
    with pytest.raises(ModelError, match='not found'):
        create_engine(str(tmp_path / 'missing.onnx'))
    empty = tmp_path / 'empty.onnx'
    empty.write_bytes(b'')
    with pytest.raises(ModelError, match='empty'):
        create_engine(str(empty))
    corrupt = tmp_path / 'corrupt.onnx'
    corrupt.write_bytes(b'this is not an onnx model' * 100)
    with pytest.raises(ModelError, match='corrupt') as info:
        create_engine(str(corrupt))
    assert '\n' not in str(info.value)


def test_unknown_backend():
    with pytest.raises(BackendUnavailableError, match='unknown backend'):
        EngineConfig(backend='openvino').validate()


def test_tensorrt_backend_explains_what_is_missing(yolov5n_onnx):
    try:
        import tensorrt
    except ImportError:
        tensorrt = None
    if hasattr(tensorrt, 'Builder'):  # the real module, not just its type stubs
        pytest.skip('TensorRT is installed here; the engine tests cover it')
    with pytest.raises(BackendUnavailableError, match='tensorrt'):
        create_engine(str(yolov5n_onnx), EngineConfig(backend='tensorrt'))
