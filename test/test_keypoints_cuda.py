"""
The CUDA kernels of the keypoint pipeline against their numpy / cv2 references.

Decode: equal to ``heatmap_decode.decode_heatmaps`` within 0.01 px and 1e-4 in score, on random
heatmaps and on the real model's heatmaps. Crop: equal to ``cv2.warpAffine`` + normalise within
1/255. Skipped where pycuda or a CUDA GPU is missing.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_keypoints_decode import reference_warp

from conftest import shared_path
from jetauto_perception.engines.cuda_context import cuda_available, CudaContext
from jetauto_perception.evaluation.keypoint_oks import load_coco_keypoints
from jetauto_perception.keypoints.coco17 import flip_permutation
from jetauto_perception.keypoints.crop import (boxes_to_crops, crop_persons,
                                               normalisation_constants, warp_crop)
from jetauto_perception.keypoints.estimator import KeypointConfig, KeypointEstimator
from jetauto_perception.keypoints.heatmap_decode import decode_heatmaps, merge_flipped
from jetauto_perception.sources.files import read_image

CUDA_OK, CUDA_REASON = cuda_available()
pytestmark = pytest.mark.skipif(
    not CUDA_OK, reason='CUDA kernels need pycuda and a CUDA GPU: %s' % CUDA_REASON)

XY_TOLERANCE = 0.01
SCORE_TOLERANCE = 1e-4
PERM = flip_permutation(17)


@pytest.fixture(scope='module')
def gpu():
    """(kernels, pycuda.driver) with the primary context current for the module's tests."""
    import pycuda.driver as cuda

    from jetauto_perception.keypoints.cuda_pose import CudaPoseKernels
    context = CudaContext.get(0)
    context.context.push()
    try:
        yield CudaPoseKernels(0), cuda
    finally:
        cuda.Context.pop()


def gpu_decode(gpu, heatmaps, to_source, method, flipped=None):
    kernels, cuda = gpu
    heatmaps = np.ascontiguousarray(heatmaps, dtype=np.float32)
    n, k, h, w = heatmaps.shape
    maps = cuda.to_device(heatmaps)  # already on the GPU, as TensorRT leaves them
    mirror = cuda.to_device(np.ascontiguousarray(flipped, np.float32)) if flipped is not None \
        else None
    perm = cuda.to_device(PERM[:k].astype(np.int32) if k == 17 else np.arange(k, dtype=np.int32))
    affine = cuda.to_device(np.ascontiguousarray(to_source.reshape(n, 6), dtype=np.float64))
    out = cuda.mem_alloc(n * k * 3 * 4)
    stream = cuda.Stream()
    kernels.decode(maps, mirror, perm, affine, out, n, k, (h, w), 4.0, method, stream=stream)
    result = np.empty((n, k, 3), np.float32)
    cuda.memcpy_dtoh_async(result, out, stream)
    stream.synchronize()
    return result


def assert_decodes_equal(actual, expected):
    xy = np.abs(actual[..., :2] - expected[..., :2])
    score = np.abs(actual[..., 2] - expected[..., 2])
    assert xy.max() <= XY_TOLERANCE, 'max xy difference %.5f px at %s' % (
        xy.max(), np.unravel_index(xy.argmax(), xy.shape))
    assert score.max() <= SCORE_TOLERANCE, 'max score difference %g' % score.max()


def random_affines(rng, n):
    affine = np.zeros((n, 2, 3))
    scale = rng.uniform(0.3, 3.0, n)
    affine[:, 0, 0] = affine[:, 1, 1] = scale
    affine[:, :, 2] = rng.uniform(-200, 1500, (n, 2))
    return affine


