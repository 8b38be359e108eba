"""
``keypoint_node``: camera/image_raw + detections -> keypoints (COCO-17, keypoint convention).

Top-down heatmap human keypoints (keypoints.estimator): the person boxes of the
``detections`` message with the image's stamp, or the whole frame (``use_detections: false``),
go through the pose model; crop and decode run as CUDA kernels where pycuda and a GPU are
present (``device``). Output: one Detection2D per person on ``keypoints`` (bbox = the person
box, ``results[k]`` = keypoint k with its name, score and pixel position), the image's header;
the 17 names and the skeleton on the latched ``keypoints/label_info``.

Images and detections are paired by header stamp with message_filters' exact-stamp
``TimeSynchronizer``: an image waits (among the last ``SYNC_FRAMES`` frames) for the detections
of its stamp; the detector skips frames, and images it never answers fall out of the queue. Its
inputs are plain ``SimpleFilter`` objects that the node's callbacks feed (not
``message_filters.Subscriber``), because the base class owns the image subscription (QoS,
counters) and an in-process caller may hand detections over directly.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

from message_filters import SimpleFilter, TimeSynchronizer
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from .base import ImageInferenceNode, main_for
from .conversions import keypoints_to_msg, label_info_msg, msg_to_detections, stamp_ns
from ..drawing.draw import class_color, draw_keypoints
from ..errors import PerceptionError
from ..keypoints.crop import frame_box, IMAGENET_MEAN, IMAGENET_STD, normalisation_constants
from ..keypoints.estimator import KeypointConfig, KeypointEstimator, PoseInstances
from ..keypoints.heatmap_decode import DECODE_METHODS
from ..models.manifest import resolve_model

#: Frames held while their detections are on the way (the detector lags a few frames).
SYNC_FRAMES = 10


class KeypointNode(ImageInferenceNode):
    """Top-down COCO-17 keypoints of the detected people (or of the whole frame)."""

    live_parameters = ('score_threshold', 'max_persons', 'flip_test', 'decode')
    #: Detection2D.id of each published person (its person box's id), set by infer.
    _instance_ids: Optional[List[str]] = None

    def __init__(self, **kwargs: Any) -> None:
        self._images, self._detections = SimpleFilter(), SimpleFilter()
        self._synchronizer = TimeSynchronizer([self._images, self._detections], SYNC_FRAMES)
        self._synchronizer.registerCallback(self._on_pair)
        self._paired: Dict[int, Detection2DArray] = {}
        self._paired_lock = threading.Lock()
        super().__init__('keypoint_node', 'keypoints', **kwargs)

    def setup(self) -> None:
        engine_config = self.declare_engine_parameters('simplepose_mbv2_256x192.onnx')
        input_size = self.declare(
            'input_size', [256, 192],
            "Model input [height, width] (must match a static model; [0, 0] = the model's own)",
            read_only=True)
        mean = self.declare('mean', list(IMAGENET_MEAN),
                            'Per-channel RGB mean on the 0..1 scale', read_only=True)
        std = self.declare('std', list(IMAGENET_STD),
                           'Per-channel RGB standard deviation on the 0..1 scale', read_only=True)
        self.score_threshold = self.declare(
            'score_threshold', 0.3,
            'People whose score (mean keypoint peak) is below this are not published; '
            'keypoints below it are not drawn', 0.0, 1.0)
        self.max_persons = self.declare('max_persons', 10,
                                        'At most this many people per image (best boxes)',
                                        1, 100)
        self.use_detections = self.declare(
            'use_detections', True,
            'Person boxes from the detections topic (paired by stamp); false = whole frame',
            read_only=True)
        self.person_class = self.declare('person_class', 'person',
                                         'Detection class_id that marks a person',
                                         read_only=True)
        flip_test = self.declare('flip_test', False,
                                 'Also run the mirrored crops and average (2x model time)')
        decode = self.declare('decode', 'quarter',
                              'Sub-pixel heatmap decoding: quarter offset, DARK or plain argmax',
                              choices=DECODE_METHODS)
        device = self.declare('device', 'auto',
                              'Where crop and decode run: auto = CUDA when pycuda and a GPU '
                              'are present', choices=('auto', 'cpu', 'cuda'), read_only=True)
        if len(input_size) != 2 or len(mean) != 3 or len(std) != 3:
            raise PerceptionError('input_size needs 2 values and mean, std 3 each (got %d, %d, '
                                  '%d)' % (len(input_size), len(mean), len(std)))
        try:
            normalisation_constants(mean, std)
        except ValueError as exc:
            raise PerceptionError(str(exc)) from None
        config = KeypointConfig(
            input_hw=(int(input_size[0]), int(input_size[1])) if all(input_size) else None,
            mean=tuple(mean), std=tuple(std), decode=decode, flip_test=flip_test,
            device=device, device_id=engine_config.device_id)
        model = resolve_model(self.model_path)
        self.estimator = KeypointEstimator.from_model(model, engine_config, config)
        self.timings = self.estimator.timings
        if self.use_detections and not self.in_process:  # (in-process: from the detector)
            self.detections_subscription = self.create_subscription(
                Detection2DArray, 'detections', self.on_detections, 10)
        self.get_logger().info('loaded %s (%s, input %dx%d, %d keypoints, crop/decode on %s, '
                               'boxes from %s)' % (
                                   model, engine_config.backend, self.estimator.input_hw[1],
                                   self.estimator.input_hw[0], self.estimator.num_keypoints,
                                   self.estimator.device,
                                   'detections' if self.use_detections else 'the whole frame'))

    def apply_parameter(self, name: str, value: Any) -> Optional[str]:
        if name == 'score_threshold':
            self.score_threshold = float(value)
            self.publish_label_info()  # LabelInfo carries the threshold: latch the new one
        elif name == 'max_persons':
            self.max_persons = int(value)
        elif name == 'flip_test':
            self.estimator.config.flip_test = bool(value)
        elif name == 'decode':
            if value not in DECODE_METHODS:
                return 'decode must be one of %s' % ', '.join(DECODE_METHODS)
            self.estimator.config.decode = str(value)
        return None

    # -- pairing images with the detections of the same stamp --------------------------------
    def on_image(self, msg: Image) -> None:
        if not self.use_detections:
            self.submit(msg)
            return
        self._images.signalMessage(msg)

    def on_detections(self, msg: Detection2DArray) -> None:
        self._detections.signalMessage(msg)

    def _on_pair(self, image: Image, detections: Detection2DArray) -> None:
        """Take an image and the detections of its stamp (TimeSynchronizer's callback)."""
        with self._paired_lock:
            self._paired[stamp_ns(image.header)] = detections
        self.submit(image)

    def _take_detections(self, stamp: int) -> Optional[Detection2DArray]:
        with self._paired_lock:
            msg = self._paired.pop(stamp, None)
            for older in [s for s in self._paired if s < stamp]:
                del self._paired[older]  # their images were replaced before the worker ran
        return msg

    # -- inference -----------------------------------------------------------------------------
    def person_boxes(self, msg: Optional[Detection2DArray]) -> Tuple[np.ndarray, List[str]]:
        """Return the best person boxes of ``msg`` and their ``Detection2D.id`` (track ids)."""
        if msg is None:
            return np.zeros((0, 4), np.float32), []
        people = msg_to_detections(msg).with_label(self.person_class)
        ids = [d.id for d in msg.detections
               if d.results and d.results[0].hypothesis.class_id == self.person_class]
        order = np.argsort(-people.scores, kind='stable')[:self.max_persons]
        return people.boxes[order], [ids[i] for i in order]

    def infer(self, image: np.ndarray, header: Header) -> PoseInstances:
        ids: Optional[List[str]] = None
        if self.use_detections:
            boxes, ids = self.person_boxes(self._take_detections(stamp_ns(header)))
        else:
            boxes = frame_box(image.shape[1], image.shape[0])
        result = self.estimator.estimate(image, boxes)
        keep = result.scores >= self.score_threshold
        # each person instance carries the id of its person box (the track id when tracking)
        self._instance_ids = None if ids is None else [ids[i] for i in np.flatnonzero(keep)]
        return result.select(keep)

    def to_message(self, result: PoseInstances, header: Header) -> Detection2DArray:
        return keypoints_to_msg(header, result.boxes, result.keypoints, result.names,
                                instance_labels=self._instance_ids)

    def label_info(self, header: Header) -> LabelInfo:
        return label_info_msg(header, self.estimator.config.keypoint_names,
                              self.estimator.config.skeleton, threshold=self.score_threshold)

    def draw(self, image: np.ndarray, result: PoseInstances) -> np.ndarray:
        for index, points in enumerate(result.keypoints):
            draw_keypoints(image, points, result.skeleton, self.score_threshold,
                           class_color(index))
        return image


main = main_for(KeypointNode, 'keypoint_node')

if __name__ == '__main__':
    main()
