"""
Frame capture from cameras, streams, video files and image folders, without ROS.

One ``source`` string selects the input (see :func:`parse_source`):

- ``0`` or ``/dev/video0`` (any path under ``/dev``): a V4L2 camera (``width``, ``height``,
  ``fps`` and ``fourcc`` such as ``MJPG`` are requested from the driver);
- ``csi://0``: a Jetson CSI camera through nvarguscamerasrc → nvvidconv → BGRx → appsink;
- ``rtsp://…``, ``rtsps://…``, ``rtmp://…``, ``udp://…``, ``http(s)://…``: a network stream;
- a GStreamer pipeline ending in ``appsink``;
- a folder of images (played in name order at ``fps``) or a single image;
- anything else is a video file (played at its own rate when ``realtime``, optionally looped).

:class:`Capture` yields :class:`CapturedFrame` ``(image, stamp_ns, index)``. A source that cannot
be opened or that fails while reading is retried with exponential backoff (one log line per
attempt) and resumes when it is back; the end of a video file or folder ends the iteration
unless ``loop`` is set. Configuration mistakes (an OpenCV without GStreamer for ``csi://``, a
file OpenCV cannot decode) raise :class:`~.errors.SourceError` at once: retrying cannot help.
"""
from __future__ import annotations

from dataclasses import dataclass
import logging
import math
import os
import re
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Union

import cv2
import numpy as np

from .files import IMAGE_EXTENSIONS, list_images
from ..errors import SourceError

#: Rate of image folders (and of files that do not say theirs) when ``fps`` is 0.
DEFAULT_FPS = 30.0
#: CSI capture size when none is requested (a mode every JetAuto CSI sensor offers).
DEFAULT_CSI_SIZE = (1280, 720)
STREAM_SCHEMES = ('rtsp://', 'rtsps://', 'rtmp://', 'udp://', 'tcp://', 'http://', 'https://')
SOURCE_KINDS = ('v4l2', 'csi', 'stream', 'gstreamer', 'images', 'file')


