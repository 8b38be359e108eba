"""
MediaPipe face mesh, hands and pose nodes: camera/image_raw -> mediapipe/<task>.

One class, :class:`MediaPipeNode`, serves the three tasks; ``face_mesh_node``, ``hands_node``
and ``pose_node`` are its console scripts. Output: the keypoint convention
(README.md, Keypoint convention) on ``mediapipe/face_mesh``, ``mediapipe/hands``,
``mediapipe/pose`` with their latched ``.../label_info``.

MediaPipe runs in VIDEO mode (tracking) with the image header's stamp in milliseconds; a frame
with the same stamp as the previous one runs in IMAGE mode and a stamp that goes backwards (a
looping bag or file) restarts the tracking (see landmarks.mediapipe_tasks).
"""
from __future__ import annotations

import dataclasses
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from .base import ImageInferenceNode, main_for
from .conversions import keypoints_to_msg, label_info_msg
from ..drawing.draw import class_color, draw_keypoints
from ..landmarks.mediapipe_tasks import (DEFAULT_MODELS, FACE_EDGE_SETS, landmark_edges,
                                         LandmarkerOptions, LandmarkResult, MediaPipeLandmarker,
                                         stamp_to_ms)
from ..models.manifest import resolve_model

#: Extra results after the keypoints (README.md, Keypoint convention).
HANDEDNESS_PREFIX = 'handedness/'
BLENDSHAPE_PREFIX = 'blendshape/'

# task -> (node name, output topic, instance-count parameter, its default)
NODE_SPECS = {
    'face': ('face_mesh_node', 'mediapipe/face_mesh', 'num_faces', 1),
    'hands': ('hands_node', 'mediapipe/hands', 'num_hands', 2),
    'pose': ('pose_node', 'mediapipe/pose', 'num_poses', 1),
}

_CONFIDENCES = (
    ('min_detection_confidence', 'Minimum score of the detector that finds new instances'),
    ('min_presence_confidence', 'Minimum landmark-model presence score of an instance'),
    ('min_tracking_confidence', 'Minimum score to keep tracking an instance from the previous '
                                'frame instead of detecting again (VIDEO mode)'),
)


