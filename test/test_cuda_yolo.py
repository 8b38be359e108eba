"""
GPU letterbox and decode against the CPU reference (letterbox_blob, yolov5_candidates).

The CPU checks of the kernel's float resize run everywhere; the kernel tests need CUDA + pycuda
and skip with the reason elsewhere.
"""
from __future__ import annotations

import pathlib
from typing import Iterator, List, Tuple

import cv2
import numpy as np
import pytest

from conftest import shared_path
from jetauto_perception.detection.letterbox import letterbox_blob
from jetauto_perception.detection.yolov5 import select_detections, yolov5_candidates
from jetauto_perception.engines.cuda_context import cuda_available
from jetauto_perception.errors import BackendUnavailableError, ImageFormatError
from letterbox_reference import letterbox_blob_composed, StagedLetterbox

CUDA_OK, CUDA_REASON = cuda_available()
needs_cuda = pytest.mark.skipif(not CUDA_OK, reason='needs a CUDA GPU with pycuda: %s'
                                % CUDA_REASON)
ONE_LEVEL = 1.0 / 255.0 + 1e-6
# Sizes that exercise every branch of the geometry: no resize, exact 2x / 3x down-scales (cv2
# switches 2x to INTER_AREA), up-scales, odd paddings, a one-pixel row and very thin images.
ODD_SIZES = [(1080, 1920), (1, 1), (1, 700), (481, 641), (640, 640), (320, 320), (1280, 1280),
             (3000, 20), (5, 7), (720, 1280), (479, 853)]


def shared_frames() -> List[Tuple[str, np.ndarray]]:
    """The demo images, 20 coco128 images and a real-content 1920x1080 frame."""
    frames = []
    for name in ('bus.jpg', 'zidane.jpg'):
        path = shared_path('data', 'images', name)
        frames.append((name, cv2.imread(str(path))))
    coco = sorted(shared_path('data', 'coco128', 'images').glob('*.jpg'))[:20]
    frames += [(p.name, cv2.imread(str(p))) for p in coco]
    full_hd = cv2.resize(frames[0][1], (1920, 1080), interpolation=cv2.INTER_CUBIC)
    frames.append(('bus_1920x1080', full_hd))
    return frames


