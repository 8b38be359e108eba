"""
MediaPipe Tasks face mesh, hand and pose landmarkers as plain-data wrappers.

``MediaPipeLandmarker(task, model_path, options)`` runs one of the Tasks API landmarkers
(``FaceLandmarker``, ``HandLandmarker``, ``PoseLandmarker`` of the PyPI ``mediapipe`` package,
which bundles no models: the ``.task`` files come through the models manifest) on BGR images and
returns :class:`LandmarkResult`: one :class:`LandmarkInstance` per face / hand / body with its
keypoints in source-image pixels.

Running modes. ``detect(image, timestamp_ms)`` uses MediaPipe's VIDEO mode (landmarks tracked
from frame to frame, the detector only runs when tracking is lost), which needs strictly
increasing timestamps:

- a later stamp than the previous VIDEO frame -> VIDEO mode;
- no stamp (``None``) or the same stamp again (a republished frame, a camera that does not stamp)
  -> IMAGE mode on a second landmarker created on first use; the tracking state is untouched;
- an earlier stamp (a looping file or bag, a reset simulation clock) -> the video stream
  restarts: the VIDEO landmarker is recreated, so this frame is detected from scratch (exactly as
  in IMAGE mode) and the frames after it are tracked again (``stream_restarts`` counts these).

Keypoints are ``(K, 4)`` float32 rows ``x, y, z, score``: x and y in source pixels, z is
MediaPipe's relative depth (origin at the wrist / hips / head centre, roughly the scale of the
normalised x, smaller = nearer the camera), score is the pose
landmark's visibility. MediaPipe reports no per-landmark confidence for face and hand landmarks:
their score is 1.0 (the instance as a whole passed ``min_presence_confidence``).
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
import importlib
from itertools import chain
from operator import attrgetter
import os
from time import perf_counter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import BackendUnavailableError
from .errors import ImageFormatError
from .errors import ModelError
from .models import verify_model
from .timing import StageTimes

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
# Taken from the installed mediapipe package where it exposes them (Tasks API 0.10.9+, else the
# legacy ``solutions`` modules); the hand and pose skeletons are also written out below for a
# mediapipe without either (the tests check they equal the package's).

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

# The legacy ``mediapipe.solutions`` module of each Tasks connection list (older wheels).
_LEGACY_CONNECTIONS = {
    'FACE_LANDMARKS_CONTOURS': ('face_mesh_connections', 'FACEMESH_CONTOURS'),
    'FACE_LANDMARKS_TESSELATION': ('face_mesh_connections', 'FACEMESH_TESSELATION'),
    'FACE_LANDMARKS_LEFT_IRIS': ('face_mesh_connections', 'FACEMESH_LEFT_IRIS'),
    'FACE_LANDMARKS_RIGHT_IRIS': ('face_mesh_connections', 'FACEMESH_RIGHT_IRIS'),
    'HAND_CONNECTIONS': ('hands_connections', 'HAND_CONNECTIONS'),
    'POSE_LANDMARKS': ('pose_connections', 'POSE_CONNECTIONS'),
}


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
        pass
    legacy = _LEGACY_CONNECTIONS.get(name)
    if legacy is None:
        return None
    try:
        module = importlib.import_module('mediapipe.python.solutions.' + legacy[0])
        # legacy lists are frozensets: sort them so the published order is stable
        return tuple(sorted((int(a), int(b)) for a, b in getattr(module, legacy[1])))
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


def stamp_to_ms(sec: int, nanosec: int) -> int:
    """Convert a ROS ``builtin_interfaces/Time`` to integer milliseconds (MediaPipe's unit)."""
    return int(sec) * 1000 + int(nanosec) // 1000000


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
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError('%s must be within 0-1, got %s' % (name, value))
        return self


# -- the wrapper ------------------------------------------------------------------------------

def import_vision() -> Any:
    """``mediapipe.tasks.python.vision`` or a BackendUnavailableError naming the fix."""
    try:
        from mediapipe.tasks.python import vision
    except ImportError as exc:
        raise BackendUnavailableError('the MediaPipe Tasks API is not importable (%s): '
                                      '`pip install mediapipe` (0.10 or later)' % exc) from None
    return vision


def _one_line(text: object) -> str:
    return ' '.join(str(text).split())


class MediaPipeLandmarker:
    """A face / hand / pose landmarker on BGR images; see the module docstring for the modes."""

    def __init__(self, task: str, model_path: str,
                 options: Optional[LandmarkerOptions] = None) -> None:
        self.task = check_task(task)
        self.model_path = str(model_path)
        self.options = (options or LandmarkerOptions()).check()
        self.names = KEYPOINT_NAMES[task]
        self.timings = StageTimes()
        self.stream_restarts = 0
        self._vision = import_vision()
        self._mp = importlib.import_module('mediapipe')
        if not os.path.isfile(self.model_path):
            raise ModelError("MediaPipe model file not found: '%s' (run `jetauto-perception "
                             'models fetch %s`)' % (self.model_path, DEFAULT_MODELS[task]))
        #: The live MediaPipe landmarkers by running mode ('video', 'image'). Close them (close()
        #: or ``with``) before the interpreter exits: mediapipe 1.x's own __del__ fails that late.
        self._landmarkers: Dict[str, Any] = {}
        self._last_ms: Optional[int] = None
        # fail at construction, not on the first frame, when the bundle is unusable
        self._landmarker('video')

    # -- lifecycle ---------------------------------------------------------------------------
    def _create(self, mode: str) -> Any:
        vision = self._vision
        from mediapipe.tasks.python.core.base_options import BaseOptions
        opts = self.options
        common = {'base_options': BaseOptions(model_asset_path=self.model_path),
                  'running_mode': getattr(vision.RunningMode, mode),
                  'min_tracking_confidence': float(opts.min_tracking_confidence)}
        if self.task == 'face':
            cls = vision.FaceLandmarker
            task_options = vision.FaceLandmarkerOptions(
                num_faces=int(opts.max_instances),
                min_face_detection_confidence=float(opts.min_detection_confidence),
                min_face_presence_confidence=float(opts.min_presence_confidence),
                output_face_blendshapes=bool(opts.output_face_blendshapes), **common)
        elif self.task == 'hands':
            cls = vision.HandLandmarker
            task_options = vision.HandLandmarkerOptions(
                num_hands=int(opts.max_instances),
                min_hand_detection_confidence=float(opts.min_detection_confidence),
                min_hand_presence_confidence=float(opts.min_presence_confidence), **common)
        else:
            cls = vision.PoseLandmarker
            task_options = vision.PoseLandmarkerOptions(
                num_poses=int(opts.max_instances),
                min_pose_detection_confidence=float(opts.min_detection_confidence),
                min_pose_presence_confidence=float(opts.min_presence_confidence),
                output_segmentation_masks=bool(opts.output_segmentation_masks), **common)
        try:
            return cls.create_from_options(task_options)
        except (RuntimeError, ValueError, OSError) as exc:
            reason = _one_line(exc)
        if verify_model(self.model_path) is False:
            reason += "; its sha256 differs from the manifest's: the file is damaged"
        raise ModelError("cannot load '%s': corrupt or not a MediaPipe %s landmarker bundle "
                         '(%s); get %s with `jetauto-perception models fetch --force %s`'
                         % (self.model_path, self.task, reason, DEFAULT_MODELS[self.task],
                            DEFAULT_MODELS[self.task]))

    def _landmarker(self, mode: str) -> Any:
        landmarker = self._landmarkers.get(mode)
        if landmarker is None:
            landmarker = self._landmarkers[mode] = self._create(mode.upper())
        return landmarker

    def reconfigure(self, options: LandmarkerOptions) -> None:
        """Use new options from the next frame on (the landmarkers are rebuilt)."""
        options.check()
        previous, self.options = self.options, options
        try:
            video = self._create('VIDEO')
        except ModelError:
            self.options = previous
            raise
        self.close()
        self._landmarkers['video'] = video

    def close(self) -> None:
        """Release the MediaPipe graphs (a later detect creates them again)."""
        _close_landmarkers(self._landmarkers)
        self._last_ms = None

    def __enter__(self) -> 'MediaPipeLandmarker':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inference ---------------------------------------------------------------------------
    def detect(self, image_bgr: np.ndarray, timestamp_ms: Optional[int] = None) -> LandmarkResult:
        """Landmarks of one ``(H, W, 3)`` uint8 BGR image; ``timestamp_ms`` selects the mode."""
        if (not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8
                or image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.size == 0):
            raise ImageFormatError('expected an (H, W, 3) uint8 BGR image, got %s %s' % (
                getattr(image_bgr, 'shape', type(image_bgr).__name__),
                getattr(image_bgr, 'dtype', '')))
        # plain perf_counter stamps: this wrapper's own cost is what the benchmark measures
        start = perf_counter()
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB,
                                  data=cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        converted = perf_counter()
        if timestamp_ms is not None and timestamp_ms != self._last_ms:
            if self._last_ms is not None and timestamp_ms < self._last_ms:
                self._restart_stream()
            mode = 'video'
            raw = self._landmarker(mode).detect_for_video(mp_image, int(timestamp_ms))
            self._last_ms = int(timestamp_ms)
        else:
            mode = 'image'
            raw = self._landmarker(mode).detect(mp_image)
        inferred = perf_counter()
        height, width = image_bgr.shape[:2]
        instances = self._instances(raw, width, height)
        ms = self.timings.ms
        ms.clear()
        ms['pre'] = (converted - start) * 1e3
        ms['infer'] = (inferred - converted) * 1e3
        ms['post'] = (perf_counter() - inferred) * 1e3
        return LandmarkResult(self.task, instances, width, height, mode, timestamp_ms)

    def _restart_stream(self) -> None:
        """Stamps went backwards: a fresh VIDEO graph (MediaPipe refuses earlier stamps)."""
        self.stream_restarts += 1
        video = self._landmarkers.pop('video', None)
        if video is not None:
            video.close()
        self._last_ms = None

    # -- result conversion -------------------------------------------------------------------
    def _instances(self, raw: Any, width: int, height: int) -> List[LandmarkInstance]:
        if self.task == 'face':
            landmark_sets = raw.face_landmarks
        elif self.task == 'hands':
            landmark_sets = raw.hand_landmarks
        else:
            landmark_sets = raw.pose_landmarks
        instances = []
        for i, landmarks in enumerate(landmark_sets):
            keypoints, presence = self._keypoints(landmarks, width, height)
            bbox = landmarks_box(keypoints, width, height)
            if self.task == 'face':
                blendshapes = {}
                if raw.face_blendshapes and i < len(raw.face_blendshapes):
                    blendshapes = {c.category_name: float(c.score)
                                   for c in raw.face_blendshapes[i]}
                instances.append(LandmarkInstance(FACE_LABEL, 1.0, bbox, keypoints,
                                                  blendshapes=blendshapes))
            elif self.task == 'hands':
                category = raw.handedness[i][0] if i < len(raw.handedness) and \
                    raw.handedness[i] else None
                label = (category.category_name or category.display_name) if category else ''
                score = float(category.score) if category else 0.0
                instances.append(LandmarkInstance(label, score, bbox, keypoints))
            else:
                mask = None
                masks = getattr(raw, 'segmentation_masks', None)
                if masks and i < len(masks):
                    mask = np.array(masks[i].numpy_view(), dtype=np.float32).reshape(
                        height, width)
                instances.append(LandmarkInstance(PERSON_LABEL, float(np.mean(presence)), bbox,
                                                  keypoints, segmentation_mask=mask))
        return instances

    def _keypoints(self, landmarks: Sequence[Any], width: int,
                   height: int) -> Tuple[np.ndarray, np.ndarray]:
        """``(K, 4)`` x, y, z, score in pixels and the per-landmark presence."""
        # Few numpy calls on purpose: right after MediaPipe's inference every call runs with
        # cold caches and costs ~10x its usual time; this is the node's per-frame overhead.
        count = len(landmarks)
        xyz = np.fromiter(chain.from_iterable(map(_XYZ, landmarks)), np.float32,
                          3 * count).reshape(count, 3)
        xyz *= np.array((width, height, 1.0), np.float32)
        if self.task == 'pose':
            scores = np.fromiter(map(_score, map(_VISIBILITY, landmarks)), np.float32, count)
            presence = np.fromiter(map(_score, map(_PRESENCE, landmarks)), np.float32, count)
        else:
            # face and hand models give no per-landmark score (older wheels fill in 0.0)
            scores = presence = np.ones(count, np.float32)
        return np.concatenate((xyz, scores[:, None]), axis=1), presence


_XYZ = attrgetter('x', 'y', 'z')
_VISIBILITY = attrgetter('visibility')
_PRESENCE = attrgetter('presence')


def _close_landmarkers(landmarkers: Dict[str, Any]) -> None:
    while landmarkers:
        landmarkers.popitem()[1].close()


def _score(value: Optional[float]) -> float:
    return 1.0 if value is None else float(value)


def landmarks_box(keypoints: np.ndarray, width: int,
                  height: int) -> Tuple[float, float, float, float]:
    """Return the box ``(x1, y1, x2, y2)`` around ``(K, 2+)`` keypoints, clipped to the image."""
    if len(keypoints) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    (x1, y1), (x2, y2) = keypoints[:, :2].min(axis=0).tolist(), \
        keypoints[:, :2].max(axis=0).tolist()
    right, bottom = float(width), float(height)
    return (min(max(x1, 0.0), right), min(max(y1, 0.0), bottom),
            min(max(x2, 0.0), right), min(max(y2, 0.0), bottom))