def blob_heatmaps(rng, n, k=17, shape=(64, 48)):
    """Model-like heatmaps: a Gaussian per joint (anywhere, borders included) plus noise."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    cx = rng.uniform(-1, w, (n, k, 1, 1))
    cy = rng.uniform(-1, h, (n, k, 1, 1))
    sigma = rng.uniform(1.5, 3.0, (n, k, 1, 1))
    amplitude = rng.uniform(0.05, 1.0, (n, k, 1, 1))
    maps = amplitude * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2))
    maps += rng.normal(0, 0.01, maps.shape)
    maps[:, 0] -= 0.2  # one joint with a mostly negative map
    return maps.astype(np.float32)


@pytest.mark.parametrize('method', ['argmax', 'quarter', 'dark'])
@pytest.mark.parametrize('batch', [1, 8, 32])
def test_decode_random_model_like_heatmaps(gpu, method, batch):
    rng = np.random.default_rng(batch)
    heatmaps = blob_heatmaps(rng, batch)
    affine = random_affines(rng, batch)
    assert_decodes_equal(gpu_decode(gpu, heatmaps, affine, method),
                         decode_heatmaps(heatmaps, affine, 4.0, method))


@pytest.mark.parametrize('method', ['argmax', 'quarter'])
def test_decode_uniform_noise_with_ties(gpu, method):
    """Coarsely quantised noise: many equal maxima, so the first-maximum rule is exercised."""
    rng = np.random.default_rng(7)
    heatmaps = (rng.integers(0, 6, (8, 17, 64, 48)) / 5.0).astype(np.float32)
    affine = random_affines(rng, 8)
    assert_decodes_equal(gpu_decode(gpu, heatmaps, affine, method),
                         decode_heatmaps(heatmaps, affine, 4.0, method))


@pytest.mark.parametrize('method', ['quarter', 'dark'])
def test_decode_with_flip_merge(gpu, method):
    rng = np.random.default_rng(11)
    heatmaps = blob_heatmaps(rng, 8)
    flipped = blob_heatmaps(rng, 8)
    affine = random_affines(rng, 8)
    expected = decode_heatmaps(merge_flipped(heatmaps, flipped, PERM), affine, 4.0, method)
    assert_decodes_equal(gpu_decode(gpu, heatmaps, affine, method, flipped), expected)


@pytest.fixture(scope='module')
def real_batch():
    """The model's heatmaps for the 12 labelled people of coco_kpts, and their mirrored crops."""
    folder = shared_path('data', 'coco_kpts')
    coco = load_coco_keypoints(str(folder / 'test_coco.json'))
    estimator = KeypointEstimator.from_model(
        str(shared_path('models', 'pose', 'simplepose_mbv2_256x192.onnx')),
        config=KeypointConfig(device='cpu'))
    maps, flips, affines = [], [], []
    for image_id, name in sorted(coco.images.items()):
        boxes = np.array([p.bbox_xyxy for p in coco.labelled_people(image_id)])
        geometry = estimator.geometry(boxes)
        batch = crop_persons(read_image(str(folder / name)), geometry)
        maps.append(estimator.run_model(batch))
        flips.append(estimator.run_model(np.ascontiguousarray(batch[..., ::-1])))
        affines.append(geometry.to_source)
    estimator.close()
    return np.concatenate(maps), np.concatenate(flips), np.concatenate(affines)


@pytest.mark.parametrize('flip', [False, True], ids=['plain', 'flip'])
@pytest.mark.parametrize('method', ['argmax', 'quarter', 'dark'])
def test_decode_real_heatmaps(gpu, real_batch, method, flip):
    heatmaps, flipped, affine = real_batch
    assert heatmaps.shape == (12, 17, 64, 48)
    merged = merge_flipped(heatmaps, flipped, PERM) if flip else heatmaps
    assert_decodes_equal(gpu_decode(gpu, heatmaps, affine, method, flipped if flip else None),
                         decode_heatmaps(merged, affine, 4.0, method))


def gpu_crop(gpu, image, to_source, input_hw=(256, 192), fixed_point=None):
    kernels, cuda = gpu
    n = to_source.shape[0]
    scale, offset = normalisation_constants()
    frame = cuda.to_device(np.ascontiguousarray(image))
    affine = cuda.to_device(np.ascontiguousarray(to_source.reshape(n, 6), dtype=np.float64))
    out = cuda.mem_alloc(n * 3 * input_hw[0] * input_hw[1] * 4)
    stream = cuda.Stream()
    kernels.crop(frame, image.shape[:2], image.shape[1] * 3, affine, n, out, input_hw, scale,
                 offset, stream, fixed_point)
    result = np.empty((n, 3) + tuple(input_hw), np.float32)
    cuda.memcpy_dtoh_async(result, out, stream)
    stream.synchronize()
    return result


