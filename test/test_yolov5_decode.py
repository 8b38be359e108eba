"""YOLOv5 decoding and NMS on hand-built tensors."""
import numpy as np
import pytest

from jetauto_perception.detection.nms import batched_nms
from jetauto_perception.detection.yolov5 import (decode_yolov5, parse_class_names,
                                                 resolve_class_filter, yolov5_candidates)


def row(cx, cy, w, h, obj, cls_scores):
    return [cx, cy, w, h, obj] + list(cls_scores)


def test_decode_hand_built_output():
    pred = np.array([
        row(100, 100, 40, 20, 0.9, [0.8, 0.1, 0.0]),   # class 0, score .72
        row(102, 101, 40, 20, 0.7, [0.9, 0.0, 0.0]),   # same object, .63: suppressed by NMS
        row(300, 300, 10, 10, 0.5, [0.0, 0.0, 0.9]),   # class 2, score .45
        row(300, 300, 10, 10, 0.1, [0.0, 0.0, 0.9]),   # obj .1 * .9 = .09 < conf
        row(100, 100, 40, 20, 0.9, [0.0, 0.6, 0.0]),   # same box, other class: kept (class-aware)
    ], np.float32)
    boxes, scores, classes = decode_yolov5(pred, conf_threshold=0.25, iou_threshold=0.45)
    assert classes.tolist() == [0, 1, 2]
    np.testing.assert_allclose(scores, [0.72, 0.54, 0.45], atol=1e-6)
    np.testing.assert_allclose(boxes[0], [80, 90, 120, 110])
    np.testing.assert_allclose(boxes[2], [295, 295, 305, 305])


def test_multi_label_and_class_filter():
    pred = np.array([row(50, 50, 20, 20, 1.0, [0.5, 0.4, 0.01])], np.float32)
    _, _, single = decode_yolov5(pred, 0.3, 0.5)
    assert single.tolist() == [0]
    _, scores, multi = decode_yolov5(pred, 0.3, 0.5, multi_label=True)
    assert sorted(multi.tolist()) == [0, 1]
    _, _, only1 = decode_yolov5(pred, 0.3, 0.5, multi_label=True, classes={1})
    assert only1.tolist() == [1]


def test_max_det_and_empty():
    pred = np.array([row(10 + 30 * i, 10, 20, 20, 0.9, [0.9]) for i in range(20)], np.float32)
    boxes, scores, classes = decode_yolov5(pred, 0.25, 0.45, max_det=5)
    assert len(boxes) == 5
    empty = decode_yolov5(np.zeros((0, 6), np.float32))
    assert all(len(a) == 0 for a in empty)
    b, s, c = yolov5_candidates(pred, conf_threshold=0.99)
    assert len(b) == 0


def brute_force_nms(boxes, scores, class_ids, thr):
    """Exact per-class greedy NMS in Python floats: the reference for ``batched_nms``."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        ok = True
        for j in keep:
            if class_ids[j] != class_ids[i]:
                continue
            xx1, yy1 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            xx2, yy2 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            a = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            b = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            if inter / (a + b - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('num_classes', [1, 3, 80])
def test_nms_matches_brute_force(seed, num_classes):
    # coordinates from -100 (boxes leaving the letterboxed input) to 6000 (large images)
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-100, 200, (300, 2)) * rng.choice([1, 20], (300, 1))
    wh = rng.uniform(5, 80, (300, 2))
    boxes = np.hstack([xy, xy + wh]).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    class_ids = rng.integers(0, num_classes, 300)
    for thr in (0.3, 0.5, 0.7):
        expected = brute_force_nms(boxes.tolist(), scores.tolist(), class_ids.tolist(), thr)
        assert batched_nms(boxes, scores, class_ids, thr).tolist() == expected


def test_batched_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert sorted(batched_nms(boxes, scores, np.array([0, 1, 0]), 0.5).tolist()) == [0, 1]
    assert batched_nms(boxes, scores, np.array([0, 0, 0]), 0.5).tolist() == [0]
    # negative coordinates: two classes on one box must both stay
    shifted = boxes - 50
    assert sorted(batched_nms(shifted, scores, np.array([0, 1, 0]), 0.5).tolist()) == [0, 1]
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).tolist() == []


def test_equal_scores_keep_the_lower_index():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11]], np.float32)
    scores = np.array([0.5, 0.5, 0.5], np.float32)
    assert batched_nms(boxes, scores, np.zeros(3, np.int64), 0.5).tolist() == [0]
    assert batched_nms(boxes[::-1].copy(), scores, np.zeros(3, np.int64), 0.5).tolist() == [0]


def test_class_names_and_filter():
    names = parse_class_names("{0: 'person', 1: 'bicycle', 2: 'car'}")
    assert names == ['person', 'bicycle', 'car']
    assert resolve_class_filter(['person', '2'], names) == {0, 2}
    assert resolve_class_filter([], names) is None
    with pytest.raises(ValueError):
        resolve_class_filter(['unicorn'], names)