def noise_frames() -> List[Tuple[str, np.ndarray]]:
    rng = np.random.default_rng(6)
    return [('noise_%dx%d' % (w, h), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            for h, w in ODD_SIZES]


# -- CPU: the kernel's arithmetic (composed from numpy) against cv2 ---------------------------
def test_composed_float_resize_matches_cv2_within_one_level() -> None:
    for name, frame in shared_frames() + noise_frames():
        expected, expected_transform = letterbox_blob(frame, 640)
        blob, transform = letterbox_blob_composed(frame, 640)
        assert transform == expected_transform, name
        assert blob.shape == expected.shape and blob.dtype == np.float32
        assert np.abs(blob - expected).max() <= ONE_LEVEL, name


def test_composed_resize_keeps_rgb_order_when_asked() -> None:
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[..., 0] = 255  # blue in BGR
    bgr_blob, _ = letterbox_blob_composed(frame, 8)
    rgb_blob, _ = letterbox_blob_composed(frame, 8, swap_rb=False)
    assert bgr_blob[0, 2].max() == pytest.approx(1.0) and bgr_blob[0, 0].max() < 0.5
    assert rgb_blob[0, 0].max() == pytest.approx(1.0)


def test_device_cpu_gives_the_cpu_detector(yolov5n_onnx: pathlib.Path) -> None:
    from jetauto_perception.detection.cuda_yolo import create_yolov5_detector
    from jetauto_perception.detection.yolov5 import YoloV5Detector
    from jetauto_perception.engines.base import EngineConfig
    from jetauto_perception.engines.factory import create_engine
    detector = create_yolov5_detector(create_engine(str(yolov5n_onnx), EngineConfig()), 'cpu')
    assert type(detector) is YoloV5Detector


@pytest.mark.skipif(CUDA_OK, reason='checks the error where CUDA is absent')
def test_device_cuda_without_cuda_is_a_clear_error(yolov5n_onnx: pathlib.Path) -> None:
    from jetauto_perception.detection.cuda_yolo import create_yolov5_detector
    from jetauto_perception.engines.base import EngineConfig
    from jetauto_perception.engines.factory import create_engine
    engine = create_engine(str(yolov5n_onnx), EngineConfig())
    with pytest.raises(BackendUnavailableError, match='set device to cpu or auto'):
        create_yolov5_detector(engine, 'cuda')


# -- GPU ----------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def cuda_context() -> Iterator[object]:
    if not CUDA_OK:
        pytest.skip('needs a CUDA GPU with pycuda: %s' % CUDA_REASON)
    from jetauto_perception.engines.cuda_context import CudaContext
    context = CudaContext.get(0)
    with context.active():
        yield context


@needs_cuda
@pytest.mark.parametrize('upload', ['copy', 'mapped'])
def test_gpu_letterbox_matches_cpu_within_one_level(cuda_context: object, upload: str) -> None:
    letterbox = StagedLetterbox(640, upload=upload)
    assert letterbox.upload == upload
    for name, frame in shared_frames() + noise_frames():
        expected, expected_transform = letterbox_blob(frame, 640)
        blob, transform = letterbox(frame)
        assert transform == expected_transform, name
        assert blob.shape == (1, 3, 640, 640) and blob.dtype == np.float32
        assert np.abs(blob - expected).max() <= ONE_LEVEL, name
        # and it is the composed float arithmetic, up to rounding (fused multiply-adds)
        composed, _ = letterbox_blob_composed(frame, 640)
        assert np.abs(blob - composed).max() <= 1e-4, name
    # a frame written into the page-locked staging buffer is used where it is
    staged = letterbox.staging_frame(*frame.shape[:2])
    np.copyto(staged, frame)
    assert np.abs(letterbox(staged)[0] - expected).max() <= ONE_LEVEL
    letterbox.close()


@needs_cuda
def test_gpu_letterbox_non_square_input_rgb_and_staging(cuda_context: object) -> None:
    from jetauto_perception.detection.cuda_yolo import CudaLetterbox
    frame = cv2.imread(str(shared_path('data', 'images', 'zidane.jpg')))
    letterbox = StagedLetterbox((384, 640))
    blob, transform = letterbox(frame)
    expected, expected_transform = letterbox_blob(frame, (384, 640))
    assert transform == expected_transform and blob.shape == (1, 3, 384, 640)
    assert np.abs(blob - expected).max() <= ONE_LEVEL
    # a frame written into the page-locked staging buffer is uploaded without a copy
    staged = letterbox.staging_frame(*frame.shape[:2])
    np.copyto(staged, frame)
    blob_staged, _ = letterbox(staged)
    assert np.abs(blob_staged - expected).max() <= ONE_LEVEL
    # an RGB frame with rgb_input gives the same blob
    rgb = CudaLetterbox((384, 640), rgb_input=True)
    blob_rgb, _ = rgb(np.ascontiguousarray(frame[:, :, ::-1]))
    assert np.abs(blob_rgb - expected).max() <= ONE_LEVEL
    # a non-contiguous view (a crop) is fine too
    crop = frame[100:500, 200:900]
    blob_crop, _ = letterbox(crop)
    assert np.abs(blob_crop - letterbox_blob(np.ascontiguousarray(crop), (384, 640))[0]).max() \
        <= ONE_LEVEL
    with pytest.raises(ImageFormatError):
        letterbox(np.zeros((10, 10), np.uint8))
    with pytest.raises(ImageFormatError):
        letterbox(np.zeros((0, 10, 3), np.uint8))
    letterbox.close()
    rgb.close()
    with pytest.raises(ValueError, match='upload must be'):
        CudaLetterbox(640, upload='dma')
    # auto maps host memory on an integrated GPU (Jetson) and uploads on a discrete one
    import pycuda.driver as cuda
    integrated = cuda.Context.get_device().get_attribute(cuda.device_attribute.INTEGRATED)
    assert CudaLetterbox(640).upload == ('mapped' if integrated else 'copy')


@pytest.fixture(scope='module')
def ort_predictions(yolov5n_onnx: pathlib.Path) -> List[Tuple[str, np.ndarray]]:
    """YOLOv5n run by ONNX Runtime on the CPU: (name, (25200, 85) prediction) per image."""
    from jetauto_perception.engines.base import EngineConfig
    from jetauto_perception.engines.factory import create_engine
    engine = create_engine(str(yolov5n_onnx), EngineConfig())
    predictions = []
    for name, frame in shared_frames()[:22]:  # bus, zidane and 20 coco128 images
        blob, _ = letterbox_blob(frame, 640)
        predictions.append((name, engine.infer_single(blob)[0][0].copy()))
    return predictions


def _assert_same(gpu: Tuple[np.ndarray, ...], cpu: Tuple[np.ndarray, ...], name: str) -> None:
    for got, want in zip(gpu, cpu):
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)


