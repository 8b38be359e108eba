"""MediaPipe keypoint instances lifted to 3D by the spatial core, on the real RGB-D frames."""
import cv2
import numpy as np

from conftest import shared_path
from jetauto_perception.landmarks.mediapipe_tasks import (HAND_KEYPOINT_NAMES,
                                                          LandmarkerOptions, MediaPipeLandmarker,
                                                          POSE_KEYPOINT_NAMES)
from jetauto_perception.sources.camera_info import load_calibration
from jetauto_perception.spatial.depth import depth_to_meters, Intrinsics
from jetauto_perception.spatial.localize import Localizer, TORSO, torso_indices

#: shared/data/rgbd/README.md "Reference positions": the two outer people of pcl_five_people
#: (box centre u, torso z); MediaPipe pose finds these two of the five (seen from behind).
OUTER_PEOPLE = [(86, 1.97), (532, 1.79)]


def rgbd_frame(name):
    folder = shared_path('data', 'rgbd', 'pcl_kinect_a')
    calibration = load_calibration(str(folder / 'camera_info.yaml'))
    intrinsics = Intrinsics(*calibration.intrinsics, width=calibration.width,
                            height=calibration.height)
    depth = depth_to_meters(cv2.imread(str(folder / (name + '_depth.png')),
                                       cv2.IMREAD_UNCHANGED), '16UC1')
    return cv2.imread(str(folder / (name + '_color.png'))), depth, intrinsics


def instance(bbox, keypoints, instance_id):
    """(box, score, (K, 3) x y score, id): the spatial core's form of a keypoint instance."""
    points = np.asarray(keypoints, np.float64)[:, [0, 1, -1]]
    return tuple(bbox), float(points[:, 2].mean()), points, instance_id


def test_torso_indices_come_from_the_names():
    assert torso_indices(POSE_KEYPOINT_NAMES) == (11, 12, 24, 23)
    assert torso_indices(HAND_KEYPOINT_NAMES) is None
    from jetauto_perception.keypoints.coco17 import COCO_KEYPOINT_NAMES
    assert torso_indices(COCO_KEYPOINT_NAMES) == TORSO


def test_mediapipe_pose_people_are_placed_at_their_torso_depth():
    color, depth, intrinsics = rgbd_frame('pcl_five_people')
    model = shared_path('models', 'mediapipe', 'pose_landmarker_full.task')
    with MediaPipeLandmarker('pose', str(model), LandmarkerOptions(max_instances=5)) as pose:
        found = pose.detect(color)
    assert len(found) >= 2, 'MediaPipe pose found %d people' % len(found)
    people = [instance(body.bbox, body.keypoints, str(k)) for k, body in enumerate(found)]
    result = Localizer().localize(depth, intrinsics, [], people,
                                  torso=torso_indices(POSE_KEYPOINT_NAMES))
    assert [p.object_id for p in result.keypoints] == [str(k) for k in range(len(found))]
    placed = 0
    for person in result.keypoints:
        points = person.points
        assert points.shape == (33, 4) and np.isfinite(points).all()
        assert (points[points[:, 3] == 0, :3] == 0).all()   # no depth: score 0 at the origin
        u = (person.bbox[0] + person.bbox[2]) / 2
        reference = [z for centre, z in OUTER_PEOPLE if abs(centre - u) < 40]
        left, right = points[11], points[12]   # the shoulders
        if not reference or left[3] == 0 or right[3] == 0:
            continue
        assert 0.25 <= np.linalg.norm(left[:3] - right[:3]) <= 0.55
        torso = points[[11, 12, 23, 24]]
        torso = torso[torso[:, 3] > 0]
        assert abs(np.median(torso[:, 2]) - reference[0]) <= 0.15, torso
        placed += 1
    assert placed == 2


def test_a_hand_instance_is_the_depth_at_its_pixels_back_projected():
    _, depth, intrinsics = rgbd_frame('pcl_five_people')
    # 21 keypoints on the nearest person's back (reference z 1.79 m), MediaPipe's hand score 1.0
    u = np.linspace(515, 550, 21)
    v = np.linspace(200, 260, 21)
    keypoints = np.stack([u, v, np.zeros(21), np.ones(21)], axis=1)
    keypoints[20, :2] = (700, 100)              # a landmark beyond the image: no 3D point
    box = (515, 200, 550, 260)
    result = Localizer().localize(depth, intrinsics, [], [instance(box, keypoints, 'Left')],
                                  torso=torso_indices(HAND_KEYPOINT_NAMES))
    (hand,) = result.keypoints
    assert hand.object_id == 'Left'
    points = hand.points
    assert np.isfinite(points).all() and points[20, 3] == 0 and (points[20, :3] == 0).all()
    for k in range(20):
        x, y = int(u[k]), int(v[k])
        window = depth[y - 2:y + 3, x - 2:x + 3]
        window = window[np.isfinite(window)]
        if points[k, 3] == 0:
            continue
        expected = intrinsics.back_project(np.array([u[k]]), np.array([v[k]]),
                                           np.array([np.median(window)]))[0]
        np.testing.assert_allclose(points[k, :3], expected, atol=0.05)
    assert (points[:20, 3] > 0).sum() >= 15
    assert abs(np.median(points[:20, 2][points[:20, 3] > 0]) - 1.79) <= 0.15
