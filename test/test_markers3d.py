"""Marker geometry of the 3D results (ROS-free part of the visualizer's ~/markers_3d)."""
import numpy as np

from jetauto_perception.drawing.markers3d import box_corners, markers_3d


def test_box_wireframe_and_skeleton():
    objects = [('bottle', 0.9, '4', np.array([0.1, 0.0, 0.6]), np.array([0.1, 0.2, 0.1]),
                np.eye(3))]
    person = np.zeros((17, 4))
    person[5] = [-0.2, -0.5, 2.0, 0.9]   # shoulders
    person[6] = [0.2, -0.5, 2.0, 0.9]
    person[11] = [-0.15, 0.0, 2.0, 0.1]  # below the threshold: not drawn
    markers = {m.namespace: m for m in markers_3d(objects, [person], keypoint_threshold=0.3)}
    edges = markers['detections_3d'].points.reshape(-1, 2, 3)
    assert len(edges) == 12
    lengths = sorted(np.round(np.linalg.norm(edges[:, 0] - edges[:, 1], axis=1), 6))
    assert lengths == [0.1] * 8 + [0.2] * 4
    assert markers['detections_3d/labels'].text == 'bottle #4 0.61 m'
    assert markers['keypoints_3d/skeleton'].points.tolist() == [[-0.2, -0.5, 2.0],
                                                                [0.2, -0.5, 2.0]]
    assert len(markers['keypoints_3d/points'].points) == 2


def test_rotated_box_corners():
    quarter_turn = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], float)
    corners = box_corners([1, 2, 3], [2, 4, 6], quarter_turn)
    assert np.allclose(corners.min(axis=0), [-1, 1, 0])
    assert np.allclose(corners.max(axis=0), [3, 3, 6])
