"""3D from registered depth on the real RGB-D frames of shared/data/rgbd (reference table)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, shared_path
from jetauto_perception.spatial.depth import (check_same_size, decode_depth, depth_to_meters,
                                              DepthFormatError, Intrinsics)
from jetauto_perception.spatial.localize import Localizer

#: shared/data/rgbd/README.md "Reference positions": (frame, label, box centre u, z, X).
REFERENCE = [
    ('pcl_five_people', 'person', 86, 1.97, -0.88),
    ('pcl_five_people', 'person', 193, 2.31, -0.56),
    ('pcl_five_people', 'person', 329.5, 2.73, 0.05),
    ('pcl_five_people', 'person', 413, 2.50, 0.44),
    ('pcl_five_people', 'person', 532, 1.79, 0.72),
    ('pcl_bottles', 'bottle', 143.5, 0.64, -0.21),
    ('pcl_bottles', 'bottle', 450, 0.67, 0.17),
    ('pcl_office', 'chair', 195.5, 2.31, -0.55),
    ('pcl_laptop', 'laptop', 257, 0.82, -0.10),
]


@pytest.fixture(scope='module')
def localized(tmp_path_factory):
    """`jetauto-perception localize` over both camera folders: image name -> record."""
    shared_path('models', 'yolov5', 'yolov5n.onnx')
    records = {}
    for camera in ('pcl_kinect_a', 'pcl_kinect_b'):
        folder = shared_path('data', 'rgbd', camera)
        out = tmp_path_factory.mktemp('loc') / 'out.jsonl'
        result = subprocess.run(
            [sys.executable, '-m', 'jetauto_perception', 'localize', '--source', str(folder),
             '--depth', str(folder), '--camera-info', str(folder / 'camera_info.yaml'),
             '--output', str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        for line in out.read_text().splitlines():
            record = json.loads(line)
            records[record['image'].replace('_color.png', '')] = (record, result.stderr)
    return records


@pytest.mark.parametrize('frame,label,u,z,x', REFERENCE)
def test_objects_are_placed_at_the_reference_depth(localized, frame, label, u, z, x):
    record, _ = localized[frame]
    candidates = [d for d in record['detections'] if d['label'] == label]
    assert candidates, record
    found = min(candidates, key=lambda d: abs((d['bbox'][0] + d['bbox'][2]) / 2 - u))
    assert abs((found['bbox'][0] + found['bbox'][2]) / 2 - u) < 15
    tolerance = 0.15 if label == 'person' else 0.10
    assert abs(found['position'][2] - z) <= tolerance, found
    assert abs(found['position'][0] - x) <= 0.15, found
    assert all(np.isfinite(found['position'])) and all(s > 0 for s in found['size'])


def test_five_people_and_their_shoulders(localized):
    record, _ = localized['pcl_five_people']
    assert len([d for d in record['detections'] if d['label'] == 'person']) == 5
    assert len(record['keypoints']) == 5
    measured = 0
    for person in record['keypoints']:
        points = np.array(person['keypoints'])
        assert points.shape == (17, 4) and np.isfinite(points).all()
        assert np.all(points[points[:, 3] == 0, :3] == 0)  # no depth: score 0, no position
        left, right = points[5], points[6]
        if left[3] > 0 and right[3] > 0:
            distance = np.linalg.norm(left[:3] - right[:3])
            assert 0.25 <= distance <= 0.55, person
            measured += 1
    assert measured >= 4


def test_no_depth_in_a_box_gives_no_object_and_a_log_line(localized):
    record, stderr = localized['pcl_office']
    # the monitors at the left edge have no valid depth (README): no 3D object, a log line
    assert not [d for d in record['detections'] if d['bbox'][0] < 5]
    assert 'no valid depth' in stderr
    for rec, _ in localized.values():
        for d in rec['detections']:
            assert np.isfinite(d['position']).all() and np.isfinite(d['size']).all()


def test_depth_without_any_valid_pixel_is_never_nan():
    depth = np.full((48, 64), np.nan, np.float32)
    result = Localizer().localize(depth, Intrinsics(50, 50, 32, 24, 64, 48),
                                  [('bottle', 0.9, (10, 10, 30, 40), '7')],
                                  [((10, 10, 30, 40), 0.8, np.full((17, 3), 20.0), '7')])
    assert result.objects == [] and 'bottle 7' in result.skipped[0]
    assert np.all(result.keypoints[0].points == 0)


def test_depth_encodings_and_sizes():
    mm = np.array([[0, 1500], [2000, 65535]], np.uint16)
    metres = decode_depth(mm.tobytes(), 2, 2, '16UC1', 4)
    assert np.isnan(metres[0, 0]) and metres[0, 1] == pytest.approx(1.5)
    floats = np.array([[0, np.nan], [1.25, np.inf]], np.float32)
    metres = decode_depth(floats.tobytes(), 2, 2, '32FC1', 8)
    assert np.isnan(metres[0, 0]) and np.isnan(metres[0, 1]) and metres[1, 0] == 1.25
    assert np.isnan(metres[1, 1])
    with pytest.raises(DepthFormatError, match='bgr8.*16UC1'):
        decode_depth(b'\0' * 12, 2, 2, 'bgr8', 6)
    with pytest.raises(DepthFormatError, match='bytes'):
        decode_depth(b'\0' * 6, 2, 2, '16UC1', 4)
    with pytest.raises(DepthFormatError, match='registered'):
        check_same_size((240, 320), (480, 640))
    with pytest.raises(DepthFormatError, match='camera info'):
        check_same_size((480, 640), (480, 640), Intrinsics(1, 1, 0, 0, 320, 240))
    with pytest.raises(DepthFormatError, match='uncalibrated'):
        Intrinsics.from_k([0] * 9, 640, 480)
    assert depth_to_meters(np.array([[1000]], np.uint16), '16UC1')[0, 0] == 1.0


def test_keypoint_depths_match_a_window_by_window_median():
    """The gathered windows give each keypoint the median of its own window, border included."""
    from jetauto_perception.spatial.localize import keypoint_depths, LocalizerConfig
    config = LocalizerConfig()
    rng = np.random.default_rng(3)
    depth = rng.uniform(1.0, 1.6, (60, 80)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = np.nan
    depth[10:20, 10:20] = 3.0  # background: outside the person's band
    keypoints = np.column_stack([rng.uniform(-5, 85, 300), rng.uniform(-5, 65, 300),
                                 rng.uniform(0.0, 1.0, 300)])
    keypoints[:4, :2] = [[0, 0], [79.9, 59.9], [0.5, 59.2], [15, 15]]  # corners, background
    keypoints[:4, 2] = 0.9
    w, person = config.keypoint_window, 1.3
    expected = np.full(len(keypoints), np.nan)
    for k, (x, y, score) in enumerate(keypoints):  # pixel by pixel, as the docstring says
        if score < config.keypoint_threshold or not (0 <= x < 80 and 0 <= y < 60):
            continue
        near = [depth[r, c] for r in range(int(y) - w, int(y) + w + 1)
                for c in range(int(x) - w, int(x) + w + 1)
                if 0 <= r < 60 and 0 <= c < 80 and abs(depth[r, c] - person)
                <= config.keypoint_band]  # (NaN compares False)
        if near:
            expected[k] = np.median(np.array(near, np.float32))
    got = keypoint_depths(depth, keypoints, person, config)
    assert np.isfinite(expected).sum() > 100 and np.isnan(expected[3])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert np.isnan(keypoint_depths(depth, keypoints[:0], person, config)).all()
