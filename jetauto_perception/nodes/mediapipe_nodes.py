"""
MediaPipe nodes: camera/image_raw -> mediapipe/<task>.

:class:`MediaPipeTaskNode` is the plumbing the five share (model, options changed live, stamps,
closing); its subclasses are the console scripts:

- ``face_mesh_node``, ``hands_node``, ``pose_node`` (:class:`MediaPipeNode`, landmarks) and
  ``face_detection_node`` (:class:`FaceDetectionNode`): the keypoint convention (README.md,
  Keypoint convention) on ``mediapipe/face_mesh``, ``mediapipe/hands``, ``mediapipe/pose``,
  ``mediapipe/face_detection`` with their latched ``.../label_info``;
- ``segmentation_node`` (:class:`SegmentationNode`): the selfie segmenter's person mask as a
  ``mono8`` image on ``mediapipe/selfie_mask``.

MediaPipe runs in VIDEO mode with the image header's stamp in milliseconds; a frame with the same
stamp as the previous one runs in IMAGE mode and a stamp that goes backwards (a looping bag or
file) restarts the video stream (see landmarks.task_runner).
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from .base import ImageInferenceNode, main_for
from .conversions import array_to_image, keypoints_to_msg, label_info_msg
from .keypoint_encoder import KeypointArrayEncoder
from ..drawing.draw import class_color, draw_keypoints
from ..landmarks import face_detection, segmentation
from ..landmarks.mediapipe_tasks import (DEFAULT_MODELS, FACE_EDGE_SETS, landmark_edges,
                                         LandmarkerOptions, LandmarkResult, MediaPipeLandmarker)
from ..landmarks.task_runner import MediaPipeTask, stamp_to_ms
from ..models.manifest import resolve_model

#: Extra results after the keypoints (README.md, Keypoint convention).
HANDEDNESS_PREFIX = 'handedness/'
BLENDSHAPE_PREFIX = 'blendshape/'

# task -> (node name, output topic)
NODE_SPECS = {
    'face': ('face_mesh_node', 'mediapipe/face_mesh'),
    'hands': ('hands_node', 'mediapipe/hands'),
    'pose': ('pose_node', 'mediapipe/pose'),
    face_detection.TASK: ('face_detection_node', 'mediapipe/face_detection'),
    segmentation.TASK: ('segmentation_node', 'mediapipe/selfie_mask'),
}
# landmark task -> (instance-count parameter, its default)
COUNT_PARAMETERS = {'face': ('num_faces', 1), 'hands': ('num_hands', 2),
                    'pose': ('num_poses', 1)}

#: Instance labels (None: their index) and extra results per instance (None: none).
Extras = Tuple[Optional[List[str]], Optional[List[Sequence[Tuple[str, float]]]]]

_CONFIDENCES = (
    ('min_detection_confidence', 'Minimum score of the detector that finds new instances'),
    ('min_presence_confidence', 'Minimum landmark-model presence score of an instance'),
    ('min_tracking_confidence', 'Minimum score to keep tracking an instance from the previous '
                                'frame instead of detecting again (VIDEO mode)'),
)


class MediaPipeTaskNode(ImageInferenceNode):
    """One MediaPipe Tasks wrapper on the newest camera frame (subclasses pick the task)."""

    task = ''
    #: live parameter name -> the options field it sets (the runner is rebuilt between frames)
    option_fields: Dict[str, str] = {}

    def __init__(self, **kwargs: Any) -> None:
        self.live_parameters = tuple(self.option_fields) + tuple(self.live_parameters)
        self._pending_options: Optional[Any] = None
        self._options_lock = threading.Lock()
        name, topic = NODE_SPECS[self.task]
        super().__init__(name, topic, **kwargs)

    def setup(self) -> None:
        self.model_path = self.declare(
            'model_path', self.default_model(),
            'MediaPipe model (.task bundle or .tflite): a path or a name from the models '
            'manifest', read_only=True)
        self.runner = self.create_runner(resolve_model(self.model_path))
        self.timings = self.runner.timings

    # -- for subclasses ------------------------------------------------------------------------
    def default_model(self) -> str:
        raise NotImplementedError

    def create_runner(self, model: str) -> MediaPipeTask:
        """Declare the task's parameters and return its wrapper for ``model``."""
        raise NotImplementedError

    def run_task(self, image: np.ndarray, stamp_ms: int) -> Any:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------
    def apply_parameter(self, name: str, value: Any) -> Optional[str]:
        field = self.option_fields.get(name)
        if field is None:
            return super().apply_parameter(name, value)
        with self._options_lock:  # the worker takes the pending options in another thread
            options = self._pending_options or self.runner.options
            try:
                new = dataclasses.replace(options, **{field: value}).check()
            except (TypeError, ValueError) as exc:
                return str(exc)
            # the worker thread rebuilds the runner before its next frame (never mid-frame)
            self._pending_options = new
        return None

    def infer(self, image: np.ndarray, header: Header) -> Any:
        with self._options_lock:
            pending, self._pending_options = self._pending_options, None
        if pending is not None:
            self.runner.reconfigure(pending)
            self.get_logger().info('%s options now %s' % (self.task, pending))
        return self.run_task(image, stamp_to_ms(header.stamp.sec, header.stamp.nanosec))


