"""
TensorRT engine tooling: built and run where TensorRT is.

TensorRT cannot be installed on CI or the GPU lent to the project, so the build tests skip there
with the reason.
"""
from __future__ import annotations

import pathlib
from typing import List

import cv2
import numpy as np
import pytest

from conftest import shared_path
from jetauto_perception import cli
from jetauto_perception.engines.cuda_context import cuda_available

TRT_FILES = ['jetauto_perception/quantization/calibration.py',
             'jetauto_perception/commands/build_engine.py',
             'jetauto_perception/engines/tensorrt_engine.py']


def _tensorrt_reason() -> str:
    try:
        import tensorrt
    except ImportError as exc:
        return 'TensorRT is not installed here (%s); these tests run on a Jetson' % exc
    if not hasattr(tensorrt, 'Builder'):  # tensorrt-stubs alone: an empty namespace package
        return 'TensorRT is not installed here (only its type stubs); these tests run on a Jetson'
    ok, reason = cuda_available()
    return '' if ok else 'TensorRT needs a CUDA GPU with pycuda: %s' % reason


TRT_REASON = _tensorrt_reason()
needs_tensorrt = pytest.mark.skipif(bool(TRT_REASON), reason=TRT_REASON)


# The mypy check against tensorrt-stubs is test_code_quality.py's (tools/check_tensorrt_types.py).


@pytest.mark.skipif(not TRT_REASON.startswith('TensorRT is not installed'),
                    reason='checks the error where TensorRT is absent')