def crop_cases():
    """(image, crop geometry) of every coco_kpts person plus two awkward boxes per image."""
    folder = shared_path('data', 'coco_kpts')
    coco = load_coco_keypoints(str(folder / 'test_coco.json'))
    for image_id, name in sorted(coco.images.items()):
        boxes = [p.bbox_xyxy for p in coco.people[image_id]]
        # A box hanging over the corner and a tiny one: black borders, strong upscaling.
        boxes += [(-50.0, -80.0, 120.0, 200.0), (300.0, 200.0, 306.0, 209.0)]
        yield read_image(str(folder / name)), boxes_to_crops(np.array(boxes), (256, 192))


def worst_difference(batch, references):
    """Largest |CUDA - reference| in grey levels (references: BGR HWC crops, 0..255)."""
    scale, offset = normalisation_constants()
    levels = (batch - offset[:, None, None]) / scale[:, None, None]  # RGB planes, 0..255
    return max(float(np.abs(levels[i] - ref[:, :, ::-1].transpose(2, 0, 1)).max())
               for i, ref in enumerate(references))


def test_crop_equals_cv2_warp_affine_within_one_grey_level(gpu):
    worst = 0.0
    for image, geometry in crop_cases():
        batch = gpu_crop(gpu, image, geometry.to_source)  # sampling follows this cv2
        references = [warp_crop(image, m, (256, 192)).astype(np.float64)
                      for m in geometry.to_source]
        worst = max(worst, worst_difference(batch, references))
    assert worst <= 1.0, 'CUDA crop differs from cv2.warpAffine by %.3f grey levels (cv2 %s)' % (
        worst, cv2.__version__)


@pytest.mark.parametrize('fixed_point', [True, False], ids=['opencv4', 'opencv5'])
def test_crop_sampling_modes_equal_their_model(gpu, fixed_point):
    """Both samplings, whichever OpenCV is here (the model is checked against cv2 on CPU)."""
    worst = 0.0
    for image, geometry in crop_cases():
        batch = gpu_crop(gpu, image, geometry.to_source, fixed_point=fixed_point)
        references = [reference_warp(image, m, (256, 192), fixed_point)
                      for m in geometry.to_source]
        worst = max(worst, worst_difference(batch, references))
    assert worst <= 0.01, 'CUDA crop differs from its model by %.4f grey levels' % worst


def test_crop_of_mirrored_matrices_is_the_mirrored_crop(gpu):
    image = read_image(str(shared_path('data', 'coco_kpts', '000000000785.jpg')))
    geometry = boxes_to_crops(np.array([[280.79, 44.73, 499.49, 391.41]]), (256, 192))
    # Exact sampling: OpenCV 4's 1/32-px rounding may put mirrored samples 1/32 px apart.
    plain = gpu_crop(gpu, image, geometry.to_source, fixed_point=False)
    mirrored = gpu_crop(gpu, image, geometry.flipped_to_source(), fixed_point=False)
    np.testing.assert_allclose(mirrored, plain[..., ::-1], atol=1e-3)


def test_cuda_pipeline_agrees_with_the_cpu_pipeline():
    folder = shared_path('data', 'coco_kpts')
    model = str(shared_path('models', 'pose', 'simplepose_mbv2_256x192.onnx'))
    image = read_image(str(folder / '000000197388.jpg'))
    coco = load_coco_keypoints(str(folder / 'test_coco.json'))
    boxes = np.array([p.bbox_xyxy for p in coco.labelled_people(197388)])
    for flip, decode in ((False, 'quarter'), (True, 'dark')):
        results = {}
        for device in ('cpu', 'cuda'):
            estimator = KeypointEstimator.from_model(model, config=KeypointConfig(
                device=device, flip_test=flip, decode=decode))
            results[device] = estimator.estimate(image, boxes)
            estimator.close()
        assert results['cuda'].keypoints.shape == (5, 17, 3)
        # Crops differ by < 1 grey level (cv2 rounds to uint8), so peaks can move a little.
        error = np.linalg.norm(results['cuda'].keypoints[..., :2]
                               - results['cpu'].keypoints[..., :2], axis=-1)
        assert np.median(error) < 0.5 and error.max() < 6.0, error
        np.testing.assert_allclose(results['cuda'].scores, results['cpu'].scores, atol=0.01)
