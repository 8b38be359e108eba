"""ROS message <-> core plain data. The only place that knows both worlds."""
from __future__ import annotations

import array
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import (Detection2D, Detection2DArray, LabelInfo, ObjectHypothesisWithPose,
                             VisionClass)

from ..detection.detections import Detections
from ..sources.image_codec import bgr8_pixels, decode_image, decode_mono8

#: Prefix of the LabelInfo entries that carry skeleton edges (``edge:<a>,<b>``).
EDGE_PREFIX = 'edge:'


def stamp_ns(header: Header) -> int:
    """Return a header's stamp as integer nanoseconds (the key results are paired by)."""
    return int(header.stamp.sec) * 1000000000 + int(header.stamp.nanosec)


def image_to_bgr(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, 3) uint8 BGR; raises ImageFormatError on a bad message."""
    return decode_image(msg.data, msg.height, msg.width, msg.encoding, msg.step,
                        bool(msg.is_bigendian))


def image_to_mono8(msg: Image) -> np.ndarray:
    """sensor_msgs/Image mono8 -> (H, W) uint8; raises ImageFormatError on another encoding."""
    return decode_mono8(msg.data, msg.height, msg.width, msg.encoding, msg.step)


def image_data(buffer: np.ndarray) -> array.array:
    """
    Return a contiguous array's bytes as the ``array('B')`` an Image's ``data`` field stores.

    rclpy's generated setter stores an ``array.array('B')`` as it is, but checks any other
    sequence (bytes included) element by element in Python: ~0.1 s for one 720x528 bgr8 frame
    against a memory copy for this.
    """
    data = array.array('B')
    data.frombytes(memoryview(np.ascontiguousarray(buffer)).cast('B'))
    return data


def array_to_image(pixels: np.ndarray, header: Header, encoding: str) -> Image:
    """Wrap an ``(H, W)`` or ``(H, W, C)`` uint8 array as a sensor_msgs/Image (packed rows)."""
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    msg = Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
                step=width * (int(pixels.shape[2]) if pixels.ndim == 3 else 1))
    msg.data = image_data(pixels)
    return msg


def bgr_to_image(image: np.ndarray, header: Header) -> Image:
    """(H, W, 3) uint8 BGR -> a bgr8 sensor_msgs/Image (one memory copy, see image_data)."""
    return array_to_image(bgr8_pixels(image), header, 'bgr8')


def _box_detection(header: Header, x1: float, y1: float, x2: float, y2: float) -> Detection2D:
    det = Detection2D(header=header)
    det.bbox.center.position.x = (x1 + x2) / 2.0
    det.bbox.center.position.y = (y1 + y2) / 2.0
    det.bbox.size_x = float(x2 - x1)
    det.bbox.size_y = float(y2 - y1)
    return det


def detections_to_msg(detections: Detections, header: Header) -> Detection2DArray:
    """
    One Detection2D per box: bbox centre/size in source pixels, class_id = class name.

    ``id`` = the box's track id when a tracker ran ('' for a box not in a confirmed track yet),
    else the box's index.
    """
    out = Detection2DArray(header=header)
    track_ids = detections.track_ids
    for index, det in enumerate(detections):
        msg = _box_detection(header, *det.bbox)
        if track_ids is None:
            msg.id = str(index)
        else:
            msg.id = str(int(track_ids[index])) if track_ids[index] >= 0 else ''
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = det.label
        hypothesis.hypothesis.score = float(det.score)
        msg.results.append(hypothesis)
        out.detections.append(msg)
    return out


def msg_to_detections(msg: Detection2DArray) -> Detections:
    """Detection2DArray -> Detections (class ids numbered in order of first appearance)."""
    names: list = []
    boxes, scores, class_ids = [], [], []
    for det in msg.detections:
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        label = det.results[0].hypothesis.class_id if det.results else ''
        score = det.results[0].hypothesis.score if det.results else 0.0
        if label not in names:
            names.append(label)
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        scores.append(score)
        class_ids.append(names.index(label))
    if not boxes:
        return Detections.empty()
    return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
                      np.asarray(class_ids, np.int64), names)


def keypoints_to_msg(header: Header, boxes: Sequence[Sequence[float]],
                     keypoints: Sequence[np.ndarray], names: Sequence[str],
                     instance_labels: Optional[Sequence[str]] = None,
                     extra_results: Optional[Sequence[Sequence[Tuple[str, float]]]] = None
                     ) -> Detection2DArray:
    """
    Build the keypoint convention: one Detection2D per instance, results[k] = keypoint k.

    ``keypoints[i]`` is ``(K, 3)`` (x, y, score) or ``(K, 4)`` (x, y, z, score) in source pixels.
    ``extra_results[i]`` are appended after the K keypoints as (class_id, score) hypotheses with
    no pose (e.g. handedness).
    """
    out = Detection2DArray(header=header)
    for i, (box, points) in enumerate(zip(boxes, keypoints)):
        det = _box_detection(header, *[float(v) for v in box[:4]])
        det.id = instance_labels[i] if instance_labels else str(i)
        points = np.asarray(points, dtype=np.float64)
        has_z = points.shape[1] >= 4
        for k, point in enumerate(points):
            result = ObjectHypothesisWithPose()
            result.hypothesis.class_id = names[k] if k < len(names) else str(k)
            result.hypothesis.score = float(point[-1])
            result.pose.pose.position.x = float(point[0])
            result.pose.pose.position.y = float(point[1])
            result.pose.pose.position.z = float(point[2]) if has_z else 0.0
            det.results.append(result)
        for class_id, score in (extra_results[i] if extra_results else ()):
            result = ObjectHypothesisWithPose()
            result.hypothesis.class_id = class_id
            result.hypothesis.score = float(score)
            det.results.append(result)
        out.detections.append(det)
    return out


def label_info_msg(header: Header, names: Sequence[str],
                   edges: Iterable[Tuple[int, int]] = (), threshold: float = 0.0) -> LabelInfo:
    """LabelInfo: class_map[k] = (k, name); then one ``edge:a,b`` entry per skeleton edge."""
    msg = LabelInfo(header=header, threshold=float(threshold))
    for k, name in enumerate(names):
        msg.class_map.append(VisionClass(class_id=k, class_name=str(name)))
    for e, (a, b) in enumerate(edges):
        msg.class_map.append(VisionClass(class_id=len(names) + e,
                                         class_name='%s%d,%d' % (EDGE_PREFIX, a, b)))
    return msg


def parse_label_info(msg: LabelInfo) -> Tuple[list, list]:
    """``(names, edges)`` from a LabelInfo written by :func:`label_info_msg`."""
    names, edges = [], []
    for entry in msg.class_map:
        if entry.class_name.startswith(EDGE_PREFIX):
            a, b = entry.class_name[len(EDGE_PREFIX):].split(',')
            edges.append((int(a), int(b)))
        else:
            names.append(entry.class_name)
    return names, edges
