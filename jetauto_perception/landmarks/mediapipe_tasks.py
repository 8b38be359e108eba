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

Result readers. mediapipe 1.x wheels run the Tasks API through MediaPipe's C API and build one
Python object per landmark from its C result; turning those back into arrays costs as much
again (together ~0.6 ms per 478-point face, 10 % of the face model's time on a desktop CPU).
Where it can, the wrapper calls the same C function and reads the C result straight into numpy
(:class:`CResultReader`, ``result_reader == 'c'``); it checks its first non-empty result against
MediaPipe's own Python objects and otherwise uses those (``c_results_off`` says why). mediapipe
0.10 wheels (the only ones for aarch64) and pose segmentation masks use the public objects.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
import importlib
from itertools import chain
from operator import attrgetter
import os
from time import perf_counter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import BackendUnavailableError, ImageFormatError, ModelError
from ..models.manifest import verify_model
from ..timing import StageTimes

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
                 options: Optional[LandmarkerOptions] = None,
                 read_c_results: bool = True) -> None:
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
        #: Direct C-result readers of the live landmarkers (see :class:`CResultReader`).
        self._readers: Dict[str, CResultReader] = {}
        #: Why results are read through MediaPipe's Python objects ('' while read directly).
        self.c_results_off = '' if read_c_results else 'turned off by the caller'
        self._c_results_checked = False
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
            self._attach_reader(mode, landmarker)
        return landmarker

    def _attach_reader(self, mode: str, landmarker: Any) -> None:
        """Read ``landmarker``'s C results directly unless that is off or impossible."""
        self._readers.pop(mode, None)
        if not self.c_results_off:
            try:
                self._readers[mode] = CResultReader(self.task, landmarker,
                                                    self.options.output_segmentation_masks)
            except CResultsUnavailable as exc:
                self._use_public_objects(str(exc))

    def _use_public_objects(self, reason: str) -> None:
        """Read results through MediaPipe's Python objects from now on, for ``reason``."""
        self.c_results_off = reason
        self._readers.clear()

    @property
    def result_reader(self) -> str:
        """``c`` (MediaPipe's C results read directly) or ``objects`` (the public Python API)."""
        return 'objects' if self.c_results_off else 'c'

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
        self._attach_reader('video', video)

    def close(self) -> None:
        """Release the MediaPipe graphs (a later detect creates them again)."""
        self._readers.clear()
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
            mode, stamp = 'video', int(timestamp_ms)
        else:
            mode, stamp = 'image', None
        height, width = image_bgr.shape[:2]
        landmarker = self._landmarker(mode)
        reader = self._readers.get(mode)
        found = None
        if reader is not None:
            found = self._detect_c(reader, mp_image, stamp, width, height)
        if found is None:
            raw = landmarker.detect(mp_image) if stamp is None else \
                landmarker.detect_for_video(mp_image, stamp)
            inferred = perf_counter()
            instances = self._instances(raw, width, height)
        else:
            instances, inferred = found
        if stamp is not None:
            self._last_ms = stamp
        ms = self.timings.ms
        ms.clear()
        ms['pre'] = (converted - start) * 1e3
        ms['infer'] = (inferred - converted) * 1e3
        ms['post'] = (perf_counter() - inferred) * 1e3
        return LandmarkResult(self.task, instances, width, height, mode, timestamp_ms)

    def _detect_c(self, reader: 'CResultReader', mp_image: Any, stamp: Optional[int],
                  width: int, height: int) -> Optional[Tuple[List[LandmarkInstance], float]]:
        """
        Detect through ``reader``; return the instances and when inference ended.

        None when the C function could not even be called (then nothing ran: the caller uses
        the public API). Any doubt about the C result switches to the public objects for good.
        """
        try:
            result = reader.detect(mp_image, stamp)
        except (AttributeError, ctypes.ArgumentError) as exc:  # raised before the C call
            self._use_public_objects('cannot call its C API (%s)' % _one_line(exc))
            return None
        inferred = perf_counter()
        try:
            try:
                instances = self._instances_c(reader, result, width, height)
            except (AttributeError, TypeError, ValueError, IndexError) as exc:
                self._use_public_objects('cannot read its C result (%s)' % _one_line(exc))
                return self._instances(reader.public_result(result), width, height), inferred
            if instances and not self._c_results_checked:
                # once, on the first result with instances: the public reader of the very
                # same C result must agree, else this mediapipe's structs are not what we read
                expected = self._instances(reader.public_result(result), width, height)
                mismatch = _compare_instances(instances, expected)
                self._c_results_checked = True
                if mismatch:
                    self._use_public_objects('its C results differ from its Python objects '
                                             '(%s)' % mismatch)
                    instances = expected
        finally:
            reader.close(result)
        return instances, inferred

    def _restart_stream(self) -> None:
        """Stamps went backwards: a fresh VIDEO graph (MediaPipe refuses earlier stamps)."""
        self.stream_restarts += 1
        self._readers.pop('video', None)
        video = self._landmarkers.pop('video', None)
        if video is not None:
            video.close()
        self._last_ms = None

    # -- result conversion -------------------------------------------------------------------
    # Two readers give the same instances: MediaPipe's public Python result objects, and (where
    # mediapipe >= 1.0's ctypes bindings allow) its C result read straight into numpy. The
    # public objects cost ~1 us per landmark to build (0.4 ms per face) and as much again to
    # read; the C result is one memory view per instance.

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

    def _instances_c(self, reader: 'CResultReader', result: Any, width: int,
                     height: int) -> List[LandmarkInstance]:
        """Instances from a C result (see :class:`CResultReader`)."""
        instances = []
        for i, normalized in enumerate(reader.landmarks(result, self.task == 'pose')):
            handedness = reader.handedness(result, i) if self.task == 'hands' else None
            blendshapes = reader.blendshapes(result, i) if self.task == 'face' else None
            instances.append(self._instance(normalized, width, height, handedness, blendshapes))
        return instances

    def _instance(self, normalized: np.ndarray, width: int, height: int,
                  handedness: Optional[Tuple[str, float]] = None,
                  blendshapes: Optional[Dict[str, float]] = None,
                  mask: Optional[np.ndarray] = None) -> LandmarkInstance:
        """
        One instance from its ``(3, K)`` normalized x, y, z (+ visibility, presence for pose).

        Rows are what both readers give and what the box needs: this takes few numpy calls
        (each costs several times its usual time here, with the caches still cold from
        inference).
        """
        count = normalized.shape[1]
        rows = np.empty((4, count), np.float32)
        rows[:3] = normalized[:3]
        rows[:2] *= _scale(width, height)
        rows[3] = normalized[3] if self.task == 'pose' else 1.0
        keypoints = np.ascontiguousarray(rows.T)
        if count:  # the landmarks' box, clipped to the image
            low, high = rows[:2].min(axis=1).tolist(), rows[:2].max(axis=1).tolist()
            right, bottom = float(width), float(height)
            bbox = (min(max(low[0], 0.0), right), min(max(low[1], 0.0), bottom),
                    min(max(high[0], 0.0), right), min(max(high[1], 0.0), bottom))
        else:
            bbox = (0.0, 0.0, 0.0, 0.0)
        if self.task == 'face':
            # MediaPipe gives faces no score
            return LandmarkInstance(FACE_LABEL, 1.0, bbox, keypoints,
                                    blendshapes=blendshapes or {})
        if self.task == 'hands':
            label, score = handedness or ('', 0.0)
            return LandmarkInstance(label, score, bbox, keypoints)
        presence = float(normalized[4].mean()) if count else 0.0
        return LandmarkInstance(PERSON_LABEL, presence, bbox, keypoints, segmentation_mask=mask)


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