@needs_cuda
@pytest.mark.parametrize('conf, multi_label, classes', [
    (0.25, False, None), (0.001, True, None), (0.1, False, {0, 5}), (0.01, True, {0, 27})])
def test_gpu_decode_equals_cpu_decode(cuda_context: object, ort_predictions: list, conf: float,
                                      multi_label: bool, classes: object) -> None:
    import pycuda.gpuarray as gpuarray

    from jetauto_perception.detection.cuda_yolo import CudaYoloDecoder
    decoder = CudaYoloDecoder(25200, 85, conf, multi_label, classes)  # type: ignore[arg-type]
    total = 0
    for name, prediction in ort_predictions:
        on_gpu = gpuarray.to_gpu(prediction)
        gpu = decoder.candidates(on_gpu)
        cpu = yolov5_candidates(prediction, conf, multi_label, classes)  # type: ignore[arg-type]
        _assert_same(gpu, cpu, name)
        total += len(cpu[0])
        _assert_same(select_detections(*gpu, 0.45, 300), select_detections(*cpu, 0.45, 300),
                     name)
    assert total > 0  # the comparison saw candidates


@needs_cuda
def test_gpu_decode_beyond_prefetch_and_capacity(cuda_context: object,
                                                 ort_predictions: list) -> None:
    import pycuda.gpuarray as gpuarray

    from jetauto_perception.detection.cuda_yolo import CudaYoloDecoder
    name, prediction = ort_predictions[0]
    on_gpu = gpuarray.to_gpu(prediction)
    cpu = yolov5_candidates(prediction, 0.001, True)
    assert len(cpu[0]) > 40
    small_prefetch = CudaYoloDecoder(25200, 85, 0.001, True, prefetch=8)
    _assert_same(small_prefetch.candidates(on_gpu), cpu, name)
    overflow = CudaYoloDecoder(25200, 85, 0.001, True, capacity=16, prefetch=8)
    _assert_same(overflow.candidates(on_gpu), cpu, name)
    nothing = CudaYoloDecoder(25200, 85, 0.9999)
    assert [len(a) for a in nothing.candidates(on_gpu)] == [0, 0, 0]


@needs_cuda
def test_gpu_preprocessing_detector_matches_cpu_detector(cuda_context: object,
                                                         yolov5n_onnx: pathlib.Path) -> None:
    """With an ONNX Runtime engine the GPU does the letterbox; detections stay the same."""
    from jetauto_perception.detection.cuda_yolo import create_yolov5_detector, CudaYoloV5Detector
    from jetauto_perception.engines.base import EngineConfig
    from jetauto_perception.engines.factory import create_engine
    engine = create_engine(str(yolov5n_onnx), EngineConfig())
    cpu = create_yolov5_detector(engine, 'cpu')
    gpu = create_yolov5_detector(engine, 'cuda')
    assert isinstance(gpu, CudaYoloV5Detector) and not gpu.device_resident
    for name, frame in shared_frames()[:4]:
        want, got = cpu.detect(frame), gpu.detect(frame)
        assert len(want) > 0, name
        # inputs differ by < 1/255: every confident box has its twin (same class, IoU > 0.95)
        for first, second in ((want, got), (got, want)):
            confident = first.select(first.scores > 0.3)
            for box, cls, score in zip(confident.boxes, confident.class_ids, confident.scores):
                same = second.class_ids == cls
                assert same.any(), name
                best = int(np.argmax(np.where(same, _iou(box, second.boxes), -1.0)))
                assert _iou(box, second.boxes)[best] > 0.95, name
                assert abs(second.scores[best] - score) < 0.02, name


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    return inter / ((box[2:] - box[:2]).prod() + areas - inter)