class KeypointTaskNode(MediaPipeTaskNode):
    """A MediaPipe task whose results follow the keypoint convention (landmarks, faces)."""

    names: Sequence[str] = ()
    edges: Sequence[Tuple[int, int]] = ()
    draw_radius = 3

    def setup(self) -> None:
        super().setup()
        self.keypoint_threshold = self.declare(
            'keypoint_threshold', 0.5,
            'Keypoints scoring below this are not drawn (the LabelInfo threshold)', 0.0, 1.0)
        self.encoder: Optional[KeypointArrayEncoder] = None
        encoder = KeypointArrayEncoder(self.names)
        mismatch = encoder.check_against_rclpy()
        if mismatch:
            self.get_logger().warning('publishing through rclpy message objects (slower): %s'
                                      % mismatch)
        else:
            self.encoder = encoder

    def run_task(self, image: np.ndarray, stamp_ms: int) -> LandmarkResult:
        return self.runner.detect(image, stamp_ms)

    def extras(self, result: LandmarkResult) -> Extras:
        """Return the instance labels (None: their index) and extra results (None: none)."""
        return None, None

    def to_message(self, result: LandmarkResult,
                   header: Header) -> Union[Detection2DArray, bytes]:
        """
        Return the keypoint-convention message, serialized (CDR bytes) where that is exact.

        rclpy's Publisher.publish takes either; the bytes skip building ~10 Python message
        objects per keypoint (see :class:`KeypointArrayEncoder`).
        """
        with self.timings.stage('msg'):
            labels, extra = self.extras(result)
            if self.encoder is not None:
                return self.encoder.encode(header, result.boxes, result.keypoints, labels, extra)
            return keypoints_to_msg(header, result.boxes, result.keypoints, self.names,
                                    instance_labels=labels, extra_results=extra)

    def label_info(self, header: Header) -> LabelInfo:
        return label_info_msg(header, self.names, self.edges, threshold=self.keypoint_threshold)

    def draw(self, image: np.ndarray, result: LandmarkResult) -> np.ndarray:
        for index, inst in enumerate(result):
            draw_keypoints(image, inst.keypoints, self.edges, self.keypoint_threshold,
                           class_color(index), radius=self.draw_radius)
        return image


class MediaPipeNode(KeypointTaskNode):
    """A MediaPipe Tasks landmarker (face mesh, hands, pose; subclasses pick the task)."""

    def __init__(self, **kwargs: Any) -> None:
        self.count_parameter, self.count_default = COUNT_PARAMETERS[self.task]
        self.option_fields = dict({self.count_parameter: 'max_instances',
                                   'output_blendshapes': 'output_face_blendshapes'},
                                  **{name: name for name, _ in _CONFIDENCES})
        self.mask_publisher: Optional[Any] = None
        super().__init__(**kwargs)

    def default_model(self) -> str:
        return DEFAULT_MODELS[self.task]

    def create_runner(self, model: str) -> MediaPipeLandmarker:
        count = self.declare(self.count_parameter, self.count_default,
                             'At most this many instances per image', 1, 20)
        confidences = {name: self.declare(name, 0.5, text, 0.0, 1.0)
                       for name, text in _CONFIDENCES}
        blendshapes = mask = False
        face_edges = 'contours'
        if self.task == 'face':
            self.draw_radius = 1
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
        landmarker = MediaPipeLandmarker(self.task, model, options)
        self.names = landmarker.names
        if mask:
            self.mask_publisher = self.create_publisher(
                Image, NODE_SPECS[self.task][1] + '/segmentation_mask', 1)
        self.get_logger().info('loaded %s (%s, up to %d, %d keypoints, %d edges)'
                               % (model, self.task, count, len(self.names), len(self.edges)))
        return landmarker

    def extras(self, result: LandmarkResult) -> Extras:
        if self.task == 'hands':
            return ([inst.label for inst in result],
                    [[(HANDEDNESS_PREFIX + inst.label, inst.score)] for inst in result])
        if self.task == 'face' and self.runner.options.output_face_blendshapes:
            return None, [[(BLENDSHAPE_PREFIX + name, score)
                           for name, score in inst.blendshapes.items()] for inst in result]
        return None, None

    def to_message(self, result: LandmarkResult,
                   header: Header) -> Union[Detection2DArray, bytes]:
        if self.mask_publisher is not None:
            with self.timings.stage('mask'):
                self.mask_publisher.publish(mask_message(result, header))
        return super().to_message(result, header)


