"""``yolov5_node``: camera/image_raw -> detections (vision_msgs/Detection2DArray)."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from .base import ImageInferenceNode, main_for, parse_name_list
from .conversions import detections_to_msg, label_info_msg, stamp_ns
from ..detection.cuda_yolo import create_yolov5_detector
from ..detection.detections import Detections
from ..detection.yolov5 import load_class_names, resolve_class_filter
from ..drawing.draw import draw_detections
from ..engines.factory import create_engine
from ..errors import PerceptionError
from ..models.manifest import resolve_model
from ..tracking.appearance import color_histograms
from ..tracking.byte_tracker import ByteTracker, TrackerConfig


class YoloV5Node(ImageInferenceNode):
    """YOLOv5 object detection on the newest camera frame."""

    live_parameters = ('conf_threshold', 'iou_threshold', 'max_det', 'classes')

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('yolov5_node', 'detections', **kwargs)

    def setup(self) -> None:
        config = self.declare_engine_parameters('yolov5n.onnx')
        conf = self.declare('conf_threshold', 0.25, 'Minimum score (objectness x class)',
                            0.0, 1.0)
        iou = self.declare('iou_threshold', 0.45, 'IoU above which NMS drops a box', 0.0, 1.0)
        max_det = self.declare('max_det', 300, 'At most this many boxes per image', 1, 10000)
        multi_label = self.declare('multi_label', False,
                                   'Allow several classes per box (for evaluation)',
                                   read_only=True)
        input_size = self.declare('input_size', 640,
                                  'Network input size in pixels (square; must match a static '
                                  "model, 0 = the model's own)", 0, 4096, read_only=True)
        self.classes_text = self.declare(
            'classes', '', 'Comma-separated class names or ids to keep ("" = all)')
        labels = self.declare('labels_path', '',
                              'Class names file (.txt or .yaml); "" = the model\'s metadata',
                              read_only=True)
        device = self.declare('device', 'auto',
                              'Where pre-processing and decoding run: auto = CUDA when pycuda '
                              'and a GPU are present', choices=('auto', 'cpu', 'cuda'),
                              read_only=True)
        model = resolve_model(self.model_path)
        self.detector = create_yolov5_detector(
            create_engine(model, config), device, device_id=config.device_id,
            class_names=load_class_names(labels) if labels else None, conf_threshold=conf,
            iou_threshold=iou, max_det=max_det, multi_label=multi_label,
            input_size=(input_size, input_size) if input_size else None)
        self.setup_tracking()
        reason = self.apply_parameter('classes', self.classes_text)
        if reason:
            raise PerceptionError(reason)
        self.timings = self.detector.timings
        self.get_logger().info('loaded %s (%s, %s data path, %d classes, input %dx%d)' % (
            model, config.backend, type(self.detector).__name__, len(self.detector.class_names),
            self.detector.input_hw[1], self.detector.input_hw[0]))

    def setup_tracking(self) -> None:
        """Declare the tracking parameters; the tracker gives ``Detection2D.id`` its track id."""
        defaults = TrackerConfig()
        tracking = self.declare('tracking', True,
                                'Detection2D.id = a stable track id (ByteTrack-style tracker, '
                                "never reused in a run; '' until a track is confirmed); false = "
                                'the box index', read_only=True)
        config = TrackerConfig(
            lost_timeout=self.declare('track_lost_timeout', defaults.lost_timeout,
                                      'Seconds a lost track waits to be found again (by stamp)',
                                      0.0, 60.0, read_only=True),
            min_box_height=self.declare('track_min_box_height', defaults.min_box_height,
                                        'Boxes lower than this many pixels get no track id',
                                        0.0, 10000.0, read_only=True),
            appearance_weight=self.declare(
                'track_appearance_weight', defaults.appearance_weight,
                'Share of colour-histogram similarity in matching boxes to tracks (0 = motion '
                'only)', 0.0, 1.0, read_only=True))
        self.tracker = ByteTracker(config) if tracking else None

    def apply_parameter(self, name: str, value: Any) -> Optional[str]:
        if name == 'conf_threshold':
            self.detector.conf_threshold = float(value)
            self.publish_label_info()  # LabelInfo carries the threshold: latch the new one
        elif name == 'iou_threshold':
            self.detector.iou_threshold = float(value)
        elif name == 'max_det':
            self.detector.max_det = int(value)
        elif name == 'classes':
            try:
                self.detector.classes = resolve_class_filter(
                    parse_name_list(str(value)), self.detector.class_names)
            except ValueError as exc:
                return str(exc)
        return None

    def infer(self, image: np.ndarray, header: Header) -> Detections:
        detections = self.detector.detect(image)
        if self.tracker is not None:
            with self.timings.stage('track'):
                features = (color_histograms(image, detections.boxes)
                            if self.tracker.config.appearance_weight > 0 else None)
                stamp = stamp_ns(header) * 1e-9
                detections.track_ids = self.tracker.update(
                    detections.boxes, detections.scores, detections.class_ids, stamp, features)
        return detections

    def to_message(self, result: Detections, header: Header) -> Detection2DArray:
        with self.timings.stage('msg'):
            return detections_to_msg(result, header)

    def label_info(self, header: Header) -> LabelInfo:
        return label_info_msg(header, self.detector.class_names,
                              threshold=self.detector.conf_threshold)

    def draw(self, image: np.ndarray, result: Detections) -> np.ndarray:
        return draw_detections(image, result)


main = main_for(YoloV5Node, 'yolov5_node')

if __name__ == '__main__':
    main()