class MediaPipeNode(ImageInferenceNode):
    """A MediaPipe Tasks landmarker on the newest camera frame (subclasses pick the task)."""

    task = ''

    def __init__(self, **kwargs: Any) -> None:
        name, topic, self.count_parameter, self.count_default = NODE_SPECS[self.task]
        self.live_parameters = (self.count_parameter, 'output_blendshapes') + tuple(
            name for name, _ in _CONFIDENCES)
        self.mask_publisher: Optional[Any] = None
        self.encoder: Optional[KeypointArrayEncoder] = None
        self._pending_options: Optional[LandmarkerOptions] = None
        self._reader = ''
        super().__init__(name, topic, **kwargs)

    def setup(self) -> None:
        self.model_path = self.declare(
            'model_path', DEFAULT_MODELS[self.task],
            'MediaPipe .task bundle: a path or a name from the models manifest', read_only=True)
        count = self.declare(self.count_parameter, self.count_default,
                             'At most this many instances per image', 1, 20)
        confidences = {name: self.declare(name, 0.5, text, 0.0, 1.0)
                       for name, text in _CONFIDENCES}
        self.keypoint_threshold = self.declare(
            'keypoint_threshold', 0.5,
            'Keypoints scoring below this are not drawn (the LabelInfo threshold)', 0.0, 1.0)
        blendshapes = mask = False
        face_edges = 'contours'
        if self.task == 'face':
            blendshapes = self.declare(
                'output_blendshapes', False,
                'Add the 52 face blendshape scores as extra results (one more model per face)')
            face_edges = self.declare('face_edges', 'contours',
                                      'Face edges in the LabelInfo and drawings',
                                      choices=FACE_EDGE_SETS, read_only=True)
        if self.task == 'pose':
            mask = self.declare(
                'output_segmentation_mask', False,
                "Publish the bodies' segmentation mask (mono8) on <topic>/segmentation_mask",
                read_only=True)
        self.edges = landmark_edges(self.task, face_edges)
        options = LandmarkerOptions(
            max_instances=count, output_face_blendshapes=blendshapes,
            output_segmentation_masks=mask, **confidences)
        model = resolve_model(self.model_path)
        self.landmarker = MediaPipeLandmarker(self.task, model, options)
        self.timings = self.landmarker.timings
        if mask:
            self.mask_publisher = self.create_publisher(
                Image, NODE_SPECS[self.task][1] + '/segmentation_mask', 1)
        encoder = KeypointArrayEncoder(self.landmarker.names)
        mismatch = encoder.check_against_rclpy()
        if mismatch:
            self.get_logger().warning('publishing through rclpy message objects (slower): %s'
                                      % mismatch)
        else:
            self.encoder = encoder
        self.get_logger().info('loaded %s (%s, up to %d, %d keypoints, %d edges; results read '
                               '%s)' % (model, self.task, count, len(self.landmarker.names),
                                        len(self.edges), self._reader_text()))
        self._reader = self.landmarker.result_reader

    def apply_parameter(self, name: str, value: Any) -> Optional[str]:
        options = self._pending_options or self.landmarker.options
        field = {self.count_parameter: 'max_instances',
                 'output_blendshapes': 'output_face_blendshapes'}.get(name, name)
        try:
            new = dataclasses.replace(options, **{field: value}).check()
        except (TypeError, ValueError) as exc:
            return str(exc)
        # the worker thread rebuilds the landmarker before its next frame (never mid-frame)
        self._pending_options = new
        return None

    def infer(self, image: np.ndarray, header: Header) -> LandmarkResult:
        pending, self._pending_options = self._pending_options, None
        if pending is not None:
            self.landmarker.reconfigure(pending)
            self.get_logger().info('landmarker options now %s' % pending)
        result = self.landmarker.detect(image, stamp_to_ms(header.stamp.sec,
                                                           header.stamp.nanosec))
        if self.landmarker.result_reader != self._reader:
            self._reader = self.landmarker.result_reader
            self.get_logger().warning('results now read %s' % self._reader_text())
        return result

    def _reader_text(self) -> str:
        if self.landmarker.result_reader == 'c':
            return "from MediaPipe's C result"
        return "through MediaPipe's Python objects: %s" % self.landmarker.c_results_off

    def to_message(self, result: LandmarkResult,
                   header: Header) -> Union[Detection2DArray, bytes]:
        """
        Return the keypoint-convention message, serialized (CDR bytes) where that is exact.

        rclpy's Publisher.publish takes either; the bytes skip building ~10 Python message
        objects per keypoint (see :class:`KeypointArrayEncoder`).
        """
        with self.timings.stage('msg'):
            extra: Optional[List[Sequence[Tuple[str, float]]]] = None
            labels = None
            if self.task == 'hands':
                labels = [inst.label for inst in result]
                extra = [[(HANDEDNESS_PREFIX + inst.label, inst.score)] for inst in result]
            elif self.task == 'face' and self.landmarker.options.output_face_blendshapes:
                extra = [[(BLENDSHAPE_PREFIX + name, score)
                          for name, score in inst.blendshapes.items()] for inst in result]
            if self.mask_publisher is not None:
                self.mask_publisher.publish(mask_message(result, header))
            if self.encoder is not None:
                return self.encoder.encode(header, result.boxes, result.keypoints, labels, extra)
            return keypoints_to_msg(header, result.boxes, result.keypoints,
                                    self.landmarker.names,
                                    instance_labels=labels, extra_results=extra)

    def label_info(self, header: Header) -> LabelInfo:
        return label_info_msg(header, self.landmarker.names, self.edges,
                              threshold=self.keypoint_threshold)

    def draw(self, image: np.ndarray, result: LandmarkResult) -> np.ndarray:
        radius = 1 if self.task == 'face' else 3
        for index, inst in enumerate(result):
            draw_keypoints(image, inst.keypoints, self.edges, self.keypoint_threshold,
                           class_color(index), radius=radius)
        return image

    def destroy_node(self) -> None:
        super().destroy_node()  # stops the worker first
        self.landmarker.close()


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


def mask_message(result: LandmarkResult, header: Header) -> Image:
    """Pack the bodies' segmentation masks (their per-pixel maximum) as a mono8 image."""
    mask = np.zeros((result.height, result.width), dtype=np.uint8)
    for inst in result:
        if inst.segmentation_mask is not None:
            np.maximum(mask, (inst.segmentation_mask * 255.0 + 0.5).astype(np.uint8), out=mask)
    msg = Image(header=header, height=result.height, width=result.width, encoding='mono8',
                is_bigendian=0, step=result.width)
    msg.data = mask.tobytes()
    return msg


class FaceMeshNode(MediaPipeNode):
    """478 face landmarks (face mesh + irises) per face on ``mediapipe/face_mesh``."""

    task = 'face'


class HandsNode(MediaPipeNode):
    """21 hand joints and the handedness per hand on ``mediapipe/hands``."""

    task = 'hands'


class PoseNode(MediaPipeNode):
    """33 body landmarks per person on ``mediapipe/pose``."""

    task = 'pose'


face_mesh_main = main_for(FaceMeshNode, 'face_mesh_node')
hands_main = main_for(HandsNode, 'hands_node')
pose_main = main_for(PoseNode, 'pose_node')