def mask_message(result: LandmarkResult, header: Header) -> Image:
    """Pack the bodies' segmentation masks (their per-pixel maximum) as a mono8 image."""
    mask = np.zeros((result.height, result.width), dtype=np.uint8)
    for inst in result:
        if inst.segmentation_mask is not None:
            np.maximum(mask, (inst.segmentation_mask * 255.0 + 0.5).astype(np.uint8), out=mask)
    return mono8_message(mask, header)


def mono8_message(mask: np.ndarray, header: Header) -> Image:
    """Pack a ``(H, W)`` uint8 array as a ``mono8`` sensor_msgs/Image with ``header``."""
    return array_to_image(mask, header, 'mono8')


class FaceMeshNode(MediaPipeNode):
    """478 face landmarks (face mesh + irises) per face on ``mediapipe/face_mesh``."""

    task = 'face'


class HandsNode(MediaPipeNode):
    """21 hand joints and the handedness per hand on ``mediapipe/hands``."""

    task = 'hands'


class PoseNode(MediaPipeNode):
    """33 body landmarks per person on ``mediapipe/pose``."""

    task = 'pose'


class FaceDetectionNode(KeypointTaskNode):
    """Faces (box, score, 6 keypoints) on ``mediapipe/face_detection`` (BlazeFace short range)."""

    task = face_detection.TASK
    names = face_detection.FACE_DETECTION_KEYPOINT_NAMES
    edges = face_detection.FACE_DETECTION_EDGES
    option_fields = {'min_detection_confidence': 'min_detection_confidence',
                     'min_suppression_threshold': 'min_suppression_threshold'}

    def default_model(self) -> str:
        return face_detection.DEFAULT_MODEL

    def create_runner(self, model: str) -> face_detection.MediaPipeFaceDetector:
        options = face_detection.FaceDetectorOptions(
            min_detection_confidence=self.declare(
                'min_detection_confidence', 0.5, 'Minimum score of a face', 0.0, 1.0),
            min_suppression_threshold=self.declare(
                'min_suppression_threshold', 0.3,
                'Non-maximum suppression: faces whose boxes overlap more (IoU) are merged',
                0.0, 1.0))
        self.get_logger().info('loaded %s (face detection, %d keypoints)'
                               % (model, len(self.names)))
        return face_detection.MediaPipeFaceDetector(model, options)

    def extras(self, result: LandmarkResult) -> Extras:
        """Label the instances ``face`` (drawn with a box); the score goes in ``face/score``."""
        return ([inst.label for inst in result],
                [[(FACE_SCORE, inst.score)] for inst in result])


#: The extra result of each face on ``mediapipe/face_detection``: the detector's score.
FACE_SCORE = 'face/score'


class SegmentationNode(MediaPipeTaskNode):
    """The person mask of the selfie segmenter, ``mono8``, on ``mediapipe/selfie_mask``."""

    task = segmentation.TASK
    output_type = Image
    live_parameters = ('threshold',)

    def default_model(self) -> str:
        return segmentation.DEFAULT_MODEL

    def create_runner(self, model: str) -> segmentation.MediaPipeSegmenter:
        self.threshold = self.declare(
            'threshold', 0.0, 'Mask values: 0 = the person confidence as 0-255; above 0 = 255 '
            'where the confidence reaches this, else 0', 0.0, 1.0)
        self.get_logger().info('loaded %s (selfie segmentation, threshold %.2f)'
                               % (model, self.threshold))
        return segmentation.MediaPipeSegmenter(model)

    def apply_parameter(self, name: str, value: Any) -> Optional[str]:
        if name == 'threshold':
            self.threshold = float(value)  # read once per frame by to_message
            return None
        return super().apply_parameter(name, value)

    def run_task(self, image: np.ndarray, stamp_ms: int) -> segmentation.SegmentationResult:
        return self.runner.segment(image, stamp_ms)

    def to_message(self, result: segmentation.SegmentationResult, header: Header) -> Image:
        with self.timings.stage('msg'):
            return mono8_message(result.mask_u8(self.threshold), header)

    def draw(self, image: np.ndarray, result: segmentation.SegmentationResult) -> np.ndarray:
        """Blur the frame's background (``~/image_annotated``)."""
        return segmentation.replace_background(image, result.mask_u8(self.threshold))


face_mesh_main = main_for(FaceMeshNode, 'face_mesh_node')
hands_main = main_for(HandsNode, 'hands_node')
pose_main = main_for(PoseNode, 'pose_node')
face_detection_main = main_for(FaceDetectionNode, 'face_detection_node')
segmentation_main = main_for(SegmentationNode, 'segmentation_node')