def _compare_instances(actual: Sequence[LandmarkInstance],
                       expected: Sequence[LandmarkInstance]) -> str:
    """Return '' when both lists hold the same instances, else what differs first."""
    if len(actual) != len(expected):
        return '%d instances instead of %d' % (len(actual), len(expected))
    for a, e in zip(actual, expected):
        if a.keypoints.shape != e.keypoints.shape or \
                not np.array_equal(a.keypoints, e.keypoints, equal_nan=True):
            return 'keypoints'
        if (a.label, a.score, a.bbox, a.blendshapes) != (e.label, e.score, e.bbox,
                                                         e.blendshapes):
            return 'label, score, box or blendshapes'
    return ''


class CResultsUnavailable(Exception):
    """The installed mediapipe's landmarker results cannot be read directly."""


class CResultReader:
    """
    Read a landmarker's C result straight into numpy (mediapipe >= 1.0 ctypes bindings).

    mediapipe 1.x runs each Tasks call through its C API and turns the C result into Python
    objects (one ``NormalizedLandmark`` per landmark: 0.4 ms for a 478-point face). This calls
    the same C function the landmarker's ``detect`` / ``detect_for_video`` call, with the same
    arguments and error checks, and reads the landmark arrays as memory views described by
    the package's own ctypes structs. It relies on non-public attributes (the landmarker's
    ``_lib`` and ``_handle``, ``Image._image_ptr``), so: everything it needs is looked up at
    construction (CResultsUnavailable otherwise), and :class:`MediaPipeLandmarker` compares
    its first non-empty result with the public reader of the same C result and falls back to
    the public objects when they differ (mediapipe 0.10's pybind wheels, the only ones for
    aarch64, always use the public objects).
    """

    _MODULES = {'face': ('face_landmarker', 'MpFaceLandmarker', 'FaceLandmarkerResult'),
                'hands': ('hand_landmarker', 'MpHandLandmarker', 'HandLandmarkerResult'),
                'pose': ('pose_landmarker', 'MpPoseLandmarker', 'PoseLandmarkerResult')}

    def __init__(self, task: str, landmarker: Any, segmentation_masks: bool = False) -> None:
        if segmentation_masks:  # C images: not worth reading here, masks cost far more anyway
            raise CResultsUnavailable('segmentation masks are read through the Python objects')
        module_name, prefix, result_name = self._MODULES[task]
        self.field = _LANDMARKS_FIELD[task]
        try:
            module = importlib.import_module('mediapipe.tasks.python.vision.' + module_name)
            self.result_type = getattr(module, prefix + 'ResultC')
            self.public_result = getattr(module, result_name).from_ctypes
            lib, self.handle = landmarker._lib, landmarker._handle
            self.detect_image = getattr(lib, prefix + 'DetectImage')
            self.detect_video = getattr(lib, prefix + 'DetectForVideo')
            self.close_result = getattr(lib, prefix + 'CloseResult')
            fields = dict(self.result_type._fields_)
            landmarks_type = fields[self.field]._type_
            landmark_type = dict(landmarks_type._fields_)['landmarks']._type_
            if 'landmarks_count' not in dict(landmarks_type._fields_):
                raise KeyError('landmarks_count')
        except (ImportError, AttributeError, KeyError, TypeError) as exc:
            raise CResultsUnavailable('this mediapipe has no readable C results (%s)'
                                      % _one_line(exc)) from None
        self.itemsize = ctypes.sizeof(landmark_type)
        types = dict(landmark_type._fields_)
        columns = {}
        for name in ('x', 'y', 'z', 'visibility', 'presence'):
            offset = getattr(landmark_type, name, None)
            if types.get(name) is not ctypes.c_float or offset is None or offset.offset % 4:
                raise CResultsUnavailable('unexpected landmark struct (%s)' % name)
            columns[name] = offset.offset // 4
        for name in ('has_visibility', 'has_presence'):
            if types.get(name) is not ctypes.c_bool:
                raise CResultsUnavailable('unexpected landmark struct (%s)' % name)
            columns[name] = getattr(landmark_type, name).offset
        if self.itemsize % 4:
            raise CResultsUnavailable('unexpected landmark struct size %d' % self.itemsize)
        self.xyz = [columns['x'], columns['y'], columns['z']]
        self.scores = [columns['visibility'], columns['presence']]
        self.flags = [columns['has_visibility'], columns['has_presence']]

    def detect(self, image: Any, timestamp_ms: Optional[int]) -> Any:
        """Run the landmarker (IMAGE mode when ``timestamp_ms`` is None); close() the result."""
        result = self.result_type()
        pointer = image._image_ptr
        if timestamp_ms is None:
            self.detect_image(self.handle, pointer, None, ctypes.byref(result))
        else:
            self.detect_video(self.handle, pointer, None, timestamp_ms, ctypes.byref(result))
        return result

    def close(self, result: Any) -> None:
        self.close_result(ctypes.byref(result))

    def landmarks(self, result: Any, scores: bool) -> List[np.ndarray]:
        """
        Return per instance a ``(3, K)`` float32 copy of the normalized x, y, z.

        With ``scores``, ``(5, K)`` with the visibility and presence (1.0 where unset).
        """
        out = []
        sets = getattr(result, self.field)
        for i in range(getattr(result, self.field + '_count')):
            landmarks = sets[i]
            count = landmarks.landmarks_count
            address = ctypes.cast(landmarks.landmarks, ctypes.c_void_p).value
            if not count or not address:
                out.append(np.zeros((5 if scores else 3, 0), np.float32))
                continue
            memory = (ctypes.c_char * (count * self.itemsize)).from_address(address)
            as_floats = np.frombuffer(memory, np.float32).reshape(count, self.itemsize // 4)
            if not scores:
                out.append(as_floats[:, self.xyz].T.copy())
                continue
            rows = as_floats[:, self.xyz + self.scores].T.copy()
            flags = np.frombuffer(memory, np.uint8).reshape(count, self.itemsize)
            rows[3:][flags[:, self.flags].T == 0] = 1.0
            out.append(rows)
        return out

    def handedness(self, result: Any, index: int) -> Optional[Tuple[str, float]]:
        if index >= result.handedness_count:
            return None
        categories = result.handedness[index]
        if not categories.categories_count:
            return None
        best = categories.categories[0]
        name = best.category_name or best.display_name or b''
        return name.decode('utf-8'), float(best.score)

    def blendshapes(self, result: Any, index: int) -> Optional[Dict[str, float]]:
        if index >= result.face_blendshapes_count:
            return None
        categories = result.face_blendshapes[index]
        return {c.category_name.decode('utf-8') if c.category_name else '': float(c.score)
                for c in (categories.categories[k] for k in range(categories.categories_count))}


def _close_landmarkers(landmarkers: Dict[str, Any]) -> None:
    while landmarkers:
        landmarkers.popitem()[1].close()
