"""drawing.visualization: drawing of results onto images and marker geometry on the image plane."""
import math

import numpy as np
import pytest

from jetauto_perception.detection.detections import Detections
from jetauto_perception.drawing.draw import class_color
from jetauto_perception.drawing.visualization import (box_segments, draw_results, frame_markers,
                                                      ImagePlane, KeypointSet, stream_color)
from jetauto_perception.sources.camera_info import CameraCalibration, uncalibrated


def one_box(box=(100, 120, 300, 360), class_id=0, score=0.9):
    return Detections(np.array([box], np.float32), np.array([score], np.float32),
                      np.array([class_id], np.int64), ['person', 'bicycle'])


def test_known_detection_is_drawn_where_the_box_is():
    image = np.zeros((480, 640, 3), np.uint8)
    draw_results(image, one_box(class_id=1))
    color = np.array(class_color(1), np.uint8)
    # The four edges carry the class colour, sampled away from the caption.
    for y, x in ((240, 100), (240, 300), (360, 200), (120, 250)):
        assert np.array_equal(image[y, x], color), (y, x, image[y, x])
    # Inside and outside the box nothing is drawn.
    assert not image[150:340, 110:290].any()
    assert not image[380:, :].any() and not image[:, 320:].any()
    # The caption sits above the box's top-left corner.
    assert image[95:119, 100:180].any()


def test_keypoints_and_skeleton_are_drawn_above_threshold_only():
    image = np.zeros((200, 200, 3), np.uint8)
    points = np.array([[20, 20, 0.9], [120, 20, 0.8], [60, 150, 0.1]], np.float32)
    kset = KeypointSet([points], np.array([[10, 10, 130, 160]], np.float32), ['hand'],
                       ['a', 'b', 'c'], [(0, 1), (1, 2)])
    draw_results(image, keypoint_sets={'hands': kset}, keypoint_threshold=0.3)
    color = np.array(stream_color(0), np.uint8)
    assert np.array_equal(image[20, 70], color)  # edge 0-1 drawn
    assert not image[150, 60].any()  # keypoint 2 below the threshold: not drawn
    assert not image[85, 90].any()  # nor its edge 1-2
    assert image[0:10, 10:60].any()  # the instance label above its box


def test_dense_keypoints_draw_pixels_and_thin_edges():
    image = np.zeros((100, 600, 3), np.uint8)
    xs = np.arange(0, 500, 4, dtype=np.float32)
    points = np.stack([xs, np.full_like(xs, 50), np.ones_like(xs)], axis=1)  # 125 points
    kset = KeypointSet([points], edges=[(0, 124)])
    draw_results(image, keypoint_sets={'face': kset})
    assert image[50, 0:497].any(axis=1).all()  # the edge spans the row
    assert not image[40].any() and not image[60].any()


def test_image_plane_from_calibration_and_from_fov():
    calib = CameraCalibration(640, 480, k=[500.0, 0, 320.0, 0, 400.0, 240.0, 0, 0, 1.0])
    plane = ImagePlane.for_camera(640, 480, calib, depth=2.0)
    assert (plane.fx, plane.fy, plane.cx, plane.cy) == (500.0, 400.0, 320.0, 240.0)
    assert plane.to_3d(np.array([[320, 240], [820, 640]])).tolist() == \
        [[0.0, 0.0, 2.0], [2.0, 2.0, 2.0]]
    # A calibration for another size, or none: the nominal field of view.
    for calib in (uncalibrated(640, 480), CameraCalibration(1280, 720, k=calib.k), None):
        plane = ImagePlane.for_camera(640, 480, calib, depth=1.0, hfov_deg=90.0)
        right_edge = plane.to_3d(np.array([[640, 240]]))[0]
        assert right_edge[0] == pytest.approx(math.tan(math.radians(45.0)))
        assert right_edge[1] == 0.0


def test_box_segments_are_the_four_edges():
    segments = box_segments(np.array([[1, 2, 3, 4]]))
    assert segments.tolist() == [[1, 2], [3, 2], [3, 2], [3, 4], [3, 4], [1, 4], [1, 4], [1, 2]]


def test_frame_markers_put_results_on_the_plane():
    plane = ImagePlane(640, 480, 500.0, 500.0, 320.0, 240.0, depth=1.0)
    dets = Detections(np.array([[100, 120, 300, 360], [0, 0, 50, 50]], np.float32),
                      np.array([0.9, 0.5], np.float32), np.array([0, 1], np.int64),
                      ['person', 'bicycle'])
    points = np.array([[320, 240, 0.9], [420, 240, 0.9], [0, 0, 0.05]], np.float32)
    kset = KeypointSet([points], names=['a', 'b', 'c'], edges=[(0, 1), (1, 2)])
    markers = frame_markers(plane, dets, {'keypoints': kset}, keypoint_threshold=0.3)
    by_ns = {}
    for marker in markers:
        by_ns.setdefault(marker.namespace, []).append(marker)
    assert sorted(by_ns) == ['detections', 'detections/labels', 'image_plane',
                             'keypoints/points', 'keypoints/skeleton']
    outline = by_ns['image_plane'][0]
    assert outline.kind == 'line_strip' and outline.points.shape == (5, 3)
    assert outline.points[2].tolist() == pytest.approx([0.64, 0.48, 1.0])
    boxes = by_ns['detections'][0]
    assert boxes.kind == 'line_list' and boxes.points.shape == (16, 3)
    assert boxes.points[0].tolist() == pytest.approx([(100 - 320) / 500, (120 - 240) / 500, 1.0])
    assert boxes.colors.shape == (16, 3 + 1)
    bgr = class_color(1)
    assert boxes.colors[8].tolist() == pytest.approx([bgr[2] / 255, bgr[1] / 255, bgr[0] / 255,
                                                      1.0])
    labels = by_ns['detections/labels']
    assert [m.text for m in labels] == ['person 0.90', 'bicycle 0.50']
    assert [m.marker_id for m in labels] == [0, 1]
    skeleton = by_ns['keypoints/skeleton'][0]
    assert np.allclose(skeleton.points, [[0, 0, 1], [0.2, 0, 1]])  # edge 1-2 hidden
    assert by_ns['keypoints/points'][0].points.shape == (2, 3)
    assert all(m.scale > 0 for m in markers)


def test_frame_markers_of_nothing_is_just_the_outline():
    plane = ImagePlane.for_camera(320, 240)
    markers = frame_markers(plane, Detections.empty(), {'k': KeypointSet([])})
    assert [m.namespace for m in markers] == ['image_plane']
    assert frame_markers(plane, outline=False) == []


def test_labelled_instances_get_their_box_and_masks_an_overlay():
    image = np.zeros((120, 160, 3), np.uint8)
    face = KeypointSet([np.array([[50, 50, 0.9]], np.float32)],
                       np.array([[20, 30, 100, 90]], np.float32), ['face'], ['nose_tip'])
    mask = np.zeros((120, 160), np.uint8)
    mask[:, 120:] = 255
    draw_results(image, keypoint_sets={'faces': face}, masks={'selfie': mask})
    assert image[60, 20].any() and image[60, 100].any()  # the box's left and right sides
    assert not image[60, 60].any()  # inside the box: nothing but the keypoint
    assert image[5:, 125:].max(axis=2).min() > 0 and not image[5:20, 105:115].any()  # tinted
