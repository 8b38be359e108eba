"""
MediaPipe Tasks face mesh, hand and pose landmarkers as plain-data wrappers.

``MediaPipeLandmarker(task, model_path, options)`` runs one of the Tasks API landmarkers
(``FaceLandmarker``, ``HandLandmarker``, ``PoseLandmarker`` of the PyPI ``mediapipe`` package,
which bundles no models: the ``.task`` files come through the models manifest) on BGR images and
returns :class:`LandmarkResult`: one :class:`LandmarkInstance` per face / hand / body with its
keypoints in source-image pixels.

Running modes: VIDEO mode (landmarks tracked from frame to frame, the detector only runs when
tracking is lost) for increasing timestamps, IMAGE mode without a stamp or for a repeated one, a
fresh video stream when stamps go backwards (``landmarks.task_runner``).

Keypoints are ``(K, 4)`` float32 rows ``x, y, z, score``: x and y in source pixels, z is
MediaPipe's relative depth (origin at the wrist / hips / head centre, roughly the scale of the
normalised x, smaller = nearer the camera), score is the pose
landmark's visibility. MediaPipe reports no per-landmark confidence for face and hand landmarks:
their score is 1.0 (the instance as a whole passed ``min_presence_confidence``).

Results are read from MediaPipe's public result objects (one ``NormalizedLandmark`` per
landmark), one pass per coordinate into numpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .task_runner import check_unit, MediaPipeTask

Edge = Tuple[int, int]

TASKS: Tuple[str, ...] = ('face', 'hands', 'pose')

#: The models-manifest name of each task's ``.task`` bundle.
DEFAULT_MODELS: Dict[str, str] = {
    'face': 'face_landmarker.task',
    'hands': 'hand_landmarker.task',
    'pose': 'pose_landmarker_full.task',
}

#: Instance labels of the faces and bodies (hands are labelled with their handedness).
FACE_LABEL = 'face'
PERSON_LABEL = 'person'
HANDEDNESS = ('Left', 'Right')

# -- keypoint names ---------------------------------------------------------------------------

#: The 21 hand joints in MediaPipe's order.
HAND_KEYPOINT_NAMES: Tuple[str, ...] = (
    'wrist',
    'thumb_cmc', 'thumb_mcp', 'thumb_ip', 'thumb_tip',
    'index_finger_mcp', 'index_finger_pip', 'index_finger_dip', 'index_finger_tip',
    'middle_finger_mcp', 'middle_finger_pip', 'middle_finger_dip', 'middle_finger_tip',
    'ring_finger_mcp', 'ring_finger_pip', 'ring_finger_dip', 'ring_finger_tip',
    'pinky_mcp', 'pinky_pip', 'pinky_dip', 'pinky_tip',
)

#: The 33 body landmarks in MediaPipe's order (left/right are the person's own sides).
POSE_KEYPOINT_NAMES: Tuple[str, ...] = (
    'nose',
    'left_eye_inner', 'left_eye', 'left_eye_outer',
    'right_eye_inner', 'right_eye', 'right_eye_outer',
    'left_ear', 'right_ear', 'mouth_left', 'mouth_right',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_pinky', 'right_pinky', 'left_index', 'right_index', 'left_thumb', 'right_thumb',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
    'left_heel', 'right_heel', 'left_foot_index', 'right_foot_index',
)

#: Face mesh points 0-467 have no anatomical names in MediaPipe (``face_<index>``); 468-477 are
#: the irises: the centre, then four points on the iris edge, right eye first (person's sides).
FACE_MESH_POINTS = 468
FACE_KEYPOINT_NAMES: Tuple[str, ...] = tuple(
    ['face_%d' % k for k in range(FACE_MESH_POINTS)]
    + ['right_iris_center'] + ['right_iris_%d' % k for k in range(1, 5)]
    + ['left_iris_center'] + ['left_iris_%d' % k for k in range(1, 5)])

KEYPOINT_NAMES: Dict[str, Tuple[str, ...]] = {
    'face': FACE_KEYPOINT_NAMES, 'hands': HAND_KEYPOINT_NAMES, 'pose': POSE_KEYPOINT_NAMES,
}

# -- drawing edges ----------------------------------------------------------------------------
# Taken from the installed mediapipe package's Tasks API (the ``*LandmarksConnections`` classes of
# every mediapipe in the pinned range); the hand and pose skeletons are also written out below so
# that code which only draws received results works without mediapipe installed (the tests check
# they equal the package's).

_HAND_SKELETON: Tuple[Edge, ...] = (
    (0, 1), (0, 5), (9, 13), (13, 17), (5, 9), (0, 17),  # palm
    (1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12),
    (13, 14), (14, 15), (15, 16), (17, 18), (18, 19), (19, 20),
)

_POSE_SKELETON: Tuple[Edge, ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),  # face
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),  # left arm
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),  # right arm
    (11, 23), (12, 24), (23, 24),  # torso
    (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30), (29, 31), (30, 32),
    (27, 31), (28, 32),  # legs and feet
)


def package_edges(holder: str, name: str) -> Optional[Tuple[Edge, ...]]:
    """
    Return the connection list ``name`` of the installed mediapipe (None if it has none).

    ``holder`` is the Tasks class (``FaceLandmarksConnections``, ``HandLandmarksConnections``,
    ``PoseLandmarksConnections``) of ``mediapipe.tasks.python.vision``.
    """
    try:
        from mediapipe.tasks.python import vision
        connections = getattr(getattr(vision, holder), name)
        return tuple((int(c.start), int(c.end)) for c in connections)
    except (ImportError, AttributeError):
        return None


HAND_EDGES: Tuple[Edge, ...] = (
    package_edges('HandLandmarksConnections', 'HAND_CONNECTIONS') or _HAND_SKELETON)
POSE_EDGES: Tuple[Edge, ...] = (
    package_edges('PoseLandmarksConnections', 'POSE_LANDMARKS') or _POSE_SKELETON)
#: Face oval, eyes, eyebrows and lips (empty where mediapipe exposes no face connections).
FACE_CONTOUR_EDGES: Tuple[Edge, ...] = (
    package_edges('FaceLandmarksConnections', 'FACE_LANDMARKS_CONTOURS') or ())
#: The full triangle mesh of points 0-467 (2,556 edges in mediapipe 1.2).
FACE_TESSELATION_EDGES: Tuple[Edge, ...] = (
    package_edges('FaceLandmarksConnections', 'FACE_LANDMARKS_TESSELATION') or ())
FACE_IRIS_EDGES: Tuple[Edge, ...] = (
    (package_edges('FaceLandmarksConnections', 'FACE_LANDMARKS_RIGHT_IRIS') or ())
    + (package_edges('FaceLandmarksConnections', 'FACE_LANDMARKS_LEFT_IRIS') or ()))

#: Choices of which face edges to draw / publish.
FACE_EDGE_SETS: Tuple[str, ...] = ('contours', 'tesselation', 'none')


def landmark_edges(task: str, face_edges: str = 'contours') -> Tuple[Edge, ...]:
    """Return the drawing edges of ``task``; for faces ``face_edges`` picks the set."""
    check_task(task)
    if task == 'hands':
        return HAND_EDGES
    if task == 'pose':
        return POSE_EDGES
    if face_edges == 'contours':
        return FACE_CONTOUR_EDGES + FACE_IRIS_EDGES
    if face_edges == 'tesselation':
        return FACE_TESSELATION_EDGES + FACE_IRIS_EDGES
    if face_edges == 'none':
        return ()
    raise ValueError("face edges '%s': use one of %s" % (face_edges, ', '.join(FACE_EDGE_SETS)))


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError("unknown landmark task '%s': use one of %s" % (task, ', '.join(TASKS)))
    return task


# -- results ----------------------------------------------------------------------------------

@dataclass
class LandmarkInstance:
    """
    One face, hand or body.

    ``label`` is ``face``, ``person`` or the handedness (``Left`` / ``Right``); ``score`` is the
    handedness score for hands, the mean landmark presence for bodies and 1.0 for faces (MediaPipe
    gives faces no score); ``bbox`` is the landmarks' box ``(x1, y1, x2, y2)`` clipped to the
    image; ``keypoints`` is ``(K, 4)`` x, y (pixels), z (relative), score.
    """

    label: str
    score: float
    bbox: Tuple[float, float, float, float]
    keypoints: np.ndarray
    #: Face blendshape name -> score (faces, when ``output_face_blendshapes`` is on).
    blendshapes: Dict[str, float] = field(default_factory=dict)
    #: ``(H, W)`` float32 probability that a pixel is this body (pose, when masks are on).
    segmentation_mask: Optional[np.ndarray] = None

    def to_json(self, digits: int = 3) -> Dict[str, Any]:
        """Return a JSON-ready dict (bbox, score, label, keypoints [+ blendshapes])."""
        record: Dict[str, Any] = {
            'bbox': [round(float(v), digits) for v in self.bbox],
            'score': round(float(self.score), 4),
            'label': self.label,
            'keypoints': [[round(float(x), digits), round(float(y), digits), round(float(z), 5),
                           round(float(s), 4)] for x, y, z, s in self.keypoints.tolist()],
        }
        if self.blendshapes:
            record['blendshapes'] = {k: round(v, 4) for k, v in self.blendshapes.items()}
        return record


@dataclass
class LandmarkResult:
    """The instances of one image, and how MediaPipe ran on it (``video`` or ``image``)."""

    task: str
    instances: List[LandmarkInstance]
    width: int
    height: int
    mode: str
    timestamp_ms: Optional[int] = None

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[LandmarkInstance]:
        return iter(self.instances)

    @property
    def boxes(self) -> List[Tuple[float, float, float, float]]:
        return [inst.bbox for inst in self.instances]

    @property
    def keypoints(self) -> List[np.ndarray]:
        return [inst.keypoints for inst in self.instances]


@dataclass
class LandmarkerOptions:
    """The options the three landmarkers share (MediaPipe's defaults)."""

    #: How many faces / hands / bodies at most (``num_faces`` / ``num_hands`` / ``num_poses``).
    max_instances: int = 1
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    #: Faces: the 52 blendshape scores (an extra model run per face).
    output_face_blendshapes: bool = False
    #: Bodies: a per-pixel segmentation mask per body.
    output_segmentation_masks: bool = False

    def check(self) -> 'LandmarkerOptions':
        if not 1 <= int(self.max_instances) <= 100:
            raise ValueError('max_instances must be 1-100, got %s' % self.max_instances)
        for name in ('min_detection_confidence', 'min_presence_confidence',
                     'min_tracking_confidence'):
            check_unit(name, getattr(self, name))
        return self


# -- the wrapper ------------------------------------------------------------------------------

class MediaPipeLandmarker(MediaPipeTask):
    """A face / hand / pose landmarker on BGR images (running modes: ``task_runner``)."""

    def __init__(self, task: str, model_path: str,
                 options: Optional[LandmarkerOptions] = None) -> None:
        self.task = check_task(task)
        self.names = KEYPOINT_NAMES[task]
        self.kind = '%s landmarker bundle' % task
        self.default_model = DEFAULT_MODELS[task]
        super().__init__(model_path, options or LandmarkerOptions())

    def task_options(self, base_options: Any, running_mode: Any) -> Tuple[Any, Any]:
        vision = self._vision
        opts = self.options
        common = {'base_options': base_options, 'running_mode': running_mode,
                  'min_tracking_confidence': float(opts.min_tracking_confidence)}
        if self.task == 'face':
            return vision.FaceLandmarker, vision.FaceLandmarkerOptions(
                num_faces=int(opts.max_instances),
                min_face_detection_confidence=float(opts.min_detection_confidence),
                min_face_presence_confidence=float(opts.min_presence_confidence),
                output_face_blendshapes=bool(opts.output_face_blendshapes), **common)
        if self.task == 'hands':
            return vision.HandLandmarker, vision.HandLandmarkerOptions(
                num_hands=int(opts.max_instances),
                min_hand_detection_confidence=float(opts.min_detection_confidence),
                min_hand_presence_confidence=float(opts.min_presence_confidence), **common)
        return vision.PoseLandmarker, vision.PoseLandmarkerOptions(
            num_poses=int(opts.max_instances),
            min_pose_detection_confidence=float(opts.min_detection_confidence),
            min_pose_presence_confidence=float(opts.min_presence_confidence),
            output_segmentation_masks=bool(opts.output_segmentation_masks), **common)

    def __enter__(self) -> 'MediaPipeLandmarker':
        return self

    def detect(self, image_bgr: np.ndarray, timestamp_ms: Optional[int] = None) -> LandmarkResult:
        """Landmarks of one ``(H, W, 3)`` uint8 BGR image; ``timestamp_ms`` selects the mode."""
        raw, mode = self.run(image_bgr, timestamp_ms)
        height, width = image_bgr.shape[:2]
        instances = self._instances(raw, width, height)
        self.converted()
        return LandmarkResult(self.task, instances, width, height, mode, timestamp_ms)

    # -- result conversion -------------------------------------------------------------------
    def _instances(self, raw: Any, width: int, height: int) -> List[LandmarkInstance]:
        """Instances from the public result objects."""
        instances = []
        for i, landmarks in enumerate(getattr(raw, _LANDMARKS_FIELD[self.task])):
            count = len(landmarks)
            # C-level iteration, one pass per coordinate: no tuple per landmark (478 tuples
            # per face would also wake Python's garbage collector)
            rows = [map(_X, landmarks), map(_Y, landmarks), map(_Z, landmarks)]
            if self.task == 'pose':
                rows += [map(_score, map(_VISIBILITY, landmarks)),
                         map(_score, map(_PRESENCE, landmarks))]
            normalized = np.fromiter(chain.from_iterable(rows), np.float32,
                                     len(rows) * count).reshape(len(rows), count)
            handedness = blendshapes = mask = None
            if self.task == 'hands' and i < len(raw.handedness) and raw.handedness[i]:
                category = raw.handedness[i][0]
                handedness = (category.category_name or category.display_name or '',
                              float(category.score))
            elif self.task == 'face' and raw.face_blendshapes and \
                    i < len(raw.face_blendshapes):
                blendshapes = {c.category_name: float(c.score) for c in raw.face_blendshapes[i]}
            elif self.task == 'pose':
                masks = getattr(raw, 'segmentation_masks', None)
                if masks and i < len(masks):
                    mask = np.array(masks[i].numpy_view(), dtype=np.float32).reshape(
                        height, width)
            instances.append(self._instance(normalized, width, height, handedness, blendshapes,
                                            mask))
        return instances

    def _instance(self, normalized: np.ndarray, width: int, height: int,
                  handedness: Optional[Tuple[str, float]] = None,
                  blendshapes: Optional[Dict[str, float]] = None,
                  mask: Optional[np.ndarray] = None) -> LandmarkInstance:
        """One instance from its ``(3, K)`` normalized x, y, z (pose: + visibility, presence)."""
        count = normalized.shape[1]
        rows = np.empty((4, count), np.float32)
        rows[:3] = normalized[:3]
        rows[:2] *= _scale(width, height)
        rows[3] = normalized[3] if self.task == 'pose' else 1.0
        keypoints = np.ascontiguousarray(rows.T)
        bbox = points_box(rows[:2], width, height)
        if self.task == 'face':
            # MediaPipe gives faces no score
            return LandmarkInstance(FACE_LABEL, 1.0, bbox, keypoints,
                                    blendshapes=blendshapes or {})
        if self.task == 'hands':
            label, score = handedness or ('', 0.0)
            return LandmarkInstance(label, score, bbox, keypoints)
        presence = float(normalized[4].mean()) if count else 0.0
        return LandmarkInstance(PERSON_LABEL, presence, bbox, keypoints, segmentation_mask=mask)


def points_box(xy: np.ndarray, width: int, height: int) -> Tuple[float, float, float, float]:
    """Return the box ``(x1, y1, x2, y2)`` of ``(2, K)`` pixel rows x, y, clipped to the image."""
    if not xy.shape[1]:
        return (0.0, 0.0, 0.0, 0.0)
    low, high = xy.min(axis=1).tolist(), xy.max(axis=1).tolist()
    right, bottom = float(width), float(height)
    return (min(max(low[0], 0.0), right), min(max(low[1], 0.0), bottom),
            min(max(high[0], 0.0), right), min(max(high[1], 0.0), bottom))


_LANDMARKS_FIELD = {'face': 'face_landmarks', 'hands': 'hand_landmarks',
                    'pose': 'pose_landmarks'}
_X = attrgetter('x')
_Y = attrgetter('y')
_Z = attrgetter('z')
_VISIBILITY = attrgetter('visibility')
_PRESENCE = attrgetter('presence')


def _scale(width: int, height: int) -> np.ndarray:
    return np.array(((width,), (height,)), np.float32)


def _score(value: Optional[float]) -> float:
    return 1.0 if value is None else float(value)
