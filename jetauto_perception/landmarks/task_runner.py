"""
The plumbing every MediaPipe Tasks wrapper shares: model checks, running modes, BGR input.

:class:`MediaPipeTask` runs one Tasks API object (``FaceLandmarker``, ``FaceDetector``,
``ImageSegmenter``, ... of the PyPI ``mediapipe`` package, which bundles no models: they come
through the models manifest) on BGR images, through MediaPipe's public Python API only.
Subclasses say which Tasks class and options to build and convert its public result objects.

Running modes. :meth:`MediaPipeTask.run` uses MediaPipe's VIDEO mode (results tracked from frame
to frame where the task tracks, e.g. landmarks), which needs strictly increasing timestamps:

- a later stamp than the previous VIDEO frame -> VIDEO mode;
- no stamp (``None``) or the same stamp again (a republished frame, a camera that does not stamp)
  -> IMAGE mode on a second Tasks object created on first use; the tracking state is untouched;
- an earlier stamp (a looping file or bag, a reset simulation clock) -> the video stream
  restarts: the VIDEO object is recreated, so this frame is processed from scratch (exactly as
  in IMAGE mode) and the frames after it are tracked again (``stream_restarts`` counts these).
"""
from __future__ import annotations

import importlib
import os
from time import perf_counter
from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np

from ..errors import BackendUnavailableError, ImageFormatError, ModelError
from ..models.manifest import verify_model
from ..timing import StageTimes


def import_vision() -> Any:
    """``mediapipe.tasks.python.vision`` or a BackendUnavailableError naming the fix."""
    try:
        from mediapipe.tasks.python import vision
    except ImportError as exc:
        raise BackendUnavailableError('the MediaPipe Tasks API is not importable (%s): '
                                      '`pip install "mediapipe>=1.2,<2"`' % exc) from None
    return vision


def stamp_to_ms(sec: int, nanosec: int) -> int:
    """Convert a ROS ``builtin_interfaces/Time`` to integer milliseconds (MediaPipe's unit)."""
    return int(sec) * 1000 + int(nanosec) // 1000000


def one_line(text: object) -> str:
    return ' '.join(str(text).split())


def check_unit(name: str, value: float) -> None:
    """Raise ValueError unless ``0 <= value <= 1`` (the options' confidences and thresholds)."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError('%s must be within 0-1, got %s' % (name, value))


class MediaPipeTask:
    """
    One MediaPipe Tasks object on BGR images, in VIDEO or IMAGE mode (see the module docstring).

    Subclasses set :attr:`kind`, :attr:`default_model` and :attr:`calls`, and implement
    :meth:`task_options` (the Tasks class and its options for a running mode).
    """

    #: What the model file must be, for the error messages (e.g. ``face landmarker bundle``).
    kind = ''
    #: The models-manifest name of the default model (for the error messages' fix).
    default_model = ''
    #: The Tasks object's IMAGE-mode and VIDEO-mode methods.
    calls: Tuple[str, str] = ('detect', 'detect_for_video')

    def __init__(self, model_path: str, options: Any) -> None:
        self.model_path = str(model_path)
        self.options = options.check()
        self.timings = StageTimes()
        self.stream_restarts = 0
        self._vision = import_vision()
        self._mp = importlib.import_module('mediapipe')
        if not os.path.isfile(self.model_path):
            raise ModelError("MediaPipe model file not found: '%s' (run `jetauto-perception "
                             'models fetch %s`)' % (self.model_path, self.default_model))
        #: The live Tasks objects by running mode ('video', 'image'). Close them (close() or
        #: ``with``) before the interpreter exits: mediapipe 1.x's own __del__ fails that late.
        self._runners: Dict[str, Any] = {}
        self._last_ms: Optional[int] = None
        self._inferred = 0.0
        # fail at construction, not on the first frame, when the model is unusable
        self._runner('video')

    # -- for subclasses ------------------------------------------------------------------------
    def task_options(self, base_options: Any, running_mode: Any) -> Tuple[Any, Any]:
        """Return the Tasks class and its options object for ``running_mode``."""
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------------
    def _create(self, mode: str) -> Any:
        from mediapipe.tasks.python.core.base_options import BaseOptions
        cls, task_options = self.task_options(BaseOptions(model_asset_path=self.model_path),
                                              getattr(self._vision.RunningMode, mode))
        try:
            return cls.create_from_options(task_options)
        except (RuntimeError, ValueError, OSError) as exc:
            reason = one_line(exc)
        if verify_model(self.model_path) is False:
            reason += "; its sha256 differs from the manifest's: the file is damaged"
        raise ModelError("cannot load '%s': corrupt or not a MediaPipe %s (%s); get %s with "
                         '`jetauto-perception models fetch --force %s`'
                         % (self.model_path, self.kind, reason, self.default_model,
                            self.default_model))

    def _runner(self, mode: str) -> Any:
        runner = self._runners.get(mode)
        if runner is None:
            runner = self._runners[mode] = self._create(mode.upper())
        return runner

    def reconfigure(self, options: Any) -> None:
        """Use new options from the next frame on (the Tasks objects are rebuilt)."""
        options.check()
        previous, self.options = self.options, options
        try:
            video = self._create('VIDEO')
        except ModelError:
            self.options = previous
            raise
        self.close()
        self._runners['video'] = video

    def close(self) -> None:
        """Release the MediaPipe graphs (a later call creates them again)."""
        while self._runners:
            self._runners.popitem()[1].close()
        self._last_ms = None

    def __enter__(self) -> 'MediaPipeTask':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _restart_stream(self) -> None:
        """Stamps went backwards: a fresh VIDEO graph (MediaPipe refuses earlier stamps)."""
        self.stream_restarts += 1
        video = self._runners.pop('video', None)
        if video is not None:
            video.close()
        self._last_ms = None

    # -- one frame -------------------------------------------------------------------------------
    def run(self, image_bgr: np.ndarray, timestamp_ms: Optional[int] = None) -> Tuple[Any, str]:
        """
        Run the task on one ``(H, W, 3)`` uint8 BGR image; return its raw result and the mode.

        Times ``pre`` (BGR -> RGB + mp.Image) and ``infer`` (the Tasks call) in
        :attr:`timings`; the subclass adds ``post`` (see :meth:`converted`).
        """
        if (not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8
                or image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.size == 0):
            raise ImageFormatError('expected an (H, W, 3) uint8 BGR image, got %s %s' % (
                getattr(image_bgr, 'shape', type(image_bgr).__name__),
                getattr(image_bgr, 'dtype', '')))
        # plain perf_counter stamps: the wrappers' own cost is what the benchmark measures
        start = perf_counter()
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB,
                                  data=cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        converted = perf_counter()
        if timestamp_ms is not None and timestamp_ms != self._last_ms:
            if self._last_ms is not None and timestamp_ms < self._last_ms:
                self._restart_stream()
            mode = 'video'
        else:
            mode = 'image'
        runner = self._runner(mode)
        if mode == 'video':
            raw = getattr(runner, self.calls[1])(mp_image, int(timestamp_ms))
            self._last_ms = int(timestamp_ms)
        else:
            raw = getattr(runner, self.calls[0])(mp_image)
        self._inferred = perf_counter()
        ms = self.timings.ms
        ms.clear()
        ms['pre'] = (converted - start) * 1e3
        ms['infer'] = (self._inferred - converted) * 1e3
        return raw, mode

    def converted(self) -> None:
        """Record the ``post`` time: the result conversion after the last :meth:`run`."""
        self.timings.ms['post'] = (perf_counter() - self._inferred) * 1e3