class SourceUnavailableError(SourceError):
    """The source is absent or failed right now; it may come back (the capture retries)."""


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``source``: its kind (one of :data:`SOURCE_KINDS`) and where it is."""

    kind: str
    #: Device path, URL, pipeline, folder, image or video path.
    location: str
    #: V4L2 device index (``0`` for ``/dev/video0`` given as ``0``) or CSI sensor id.
    index: Optional[int] = None

    def describe(self) -> str:
        """Words for log lines: ``camera /dev/video0``, ``video file 'x.avi'``, ..."""
        if self.kind == 'v4l2':
            return 'camera %s' % self.location
        if self.kind == 'csi':
            return 'CSI camera %d' % (self.index or 0)
        if self.kind == 'stream':
            return 'stream %s' % self.location
        if self.kind == 'gstreamer':
            return 'GStreamer pipeline'
        if self.kind == 'images':
            return "image folder '%s'" % self.location if os.path.isdir(self.location) \
                else "image '%s'" % self.location
        return "video file '%s'" % self.location


def parse_source(source: Union[str, int]) -> SourceSpec:
    """Decide what ``source`` is (see the module docstring); raises SourceError when empty."""
    text = str(source).strip()
    if not text:
        raise SourceError('no source given: set it to a camera (0, /dev/video0, csi://0), a '
                          'stream URL, a video file, an image folder or a GStreamer pipeline')
    if re.fullmatch(r'\d+', text):
        return SourceSpec('v4l2', '/dev/video%d' % int(text), int(text))
    if text.startswith('/dev/'):
        match = re.fullmatch(r'/dev/video(\d+)', text)
        return SourceSpec('v4l2', text, int(match.group(1)) if match else None)
    match = re.fullmatch(r'csi://(\d+)', text)
    if match:
        return SourceSpec('csi', text, int(match.group(1)))
    if text.startswith('csi://'):
        raise SourceError("bad CSI source '%s': use csi://N with N the sensor id (csi://0)"
                          % text)
    if text.lower().startswith(STREAM_SCHEMES):
        return SourceSpec('stream', text)
    if '!' in text:
        if not re.search(r'\bappsink\b[^!]*$', text):
            raise SourceError('the GStreamer pipeline must end in appsink (... ! videoconvert ! '
                              "video/x-raw,format=BGR ! appsink): '%s'" % text)
        return SourceSpec('gstreamer', text)
    if text.startswith('file://'):
        text = text[len('file://'):]
    path = os.path.expanduser(text)
    if os.path.isdir(path) or path.endswith(os.sep) or path.lower().endswith(IMAGE_EXTENSIONS):
        return SourceSpec('images', path)
    return SourceSpec('file', path)


def csi_pipeline(sensor_id: int, width: int, height: int, fps: float,
                 flip_method: int = 0) -> str:
    """Build the Jetson CSI pipeline: Argus capture in NVMM memory, converted to BGR."""
    rate = fps_fraction(fps)
    return ('nvarguscamerasrc sensor-id=%d ! video/x-raw(memory:NVMM), width=(int)%d, '
            'height=(int)%d, framerate=(fraction)%s, format=(string)NV12 ! '
            'nvvidconv flip-method=%d ! video/x-raw, width=(int)%d, height=(int)%d, '
            'format=(string)BGRx ! videoconvert ! video/x-raw, format=(string)BGR ! '
            'appsink drop=true max-buffers=1 sync=false'
            % (sensor_id, width, height, rate, flip_method, width, height))


def fps_fraction(fps: float) -> str:
    """``30`` -> ``30/1``; ``29.97`` -> ``2997/100`` (GStreamer caps want a fraction)."""
    if float(fps).is_integer():
        return '%d/1' % int(fps)
    return '%d/100' % int(round(fps * 100))


def _build_information() -> str:
    try:
        return cv2.getBuildInformation()
    except Exception:  # a stripped OpenCV build: assume nothing
        return ''


def gstreamer_available() -> bool:
    """Whether this OpenCV was built with the GStreamer video backend."""
    return bool(re.search(r'GStreamer:\s*YES', _build_information()))


def _has_backend(api: int) -> bool:
    registry = getattr(cv2, 'videoio_registry', None)
    if registry is None or not hasattr(registry, 'hasBackend'):
        return True
    try:
        return bool(registry.hasBackend(api))
    except cv2.error:
        return False


@dataclass
class CaptureSettings:
    """How to open and pace a source (the camera node fills it from its parameters)."""

    #: Requested frame size; 0 = the source's own (CSI: 1280x720).
    width: int = 0
    height: int = 0
    #: Requested camera rate, and the rate of image folders; 0 = the source's own (folders 30).
    fps: float = 0.0
    #: V4L2 pixel format to request, e.g. ``MJPG`` or ``YUYV``; '' = the driver's default.
    fourcc: str = ''
    #: Play files and folders at their rate (else as fast as the consumer takes them).
    realtime: bool = True
    #: Start a file or folder again at its end.
    loop: bool = False
    #: Retry a source that is absent or fails (else raise SourceUnavailableError).
    retry: bool = True
    #: First retry delay in seconds; it doubles up to ``reconnect_max_delay``.
    reconnect_delay: float = 0.5
    reconnect_max_delay: float = 10.0
    #: nvvidconv flip-method of CSI cameras (0 none, 2 rotate 180, 4 mirror, ...).
    flip_method: int = 0
    #: Seconds a network stream may take to open or to deliver a frame before it counts as lost.
    stream_timeout: float = 10.0

    def validate(self) -> None:
        if self.fourcc and len(self.fourcc) != 4:
            raise SourceError("fourcc '%s' must be 4 characters (MJPG, YUYV, H264) or empty"
                              % self.fourcc)
        if self.width < 0 or self.height < 0 or self.fps < 0:
            raise SourceError('width, height and fps must be >= 0 (0 = the source default)')
        if self.reconnect_delay <= 0 or self.reconnect_max_delay < self.reconnect_delay:
            raise SourceError('reconnect_delay must be > 0 and reconnect_max_delay >= it')


@dataclass
class CapturedFrame:
    """One frame: BGR ``image``, ``stamp_ns`` (capture time, clock of the Capture), ``index``."""

    image: np.ndarray
    stamp_ns: int
    index: int


class FrameReader:
    """An opened source. ``read`` returns the next BGR frame or None (end or failure)."""

    #: Nominal rate (0 = unknown).
    fps: float = 0.0
    #: Whether the Capture paces reads to ``fps`` in real-time mode (files and folders).
    paced: bool = False
    width: int = 0
    height: int = 0
    #: Frames in a file or folder, 0 = unknown / live.
    frame_count: int = 0

    def read(self) -> Optional[np.ndarray]:
        raise NotImplementedError

    def ended(self) -> bool:
        """After ``read`` returned None: True at a normal end (file, folder), False on failure."""
        return False

    def close(self) -> None:
        pass


class VideoCaptureReader(FrameReader):
    """A cv2.VideoCapture (V4L2, GStreamer, FFmpeg)."""

    def __init__(self, capture: Any, spec: SourceSpec, paced: bool = False) -> None:
        self.capture = capture
        self.spec = spec
        self.paced = paced
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if math.isfinite(fps) and 0.0 < fps < 1000.0 else 0.0
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        count = float(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = int(count) if spec.kind == 'file' and math.isfinite(count) \
            and count > 0 else 0

    def read(self) -> Optional[np.ndarray]:
        try:
            ok, image = self.capture.read()
        except cv2.error:
            return None
        return image if ok and image is not None and image.size else None

    def ended(self) -> bool:
        # A video file that is still there has ended; one that vanished has failed.
        return self.spec.kind == 'file' and os.path.isfile(self.spec.location)

    def close(self) -> None:
        self.capture.release()


class ImageFolderReader(FrameReader):
    """Images of a folder in name order (or one image); unreadable files are skipped."""

    paced = True

    def __init__(self, paths: List[str], fps: float, logger: Any) -> None:
        self.paths = paths
        self.fps = fps
        self.frame_count = len(paths)
        self.logger = logger
        self.position = 0
        first = cv2.imread(paths[0], cv2.IMREAD_COLOR)
        if first is not None:
            self.height, self.width = first.shape[:2]
        self._first = first

    def read(self) -> Optional[np.ndarray]:
        while self.position < len(self.paths):
            path = self.paths[self.position]
            image = self._first if self.position == 0 and self._first is not None \
                else cv2.imread(path, cv2.IMREAD_COLOR)
            self.position += 1
            self._first = None
            if image is not None:
                return image
            self.logger.warning("skipping '%s': missing or not an image" % path)
        return None

    def ended(self) -> bool:
        return True


def _open_video_capture(target: Union[str, int], api: int, spec: SourceSpec,
                        params: Optional[List[int]] = None) -> Any:
    try:
        if params:
            capture = cv2.VideoCapture(target, api, params)
        else:
            capture = cv2.VideoCapture(target, api)
    except cv2.error as exc:
        raise SourceUnavailableError('cannot open %s: %s' % (spec.describe(),
                                                             str(exc).strip())) from None
    return capture


def open_source(spec: SourceSpec, settings: CaptureSettings, logger: Any) -> FrameReader:
    """Open ``spec``; SourceUnavailableError when it may come back, SourceError when not."""
    kind = spec.kind
    if kind == 'v4l2':
        return _open_v4l2(spec, settings, logger)
    if kind in ('csi', 'gstreamer'):
        if not gstreamer_available():
            raise SourceError('%s needs OpenCV built with GStreamer, and this one has none (the '
                              'opencv-python wheels never have it): use the system OpenCV '
                              '(JetPack, or apt python3-opencv) for csi:// and pipelines'
                              % spec.describe())
        pipeline = spec.location
        if kind == 'csi':
            width = settings.width or DEFAULT_CSI_SIZE[0]
            height = settings.height or DEFAULT_CSI_SIZE[1]
            pipeline = csi_pipeline(spec.index or 0, width, height, settings.fps or DEFAULT_FPS,
                                    settings.flip_method)
        capture = _open_video_capture(pipeline, cv2.CAP_GSTREAMER, spec)
        if not capture.isOpened():
            hint = (' (is nvargus-daemon running and the camera connected? try `gst-launch-1.0 '
                    'nvarguscamerasrc sensor-id=%d ! fakesink`)' % (spec.index or 0)
                    if kind == 'csi' else ' (test it with gst-launch-1.0, ending in fakesink)')
            raise SourceUnavailableError('cannot open %s%s' % (spec.describe(), hint))
        return VideoCaptureReader(capture, spec)
    if kind == 'stream':
        params: List[int] = []
        timeout_ms = int(settings.stream_timeout * 1000)
        for name in ('CAP_PROP_OPEN_TIMEOUT_MSEC', 'CAP_PROP_READ_TIMEOUT_MSEC'):
            if hasattr(cv2, name):
                params += [getattr(cv2, name), timeout_ms]
        api = cv2.CAP_FFMPEG if _has_backend(cv2.CAP_FFMPEG) else cv2.CAP_ANY
        capture = _open_video_capture(spec.location, api, spec, params)
        if not capture.isOpened():
            raise SourceUnavailableError('cannot open %s (unreachable, wrong URL or credentials, '
                                         'or no stream yet)' % spec.describe())
        return VideoCaptureReader(capture, spec)
    if kind == 'images':
        return _open_images(spec, settings, logger)
    return _open_file(spec)


def _open_v4l2(spec: SourceSpec, settings: CaptureSettings, logger: Any) -> FrameReader:
    if not os.path.exists(spec.location):
        raise SourceUnavailableError('camera %s not found (not connected? `v4l2-ctl '
                                     '--list-devices` lists the cameras)' % spec.location)
    api = cv2.CAP_V4L2 if _has_backend(cv2.CAP_V4L2) else cv2.CAP_ANY
    target: Union[str, int] = spec.index if spec.index is not None else spec.location
    capture = _open_video_capture(target, api, spec)
    if not capture.isOpened():
        raise SourceUnavailableError('cannot open camera %s (busy in another program, or no '
                                     'permission: is the user in the video group?)'
                                     % spec.location)
    if settings.fourcc:
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*settings.fourcc))
    if settings.width:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, settings.width)
    if settings.height:
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.height)
    if settings.fps:
        capture.set(cv2.CAP_PROP_FPS, settings.fps)
    reader = VideoCaptureReader(capture, spec)
    wanted = (settings.width or reader.width, settings.height or reader.height)
    if (reader.width, reader.height) != wanted or (settings.fps and reader.fps
                                                   and abs(reader.fps - settings.fps) > 0.5):
        logger.warning('camera %s gives %dx%d at %.1f fps (asked %dx%d at %.1f fps): it does '
                       'not offer that mode (`v4l2-ctl --list-formats-ext` lists them)'
                       % (spec.location, reader.width, reader.height, reader.fps, wanted[0],
                          wanted[1], settings.fps))
    return reader


def _open_images(spec: SourceSpec, settings: CaptureSettings, logger: Any) -> FrameReader:
    location = spec.location
    if os.path.isdir(location):
        try:
            paths = list_images(location)
        except OSError as exc:
            raise SourceUnavailableError("cannot list image folder '%s': %s"
                                         % (location, exc.strerror)) from None
        if not paths:
            raise SourceUnavailableError("no images (%s) in folder '%s'"
                                         % (', '.join(IMAGE_EXTENSIONS), location))
    elif os.path.isfile(location):
        paths = [location]
    else:
        raise SourceUnavailableError("image folder or image '%s' not found" % location)
    return ImageFolderReader(paths, settings.fps or DEFAULT_FPS, logger)


def _open_file(spec: SourceSpec) -> FrameReader:
    if not os.path.isfile(spec.location):
        raise SourceUnavailableError("video file '%s' not found (or give a camera: 0, "
                                     '/dev/video0, csi://0, a stream URL or an image folder)'
                                     % spec.location)
    api = cv2.CAP_FFMPEG if _has_backend(cv2.CAP_FFMPEG) else cv2.CAP_ANY
    capture = _open_video_capture(spec.location, api, spec)
    if not capture.isOpened():
        capture = _open_video_capture(spec.location, cv2.CAP_ANY, spec)
    if not capture.isOpened():
        raise SourceError("cannot decode video file '%s' (not a video, or a codec this OpenCV "
                          'lacks)' % spec.location)
    return VideoCaptureReader(capture, spec, paced=True)


class Capture:
    """
    Frames of one source with real-time pacing and reconnection.

    ``clock_ns`` gives the capture stamps (wall time by default; the camera node passes its ROS
    clock). ``logger`` needs ``info`` and ``warning`` (a ``logging.Logger`` or an adapter).
    Pacing and back-off read ``monotonic`` (seconds) and sleep through ``wait(seconds)``, which
    returns True when the capture was stopped meanwhile (default: an event that :meth:`stop`
    sets); tests pass a virtual clock to check the schedule without depending on the CPU.
    """

    def __init__(self, source: Union[str, int, SourceSpec],
                 settings: Optional[CaptureSettings] = None, logger: Any = None,
                 clock_ns: Callable[[], int] = time.time_ns,
                 monotonic: Callable[[], float] = time.monotonic,
                 wait: Optional[Callable[[float], bool]] = None) -> None:
        self.spec = source if isinstance(source, SourceSpec) else parse_source(source)
        self.settings = settings or CaptureSettings()
        self.settings.validate()
        self.logger = logger or logging.getLogger(__name__)
        self.clock_ns = clock_ns
        self.reader: Optional[FrameReader] = None
        self.frames_read = 0
        self.reconnects = 0
        self.ended = False
        self._stop = threading.Event()
        self._monotonic = monotonic
        self._wait = wait or self._stop.wait
        self._delay = self.settings.reconnect_delay

    # -- lifecycle -----------------------------------------------------------------------------
    def open_reader(self) -> FrameReader:
        """Open the source now (raises SourceError / SourceUnavailableError)."""
        if self.reader is None:
            self.reader = open_source(self.spec, self.settings, self.logger)
        return self.reader

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def stop(self) -> None:
        """Make :meth:`frames` return soon (from any thread); also interrupts waits."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def fps(self) -> float:
        """The rate frames are paced to (0 = the source's own pace)."""
        reader = self.reader
        if reader is None or not reader.paced:
            return reader.fps if reader is not None else 0.0
        return reader.fps or self.settings.fps or DEFAULT_FPS

    def describe(self) -> str:
        reader = self.reader
        text = self.spec.describe()
        if reader is not None:
            text += ' (%dx%d' % (reader.width, reader.height)
            text += ', %.3g fps' % self.fps if self.fps else ''
            text += ', %d frames)' % reader.frame_count if reader.frame_count else ')'
        return text

    # -- frames ----------------------------------------------------------------------------------
    def frames(self, max_frames: Optional[int] = None) -> Iterator[CapturedFrame]:
        """
        Yield frames until the end (non-looping file/folder), ``max_frames`` or :meth:`stop`.

        With ``settings.retry`` a missing or failing source is retried forever with backoff;
        without it the first failure raises SourceUnavailableError.
        """
        settings = self.settings
        self._delay = settings.reconnect_delay
        failing_since: Optional[float] = None
        anchor = 0.0
        paced_count = 0
        try:
            while not self._stop.is_set():
                if max_frames is not None and self.frames_read >= max_frames:
                    return
                if self.reader is None:
                    try:
                        self.open_reader()
                    except SourceUnavailableError as exc:
                        if not settings.retry:
                            raise
                        failing_since = failing_since or self._monotonic()
                        if not self._back_off(str(exc)):
                            return
                        continue
                    paced_count = 0
                reader = self.reader
                assert reader is not None
                image = reader.read()
                if image is None:
                    self.close()
                    if reader.ended():
                        if settings.loop:
                            self.logger.info('end of %s: starting again' % self.spec.describe())
                            self._reopen_keeping_pace()
                            continue
                        self.logger.info('end of %s after %d frames'
                                         % (self.spec.describe(), self.frames_read))
                        self.ended = True
                        return
                    self.reconnects += 1
                    message = 'lost %s (no frame)' % self.spec.describe()
                    if not settings.retry:
                        raise SourceUnavailableError(message)
                    failing_since = failing_since or self._monotonic()
                    if not self._back_off(message):
                        return
                    continue
                if failing_since is not None:
                    self.logger.info('%s is back after %.1f s'
                                     % (self.describe(), self._monotonic() - failing_since))
                    failing_since = None
                    self._delay = settings.reconnect_delay
                interval = 1.0 / self.fps if settings.realtime and reader.paced and self.fps \
                    else 0.0
                if interval:
                    now = self._monotonic()
                    target = anchor + paced_count * interval
                    if paced_count == 0 or now - target > interval:
                        # First frame, or too late (slow consumer or decoder): start the
                        # schedule here rather than burst to catch up.
                        anchor, paced_count = now, 0
                    elif target > now and self._wait(target - now):
                        return
                    paced_count += 1
                frame = CapturedFrame(image, int(self.clock_ns()), self.frames_read)
                self.frames_read += 1
                yield frame
        finally:
            self.close()

    def _back_off(self, reason: str) -> bool:
        """Log ``reason`` and wait the current delay (doubling it); False when stopped."""
        self.logger.warning('%s; retrying in %.3g s' % (reason, self._delay))
        stopped = self._wait(self._delay)
        self._delay = min(self._delay * 2.0, self.settings.reconnect_max_delay)
        return not stopped

    def _reopen_keeping_pace(self) -> bool:
        """Reopen a looping file or folder at once; False when it failed (frames() retries)."""
        try:
            self.open_reader()
        except SourceUnavailableError:
            if not self.settings.retry:
                raise
            return False
        return True
