"""
MediaPipe Tasks face detector (BlazeFace short range): faces as boxes + 6 keypoints.

``MediaPipeFaceDetector(model_path, options)`` runs ``FaceDetector`` on BGR images (running modes:
``landmarks.task_runner``) and returns a :class:`~.mediapipe_tasks.LandmarkResult` (task
``face_detection``): one instance per face, labelled ``face``, with the detector's score, its box
clipped to the image and ``(6, 4)`` keypoints x, y (pixels), z (0: the detector gives none),
score (the face's: MediaPipe reports no per-keypoint confidence).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import numpy as np

from .mediapipe_tasks import FACE_LABEL, LandmarkInstance, LandmarkResult, points_box
from .task_runner import check_unit, MediaPipeTask

TASK = 'face_detection'
DEFAULT_MODEL = 'blaze_face_short_range.tflite'

#: The detector's keypoints in its order (right / left are the person's own sides).
FACE_DETECTION_KEYPOINT_NAMES: Tuple[str, ...] = (
    'right_eye', 'left_eye', 'nose_tip', 'mouth_center', 'right_ear_tragion',
    'left_ear_tragion')
#: Drawing edges: ear - eye - eye - ear, eyes - nose - mouth.
FACE_DETECTION_EDGES: Tuple[Tuple[int, int], ...] = (
    (4, 0), (0, 1), (1, 5), (0, 2), (1, 2), (2, 3))


@dataclass
class FaceDetectorOptions:
    """MediaPipe's face detector options (its defaults)."""

    min_detection_confidence: float = 0.5
    #: Non-maximum suppression IoU threshold between face boxes.
    min_suppression_threshold: float = 0.3

    def check(self) -> 'FaceDetectorOptions':
        check_unit('min_detection_confidence', self.min_detection_confidence)
        check_unit('min_suppression_threshold', self.min_suppression_threshold)
        return self


class MediaPipeFaceDetector(MediaPipeTask):
    """Faces (box, score, 6 keypoints) in BGR images."""

    task = TASK
    kind = 'face detector model'
    default_model = DEFAULT_MODEL
    names = FACE_DETECTION_KEYPOINT_NAMES

    def __init__(self, model_path: str, options: Optional[FaceDetectorOptions] = None) -> None:
        super().__init__(model_path, options or FaceDetectorOptions())

    def task_options(self, base_options: Any, running_mode: Any) -> Tuple[Any, Any]:
        return self._vision.FaceDetector, self._vision.FaceDetectorOptions(
            base_options=base_options, running_mode=running_mode,
            min_detection_confidence=float(self.options.min_detection_confidence),
            min_suppression_threshold=float(self.options.min_suppression_threshold))

    def __enter__(self) -> 'MediaPipeFaceDetector':
        return self

    def detect(self, image_bgr: np.ndarray, timestamp_ms: Optional[int] = None) -> LandmarkResult:
        """Find the faces of one ``(H, W, 3)`` uint8 BGR image; the stamp selects the mode."""
        raw, mode = self.run(image_bgr, timestamp_ms)
        height, width = image_bgr.shape[:2]
        instances: List[LandmarkInstance] = []
        for detection in raw.detections:
            score = float(detection.categories[0].score) if detection.categories else 0.0
            keypoints = np.zeros((len(detection.keypoints or ()), 4), np.float32)
            for row, point in zip(keypoints, detection.keypoints or ()):
                row[:] = (point.x * width, point.y * height, 0.0, score)
            box = detection.bounding_box
            corners = np.array(((box.origin_x, box.origin_x + box.width),
                                (box.origin_y, box.origin_y + box.height)), np.float32)
            instances.append(LandmarkInstance(FACE_LABEL, score,
                                              points_box(corners, width, height), keypoints))
        self.converted()
        return LandmarkResult(TASK, instances, width, height, mode, timestamp_ms)
