"""
Keypoint-convention Detection2DArray messages written as CDR bytes (XCDR1, little endian).

:class:`KeypointArrayEncoder` gives the bytes of
``serialize_message(conversions.keypoints_to_msg(...))`` without building the message objects:
for the 478-point face mesh those objects cost more than MediaPipe's inference
(benchmarks/RESULTS.md, MediaPipe section, measured with the public result objects).
"""
from __future__ import annotations

import dataclasses
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from std_msgs.msg import Header

from .conversions import keypoints_to_msg


@dataclasses.dataclass
class _Layout:
    """One message layout of :class:`KeypointArrayEncoder`: its bytes and number positions."""

    buffer: bytearray
    #: byte offsets of the header stamps (the array's, then each detection's)
    stamps: List[int]
    #: per instance: (K, 4) float64 slots of keypoint x, y, z, score
    points: List[np.ndarray]
    #: per instance: the slots of the extra results' scores
    extras: List[np.ndarray]
    #: per instance: the slots of the box centre x, y and size x, y
    boxes: List[np.ndarray]
    #: the payload as float64s (every float64 of the message is 8-aligned in the payload)
    slots: np.ndarray = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.slots = np.frombuffer(self.buffer, dtype='<f8', offset=4,
                                   count=(len(self.buffer) - 4) // 8)


class KeypointArrayEncoder:
    """
    The keypoint-convention Detection2DArray as CDR bytes, written with struct and numpy.

    ``conversions.keypoints_to_msg`` builds about ten Python message objects per keypoint and
    rclpy then walks them all to serialize: for the 478-point face mesh that takes longer than
    MediaPipe's inference. This writes the bytes ``serialize_message(keypoints_to_msg(...))``
    gives (XCDR1 little endian, what the ROS 2 middlewares use) directly. Everything but the
    numbers (names, lengths, padding, covariances) depends only on the message's *layout*: the
    frame_id, the instances' keypoint counts, extra-result names and labels. Each layout is
    written once into a buffer, with the positions of its numbers; a frame then only stores its
    stamps and numbers there and copies the buffer out. ``check_against_rclpy`` compares the
    bytes with rclpy's at start-up.
    """

    #: Layouts kept (a few: instance counts and hand labels vary from frame to frame).
    MAX_LAYOUTS = 16

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._layouts: Dict[Tuple[Any, ...], _Layout] = {}

    # -- CDR primitives (alignment is relative to the payload, after the 4-byte header) -------
    @staticmethod
    def _align(out: bytearray, size: int) -> None:
        out.extend(bytes(-(len(out) - 4) % size))

    def _uint32(self, out: bytearray, value: int) -> None:
        self._align(out, 4)
        out.extend(struct.pack('<I', value))

    def _float64(self, out: bytearray, count: int) -> int:
        """``count`` zero float64s; returns the payload slot (offset / 8) of the first."""
        self._align(out, 8)
        slot = (len(out) - 4) // 8
        out.extend(bytes(8 * count))
        return slot

    def _string(self, out: bytearray, text: str) -> None:
        data = text.encode('utf-8')
        self._uint32(out, len(data) + 1)
        out.extend(data)
        out.append(0)

    def _header(self, out: bytearray, frame_id: bytes) -> int:
        """Write a std_msgs/Header with a zero stamp; returns the byte offset of the stamp."""
        self._align(out, 4)
        offset = len(out)
        out.extend(struct.pack('<iII', 0, 0, len(frame_id) + 1) + frame_id + b'\x00')
        return offset

    def _hypothesis(self, out: bytearray, class_id: str) -> Tuple[int, int]:
        """One ObjectHypothesisWithPose; returns the slots of its score and position x."""
        self._string(out, class_id)
        score = self._float64(out, 1)
        position = self._float64(out, 7)  # position x, y, z and orientation x, y, z, w
        out[4 + 8 * (position + 6):4 + 8 * (position + 7)] = struct.pack('<d', 1.0)
        self._float64(out, 36)  # covariance
        return score, position

    def _layout(self, frame_id: bytes, counts: Tuple[int, ...],
                extra_names: Tuple[Tuple[str, ...], ...],
                labels: Tuple[str, ...]) -> _Layout:
        key = (frame_id, counts, extra_names, labels)
        layout = self._layouts.get(key)
        if layout is not None:
            return layout
        out = bytearray(b'\x00\x01\x00\x00')  # CDR little endian
        stamps = [self._header(out, frame_id)]
        self._uint32(out, len(counts))
        point_slots, extra_slots, box_slots = [], [], []
        for count, extras, label in zip(counts, extra_names, labels):
            stamps.append(self._header(out, frame_id))
            self._uint32(out, count + len(extras))
            slots = []
            for name in self.names[:count]:
                score, position = self._hypothesis(out, name)
                slots.append((position, position + 1, position + 2, score))  # x, y, z, score
            point_slots.append(np.array(slots, dtype=np.intp).reshape(-1, 4))
            extra_slots.append(np.array([self._hypothesis(out, name)[0] for name in extras],
                                        dtype=np.intp))
            center = self._float64(out, 5)  # centre x, y, theta, size_x, size_y
            box_slots.append(np.array((center, center + 1, center + 3, center + 4), np.intp))
            self._string(out, label)
        layout = _Layout(out, stamps, point_slots, extra_slots, box_slots)
        while len(self._layouts) >= self.MAX_LAYOUTS:
            del self._layouts[next(iter(self._layouts))]
        self._layouts[key] = layout
        return layout

    # -- the message ---------------------------------------------------------------------------
    def encode(self, header: Header, boxes: Sequence[Sequence[float]],
               keypoints: Sequence[np.ndarray], labels: Optional[Sequence[str]] = None,
               extra_results: Optional[Sequence[Sequence[Tuple[str, float]]]] = None) -> bytes:
        """
        Serialize the Detection2DArray of ``keypoints_to_msg`` with the same arguments.

        ``keypoints[i]`` is ``(K, 4)`` x, y, z, score; the instance scores are not part of the
        message (as in ``keypoints_to_msg``).
        """
        count = len(boxes)
        points = [np.asarray(p) for p in keypoints]
        if len(points) != count:
            raise ValueError('%d boxes but %d keypoint arrays' % (count, len(points)))
        if any(p.ndim != 2 or p.shape[1] != 4 or len(p) > len(self.names) for p in points):
            raise ValueError('keypoints must be (K, 4) x, y, z, score with K <= %d'
                             % len(self.names))
        extras = [tuple(extra_results[i]) if extra_results else () for i in range(count)]
        layout = self._layout(
            header.frame_id.encode('utf-8'), tuple(len(p) for p in points),
            tuple(tuple(name for name, _ in e) for e in extras),
            tuple(labels[i] for i in range(count)) if labels else
            tuple(str(i) for i in range(count)))
        buffer, slots = layout.buffer, layout.slots
        stamp = (header.stamp.sec, header.stamp.nanosec)
        for offset in layout.stamps:
            struct.pack_into('<iI', buffer, offset, *stamp)
        for i in range(count):
            slots[layout.points[i]] = points[i]
            if extras[i]:
                slots[layout.extras[i]] = [score for _, score in extras[i]]
            x1, y1, x2, y2 = (float(v) for v in boxes[i][:4])
            slots[layout.boxes[i]] = ((x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1)
        return bytes(buffer)

    def check_against_rclpy(self) -> str:
        """Return '' when encode() gives rclpy's bytes for a sample message, else the reason."""
        from rclpy.serialization import serialize_message
        rng = np.random.default_rng(0)
        header = Header(frame_id='check')
        header.stamp.sec, header.stamp.nanosec = 1700000000, 123456789
        points = [rng.uniform(-5, 500, (len(self.names), 4)).astype(np.float32)
                  for _ in range(2)]
        boxes = [(1.5, 2.25, 300.0, 400.125), (0.0, 0.0, 10.0, 20.0)]
        extra = [[('extra/a', 0.5)], [('extra/bc', 0.25), ('extra/def', 1.0)]]
        try:
            expected = serialize_message(keypoints_to_msg(header, boxes, points, self.names,
                                                          ['Left', 'Right'], extra))
        except Exception as exc:  # an rmw without serialization support
            return 'cannot serialize a reference message (%s)' % exc
        if expected != self.encode(header, boxes, points, ['Left', 'Right'], extra):
            return 'this middleware serializes Detection2DArray differently from XCDR1'
        return ''
