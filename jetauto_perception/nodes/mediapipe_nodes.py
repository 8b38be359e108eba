"""
MediaPipe face mesh, hands and pose nodes: camera/image_raw -> mediapipe/<task>.

One class, :class:`MediaPipeNode`, serves the three tasks; ``face_mesh_node``, ``hands_node``
and ``pose_node`` are its console scripts. Output: the keypoint convention
(README.md, Keypoint convention) on ``mediapipe/face_mesh``, ``mediapipe/hands``,
``mediapipe/pose`` with their latched ``.../label_info``.

MediaPipe runs in VIDEO mode (tracking) with the image header's stamp in milliseconds; a frame
with the same stamp as the previous one runs in IMAGE mode and a stamp that goes backwards (a
looping bag or file) restarts the tracking (see core.mediapipe_landmarks).
"""
from __future__ import annotations

import dataclasses
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray
from vision_msgs.msg import LabelInfo

from .base import ImageInferenceNode
from .base import main_for
from .conversions import keypoints_to_msg
from .conversions import label_info_msg
from ..core.draw import class_color
from ..core.draw import draw_keypoints
from ..core.mediapipe_landmarks import DEFAULT_MODELS
from ..core.mediapipe_landmarks import FACE_EDGE_SETS
from ..core.mediapipe_landmarks import landmark_edges
from ..core.mediapipe_landmarks import LandmarkerOptions
from ..core.mediapipe_landmarks import LandmarkResult
from ..core.mediapipe_landmarks import MediaPipeLandmarker
from ..core.mediapipe_landmarks import stamp_to_ms
from ..core.models import resolve_model

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
        self.get_logger().info('loaded %s (%s, up to %d, %d keypoints, %d edges)' % (
            model, self.task, count, len(self.landmarker.names), len(self.edges)))

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
        return self.landmarker.detect(image, stamp_to_ms(header.stamp.sec, header.stamp.nanosec))

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


class KeypointArrayEncoder:
    """
    The keypoint-convention Detection2DArray as CDR bytes, written with struct and numpy.

    ``conversions.keypoints_to_msg`` builds about ten Python message objects per keypoint and
    rclpy then walks them all to serialize: for the 478-point face mesh that takes longer than
    MediaPipe's inference. This writes the bytes ``serialize_message(keypoints_to_msg(...))``
    gives (XCDR1 little endian, what the ROS 2 middlewares use) directly: the keypoint results,
    whose names never change, come from a template made once per byte alignment, and each frame
    only writes the numbers into it. ``check_against_rclpy`` compares the two at start-up.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        #: alignment phase -> (results template, byte offsets (K, 4) of score, x, y, z)
        self._templates: Dict[int, Tuple[bytes, np.ndarray]] = {}

    # -- CDR primitives (alignment is relative to the payload, after the 4-byte header) -------
    @staticmethod
    def _align(out: bytearray, size: int) -> None:
        out.extend(bytes(-(len(out) - 4) % size))

    def _uint32(self, out: bytearray, value: int) -> None:
        self._align(out, 4)
        out.extend(struct.pack('<I', value))

    def _float64(self, out: bytearray, *values: float) -> int:
        self._align(out, 8)
        offset = len(out)
        out.extend(struct.pack('<%dd' % len(values), *values))
        return offset

    def _string(self, out: bytearray, text: str) -> None:
        data = text.encode('utf-8')
        self._uint32(out, len(data) + 1)
        out.extend(data)
        out.append(0)

    def _hypothesis(self, out: bytearray, class_id: str, score: float,
                    x: float = 0.0, y: float = 0.0, z: float = 0.0) -> Tuple[int, int]:
        """One ObjectHypothesisWithPose; returns the offsets of its score and position."""
        self._string(out, class_id)
        score_at = self._float64(out, score)
        position_at = self._float64(out, x, y, z, 0.0, 0.0, 0.0, 1.0)  # identity orientation
        out.extend(bytes(36 * 8))  # covariance, still 8-aligned
        return score_at, position_at

    def _results_template(self, phase: int) -> Tuple[bytes, np.ndarray]:
        """
        Return the K keypoint results as bytes, for a start at payload offset ``phase``.

        Also the byte offsets (K, 4) of each score, x, y and z in them (the values are zeros).
        """
        if phase not in self._templates:
            start = 4 + phase
            out = bytearray(start)
            offsets = []
            for name in self.names:
                score_at, position_at = self._hypothesis(out, name, 0.0)
                offsets.append((score_at, position_at, position_at + 8, position_at + 16))
            self._templates[phase] = (bytes(out[start:]),
                                      np.asarray(offsets, dtype=np.intp) - start)
        return self._templates[phase]

    # -- the message ---------------------------------------------------------------------------
    def encode(self, header: Header, boxes: Sequence[Sequence[float]],
               keypoints: Sequence[np.ndarray], labels: Optional[Sequence[str]] = None,
               extra_results: Optional[Sequence[Sequence[Tuple[str, float]]]] = None) -> bytes:
        """
        Serialize the Detection2DArray of ``keypoints_to_msg`` with the same arguments.

        ``keypoints[i]`` is ``(K, 4)`` x, y, z, score; the instance scores are not part of the
        message (as in ``keypoints_to_msg``).
        """
        frame_id = header.frame_id.encode('utf-8')
        # a Header needs 4-byte alignment only: its bytes are the same wherever it goes
        header_bytes = struct.pack('<iII', header.stamp.sec, header.stamp.nanosec,
                                   len(frame_id) + 1) + frame_id + b'\x00'
        out = bytearray(b'\x00\x01\x00\x00')  # CDR little endian
        out += header_bytes
        self._uint32(out, len(boxes))
        writes = []  # (float64 slots (K, 4) in the payload, their values (K, 4))
        for i, (box, points) in enumerate(zip(boxes, keypoints)):
            extras = extra_results[i] if extra_results else ()
            self._align(out, 4)
            out += header_bytes
            self._uint32(out, len(points) + len(extras))
            template, offsets = self._results_template((len(out) - 4) % 8)
            # every float64 is 8-aligned in the payload: slot = payload offset / 8
            writes.append(((len(out) - 4 + offsets) // 8, np.asarray(points)[:, [3, 0, 1, 2]]))
            out += template
            for class_id, score in extras:
                self._hypothesis(out, class_id, float(score))
            x1, y1, x2, y2 = (float(v) for v in box[:4])
            self._float64(out, (x1 + x2) / 2.0, (y1 + y2) / 2.0, 0.0, x2 - x1, y2 - y1)
            self._string(out, labels[i] if labels else str(i))
        if writes:
            slots = np.frombuffer(out, dtype='<f8', offset=4, count=(len(out) - 4) // 8)
            for index, values in writes:
                slots[index] = values
            del slots  # release the buffer before copying it out
        return bytes(out)

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