def test_build_engine_without_tensorrt_is_one_clear_line(
        yolov5n_onnx: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(['build-engine', '--onnx', str(yolov5n_onnx)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: build-engine needs the tensorrt') and '\n' not in err


def test_build_engine_rejects_a_non_onnx_file(tmp_path: pathlib.Path,
                                              capsys: pytest.CaptureFixture) -> None:
    engine = tmp_path / 'model.engine'
    engine.write_bytes(b'x')
    assert cli.main(['build-engine', '--onnx', str(engine)]) == 2
    assert 'wants an .onnx file' in capsys.readouterr().err


# -- where TensorRT is installed ------------------------------------------------------------------
def _match_fraction(reference: object, candidate: object, min_iou: float) -> float:
    """Share of the reference boxes with a same-class candidate box at ``min_iou`` or more."""
    ref_boxes, cand_boxes = reference.boxes, candidate.boxes  # type: ignore[attr-defined]
    if len(ref_boxes) == 0:
        return 1.0
    if len(cand_boxes) == 0:
        return 0.0
    top_left = np.maximum(ref_boxes[:, None, :2], cand_boxes[None, :, :2])
    bottom_right = np.minimum(ref_boxes[:, None, 2:], cand_boxes[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_ref = (ref_boxes[:, 2:] - ref_boxes[:, :2]).prod(axis=1)
    area_cand = (cand_boxes[:, 2:] - cand_boxes[:, :2]).prod(axis=1)
    iou = inter / (area_ref[:, None] + area_cand[None, :] - inter)
    same = reference.class_ids[:, None] == candidate.class_ids[None, :]  # type: ignore
    return float(((iou >= min_iou) & same).any(axis=1).mean())


@pytest.fixture(scope='module')
def fp16_engine(tmp_path_factory: pytest.TempPathFactory, yolov5n_onnx: pathlib.Path) -> str:
    if TRT_REASON:
        pytest.skip(TRT_REASON)
    out = tmp_path_factory.mktemp('engines') / 'yolov5n_fp16.engine'
    assert cli.main(['build-engine', '--onnx', str(yolov5n_onnx), '--precision', 'fp16',
                     '--output', str(out)]) == 0
    assert out.stat().st_size > 1000
    return str(out)


def _images() -> List[np.ndarray]:
    return [cv2.imread(str(shared_path('data', 'images', name)))
            for name in ('bus.jpg', 'zidane.jpg')]


@needs_tensorrt
def test_fp16_engine_matches_onnxruntime(fp16_engine: str, yolov5n_onnx: pathlib.Path,
                                         capsys: pytest.CaptureFixture) -> None:
    from jetauto_perception.detection.cuda_yolo import CudaYoloV5Detector
    from jetauto_perception.detection.yolov5 import YoloV5Detector
    from jetauto_perception.engines.base import EngineConfig
    reference = YoloV5Detector.from_model(str(yolov5n_onnx), EngineConfig())
    trt_cpu = YoloV5Detector.from_model(fp16_engine, EngineConfig(backend='tensorrt'))
    trt_gpu = CudaYoloV5Detector.from_model(fp16_engine, EngineConfig(backend='tensorrt'))
    assert isinstance(trt_gpu, CudaYoloV5Detector) and trt_gpu.device_resident
    assert trt_cpu.class_names == reference.class_names or not trt_cpu.class_names
    for image in _images():
        want = reference.detect(image)
        assert len(want) >= 4
        for got in (trt_cpu.detect(image), trt_gpu.detect(image)):
            assert _match_fraction(want.select(want.scores > 0.4), got, 0.9) >= 0.9
            assert _match_fraction(got.select(got.scores > 0.4), want, 0.9) >= 0.9
    # a second build of the same engine is a no-op
    capsys.readouterr()
    assert cli.main(['build-engine', '--onnx', str(yolov5n_onnx), '--output', fp16_engine]) == 0
    assert 'up to date' in capsys.readouterr().out


def _implicit_int8_reason() -> str:
    if TRT_REASON:
        return TRT_REASON
    import tensorrt
    from jetauto_perception.engines.tensorrt_plan import version_tuple
    if version_tuple(tensorrt.__version__) >= (10, 1):
        return ('TensorRT %s has no implicit INT8 calibration (deprecated in 10.1, removed in '
                '11): INT8 comes from a Q/DQ model there' % tensorrt.__version__)
    return ''


@needs_tensorrt
def test_int8_engine_from_a_qdq_model(tmp_path: pathlib.Path,
                                      yolov5n_onnx: pathlib.Path) -> None:
    """``quantize`` then ``build-engine``: INT8 with no calibrator, on every TensorRT >= 8.5."""
    pytest.importorskip('onnx', reason='quantize needs onnx')
    from jetauto_perception.detection.yolov5 import YoloV5Detector
    from jetauto_perception.engines.base import EngineConfig
    qdq, engine = tmp_path / 'yolov5n.int8.onnx', tmp_path / 'int8.engine'
    assert cli.main(['quantize', '--onnx', str(yolov5n_onnx), '--output', str(qdq),
                     '--calib', str(shared_path('data', 'images')), '--rules', 'p99.999',
                     '--keep-float', '0', '--latency-runs', '0']) == 0
    assert cli.main(['build-engine', '--onnx', str(qdq), '--output', str(engine)]) == 0
    reference = YoloV5Detector.from_model(str(qdq), EngineConfig())
    int8 = YoloV5Detector.from_model(str(engine), EngineConfig(backend='tensorrt'))
    for image in _images():
        want = reference.detect(image)
        assert _match_fraction(want.select(want.scores > 0.5), int8.detect(image), 0.5) >= 0.8


@pytest.mark.skipif(bool(_implicit_int8_reason()), reason=_implicit_int8_reason())
def test_int8_engine_calibrates_and_reuses_its_cache(tmp_path: pathlib.Path,
                                                     yolov5n_onnx: pathlib.Path) -> None:
    from jetauto_perception.detection.yolov5 import YoloV5Detector
    from jetauto_perception.engines.base import EngineConfig
    images = shared_path('data', 'coco128', 'images')
    engine, cache = tmp_path / 'int8.engine', tmp_path / 'int8.calib'
    assert cli.main(['build-engine', '--onnx', str(yolov5n_onnx), '--precision', 'int8',
                     '--calib-images', str(images), '--calib-max-images', '32',
                     '--calib-cache', str(cache), '--output', str(engine)]) == 0
    assert cache.stat().st_size > 100
    first_cache = cache.read_bytes()
    # rebuilding needs no images: the cache is read, calibration is skipped
    assert cli.main(['build-engine', '--onnx', str(yolov5n_onnx), '--precision', 'int8',
                     '--calib-cache', str(cache), '--output', str(engine), '--force']) == 0
    assert cache.read_bytes() == first_cache
    reference = YoloV5Detector.from_model(str(yolov5n_onnx), EngineConfig())
    int8 = YoloV5Detector.from_model(str(engine), EngineConfig(backend='tensorrt'))
    for image in _images():
        want = reference.detect(image)
        assert _match_fraction(want.select(want.scores > 0.5), int8.detect(image), 0.5) >= 0.6
