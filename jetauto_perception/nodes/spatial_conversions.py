"""ROS messages <-> the spatial core's plain data (depth images, 3D objects, 3D keypoints)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import (Detection2DArray, Detection3D, Detection3DArray,
                             ObjectHypothesisWithPose)

from ..spatial.depth import decode_depth, Intrinsics
from ..spatial.localize import Keypoints3D, Object3D

#: A rigid transform applied to every output point: (3x3 rotation, translation, quaternion xyzw).
Transform = Tuple[np.ndarray, np.ndarray, Tuple[float, float, float, float]]


def depth_image_to_meters(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (16UC1 mm or 32FC1 m) -> float32 metres; raises DepthFormatError."""
    return decode_depth(bytes(msg.data), int(msg.height), int(msg.width), msg.encoding,
                        int(msg.step), bool(msg.is_bigendian))


def intrinsics_from_msg(msg: CameraInfo) -> Intrinsics:
    return Intrinsics.from_k(msg.k, int(msg.width), int(msg.height))


def _box(det) -> Tuple[float, float, float, float]:
    cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
    w, h = det.bbox.size_x, det.bbox.size_y
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def boxes_from_msg(msg: Detection2DArray) -> List[Tuple[str, float, tuple, str]]:
    """(label, score, xyxy box, id) of each Detection2D."""
    out = []
    for det in msg.detections:
        label = det.results[0].hypothesis.class_id if det.results else ''
        score = det.results[0].hypothesis.score if det.results else 0.0
        out.append((label, float(score), _box(det), det.id))
    return out


def people_from_msg(msg: Detection2DArray, count: int = 17
                    ) -> List[Tuple[tuple, float, np.ndarray, str]]:
    """(box, score, (K, 3) x y score, id) per instance of the keypoint convention."""
    out = []
    for det in msg.detections:
        points = np.array([[r.pose.pose.position.x, r.pose.pose.position.y, r.hypothesis.score]
                           for r in det.results[:count]], np.float64).reshape(-1, 3)
        score = float(points[:, 2].mean()) if len(points) else 0.0
        out.append((_box(det), score, points, det.id))
    return out


def keypoint_names_from_msg(msg: Detection2DArray) -> List[str]:
    """
    Keypoint names of a keypoint-convention message: its first instance's leading results.

    The extra per-instance results after the K keypoints (``handedness/...``, ``face/score``,
    ``blendshape/...``) are named with a ``/`` prefix, keypoint names never are.
    """
    names: List[str] = []
    for result in msg.detections[0].results if msg.detections else ():
        if '/' in result.hypothesis.class_id:
            break
        names.append(result.hypothesis.class_id)
    return names


def lookup_rigid(rotation_xyzw: Sequence[float], translation: Sequence[float]) -> Transform:
    """Make a Transform from a quaternion (x, y, z, w) and a translation."""
    x, y, z, w = (float(v) for v in rotation_xyzw)
    matrix = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    return matrix, np.asarray(translation, np.float64), (x, y, z, w)


def _apply(point: np.ndarray, transform: Optional[Transform]) -> np.ndarray:
    if transform is None:
        return np.asarray(point, np.float64)
    return transform[0] @ np.asarray(point, np.float64) + transform[1]


def _set_orientation(pose, transform: Optional[Transform]) -> None:
    if transform is not None:
        x, y, z, w = transform[2]
        pose.orientation.x, pose.orientation.y = x, y
        pose.orientation.z, pose.orientation.w = z, w


def objects_to_msg(objects: Sequence[Object3D], header: Header,
                   transform: Optional[Transform] = None) -> Detection3DArray:
    """
    Detection3DArray: bbox centre = the 3D centre, bbox size = the 3D extent (camera axes).

    ``results[0]``: class name and score, its pose the centre too; ``id``: the track id.
    With a transform the centre is in the target frame and the box orientation is the camera's.
    """
    out = Detection3DArray(header=header)
    for obj in objects:
        det = Detection3D(header=header)
        det.id = obj.object_id
        centre = _apply(obj.position, transform)
        det.bbox.center.position.x, det.bbox.center.position.y, det.bbox.center.position.z = \
            (float(v) for v in centre)
        _set_orientation(det.bbox.center, transform)
        det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = (float(v) for v in obj.size)
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = obj.label
        hypothesis.hypothesis.score = float(obj.score)
        hypothesis.pose.pose.position = det.bbox.center.position
        hypothesis.pose.pose.orientation = det.bbox.center.orientation
        det.results.append(hypothesis)
        out.detections.append(det)
    return out


def keypoints3d_to_msg(people: Sequence[Keypoints3D], names: Sequence[str], header: Header,
                       transform: Optional[Transform] = None) -> Detection3DArray:
    """
    Build the keypoint convention in 3D: one Detection3D per person, ``results[k]`` = keypoint k.

    ``results[k].pose.pose.position`` is the keypoint's 3D point in metres and ``score`` its
    score, 0 (and the position 0, 0, 0) where it has no depth; ``bbox`` spans the keypoints
    with depth; ``id`` is the person box's id (the track id).
    """
    out = Detection3DArray(header=header)
    for person in people:
        det = Detection3D(header=header)
        det.id = person.object_id
        valid = person.points[:, 3] > 0
        placed = np.array([_apply(p[:3], transform) for p in person.points]).reshape(-1, 3)
        if valid.any():
            low, high = placed[valid].min(axis=0), placed[valid].max(axis=0)
            centre = (low + high) / 2
            det.bbox.center.position.x, det.bbox.center.position.y, \
                det.bbox.center.position.z = (float(v) for v in centre)
            det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = (float(v) for v in high - low)
        for k, point in enumerate(person.points):
            result = ObjectHypothesisWithPose()
            result.hypothesis.class_id = names[k] if k < len(names) else str(k)
            result.hypothesis.score = float(point[3])
            if point[3] > 0:
                result.pose.pose.position.x, result.pose.pose.position.y, \
                    result.pose.pose.position.z = (float(v) for v in placed[k])
            det.results.append(result)
        out.detections.append(det)
    return out
