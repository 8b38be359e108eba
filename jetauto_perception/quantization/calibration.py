"""
Calibration data: images and videos through the nodes' pre-processing, and TensorRT's calibrator.

:func:`calibration_frames` reads folders, images and videos (frames spread over the video);
:func:`letterboxed` and :func:`person_crops` turn frames into the detector's and the heatmap
model's inputs, for ``jetauto-perception quantize`` (explicit Q/DQ quantization).

The rest serves TensorRT's implicit INT8 calibration (TensorRT < 10.1 only, on request):

:class:`CalibrationBatches` (no TensorRT needed) turns a list of images into float32
``(B, 3, H, W)`` batches with exactly the detector's pre-processing (:func:`letterbox_blob`), so
the INT8 ranges are measured on the data the engine will see. :func:`create_entropy_calibrator`
wraps it in a ``trt.IInt8EntropyCalibrator2`` that uploads each batch with pycuda and reads /
writes a calibration cache: with a cache from an earlier build, TensorRT skips calibration and
no images are needed.
"""
from __future__ import annotations

import logging
import os
from typing import (Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple,
                    TYPE_CHECKING)

import cv2
import numpy as np

from ..detection.letterbox import as_hw, letterbox_blob, SizeLike
from ..errors import ModelError, SourceError
from ..keypoints.crop import boxes_to_crops, crop_persons, frame_box
from ..sources.files import is_video, list_images, read_image

if TYPE_CHECKING:
    import tensorrt as trt

LOG = logging.getLogger(__name__)

#: ``callback(batches_done, batches_total)`` after each calibration batch.
CalibrationProgress = Callable[[int, int], None]


def calibration_images(folder: str, max_images: int = 0) -> List[str]:
    """Image files of ``folder`` in name order (the first ``max_images`` when > 0)."""
    if not folder or not os.path.isdir(folder):
        raise SourceError("calibration image folder not found: '%s' (give --calib-images a "
                          'folder of a few hundred images like the robot will see)' % folder)
    paths = list_images(folder)
    if not paths:
        raise SourceError("no images in calibration folder '%s'" % folder)
    return paths[:max_images] if max_images > 0 else paths


class CalibrationBatches:
    """
    Images -> float32 ``(batch_size, 3, H, W)`` RGB /255 letterboxed batches, in order.

    TensorRT needs every batch full, so a last partial batch is left out (with a log line).
    Unreadable images are skipped with a warning; the next image fills their place.
    """

    def __init__(self, image_paths: Sequence[str], batch_size: int = 1,
                 input_size: SizeLike = 640) -> None:
        if batch_size < 1:
            raise ValueError('calibration batch size must be at least 1, not %d' % batch_size)
        self.image_paths = list(image_paths)
        self.batch_size = int(batch_size)
        self.input_hw = as_hw(input_size)
        if len(self.image_paths) < self.batch_size:
            raise SourceError('%d calibration images cannot fill one batch of %d: give more '
                              'images' % (len(self.image_paths), self.batch_size))
        self.skipped: List[str] = []

    @property
    def shape(self) -> tuple:
        return (self.batch_size, 3) + tuple(self.input_hw)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * 4

    def __len__(self) -> int:
        """Full batches the images give (before any unreadable image is found)."""
        return len(self.image_paths) // self.batch_size

    def __iter__(self) -> Iterator[np.ndarray]:
        batch = np.empty(self.shape, np.float32)
        filled = 0
        for path in self.image_paths:
            try:
                image = read_image(path)
            except SourceError as exc:
                LOG.warning('skipping calibration image: %s', exc)
                self.skipped.append(path)
                continue
            letterbox_blob(image, self.input_hw, out=batch[filled:filled + 1])
            filled += 1
            if filled == self.batch_size:
                yield batch
                batch = np.empty(self.shape, np.float32)
                filled = 0
        if filled:
            LOG.info('calibration: leaving out the last %d image(s), short of a batch of %d',
                     filled, self.batch_size)


def read_cache(path: str) -> Optional[bytes]:
    """Read the calibration cache at ``path``; None when there is none (or it is empty)."""
    if path and os.path.isfile(path):
        with open(path, 'rb') as f:
            data = f.read()
        if data:
            return data
    return None


def write_cache(path: str, data: bytes) -> None:
    """Write a calibration cache atomically (a crash never leaves half a cache)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = '%s.tmp%d' % (path, os.getpid())
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def create_entropy_calibrator(batches: Optional[CalibrationBatches], cache_path: str,
                              progress: Optional[CalibrationProgress] = None
                              ) -> 'trt.IInt8EntropyCalibrator2':
    """
    Make a ``trt.IInt8EntropyCalibrator2`` over ``batches``, its cache at ``cache_path``.

    ``batches`` may be None only when the cache exists (TensorRT then reads the cache and asks
    for no batch). Call it, and build, with a CUDA context active (``CudaContext.active()``).
    """
    if batches is None and read_cache(cache_path) is None:
        raise ModelError('INT8 needs calibration images or an existing calibration cache: '
                         "give --calib-images DIR (cache '%s' does not exist yet)" % cache_path)
    return _calibrator_class()(batches, cache_path, progress)


_CALIBRATOR_CLASS: Any = None


def _calibrator_class() -> Any:
    """Define the calibrator class on first use, so this module imports without TensorRT."""
    global _CALIBRATOR_CLASS
    if _CALIBRATOR_CLASS is not None:
        return _CALIBRATOR_CLASS
    import pycuda.driver as cuda
    import tensorrt as trt

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """Feeds :class:`CalibrationBatches` to TensorRT's entropy calibration (version 2)."""

        def __init__(self, batches: Optional[CalibrationBatches], cache_path: str,
                     progress: Optional[CalibrationProgress]) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = batches
            self.cache_path = cache_path
            self.progress = progress
            self.batches_done = 0
            self._iterator: Optional[Iterator[np.ndarray]] = None
            self._device: Any = None
            self._batch_size = batches.batch_size if batches is not None else 1

        def get_batch_size(self) -> int:
            return self._batch_size

        def get_batch(self, names: List[str]) -> List[int]:
            if self.batches is None:
                return []
            if self._iterator is None:
                self._iterator = iter(self.batches)
                self._device = cuda.mem_alloc(self.batches.nbytes)
            try:
                batch = next(self._iterator)
            except StopIteration:
                self.free()
                return []  # no more data: TensorRT computes the scales
            cuda.memcpy_htod(self._device, np.ascontiguousarray(batch))
            self.batches_done += 1
            if self.progress is not None:
                self.progress(self.batches_done, len(self.batches))
            return [int(self._device)]  # the detector's one input (build-engine checks)

        # TensorRT takes None for "no cache" although the stubs say Buffer.
        def read_calibration_cache(self) -> Optional[bytes]:  # type: ignore[override]
            data = read_cache(self.cache_path)
            if data is not None:
                LOG.info('using calibration cache %s (delete it to calibrate again)',
                         self.cache_path)
            return data

        def write_calibration_cache(self, cache: Any) -> None:
            if self.cache_path:
                write_cache(self.cache_path, bytes(cache))
                LOG.info('wrote calibration cache %s', self.cache_path)

        def free(self) -> None:
            """Release the device batch buffer (with the context active)."""
            if self._device is not None:
                self._device.free()
                self._device = None

    _CALIBRATOR_CLASS = EntropyCalibrator
    return _CALIBRATOR_CLASS


def calibration_frames(sources: Sequence[str], max_frames: int = 0) -> Iterator[np.ndarray]:
    """
    BGR frames of image folders, image files and videos, for calibration.

    ``max_frames`` (0 = all) is shared out evenly between the sources (what one cannot use goes
    to the others); a video gives frames spread evenly over its whole length, not its first
    seconds, and a folder its images in name order.
    """
    entries: List[Tuple[str, str, List[str], int]] = []
    for source in sources:
        if os.path.isdir(source):
            paths = list_images(source)
            if not paths:
                raise SourceError("no images in calibration folder '%s'" % source)
            entries.append(('images', source, paths, len(paths)))
        elif is_video(source):
            count = _video_length(source)
            entries.append(('video', source, [], count))
        elif os.path.isfile(source):
            entries.append(('images', source, [source], 1))
        else:
            raise SourceError("calibration source not found: '%s' (give a folder of images, an "
                              'image or a video)' % source)
    shares = _shares([entry[3] for entry in entries], max_frames)
    for (kind, source, paths, _), share in zip(entries, shares):
        if kind == 'images':
            for path in paths[:share]:
                try:
                    yield read_image(path)
                except SourceError as exc:
                    LOG.warning('skipping calibration image: %s', exc)
        else:
            yield from _video_frames(source, share)


def _shares(available: Sequence[int], total: int) -> List[int]:
    """Split ``total`` between sources holding ``available`` items, as evenly as they allow."""
    if total <= 0:
        return list(available)
    shares = [0] * len(available)
    left = total
    open_ = [i for i, n in enumerate(available) if n > 0]
    while left > 0 and open_:
        each = max(left // len(open_), 1)
        for i in list(open_):
            take = min(each, available[i] - shares[i], left)
            shares[i] += take
            left -= take
            if shares[i] >= available[i]:
                open_.remove(i)
            if left == 0:
                break
    return shares


def _video_length(path: str) -> int:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise SourceError("cannot open calibration video '%s'" % path)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return max(count, 0)


def _video_frames(path: str, count: int) -> Iterator[np.ndarray]:
    """``count`` frames spread evenly over the video (decoded in order, no seeking)."""
    total = _video_length(path)
    if count <= 0 or total <= 0:
        return
    wanted = set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())
    capture = cv2.VideoCapture(path)
    try:
        index = 0
        while wanted and index <= max(wanted):
            ok = capture.grab()
            if not ok:
                break
            if index in wanted:
                ok, frame = capture.retrieve()
                if ok:
                    yield frame
                wanted.discard(index)
            index += 1
    finally:
        capture.release()


def person_crops(frames: Iterable[np.ndarray], input_hw: Tuple[int, int],
                 boxes_of: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                 max_per_frame: int = 4) -> Iterator[np.ndarray]:
    """
    ``(1, 3, H, W)`` normalised person crops, the heatmap model's input (``keypoints.crop``).

    ``boxes_of(frame)`` gives person boxes (xyxy, source pixels; e.g. the YOLOv5 detector's); a
    frame without any (or no ``boxes_of``) gives its whole frame as one box, as the node does
    with ``use_detections: false``.
    """
    for frame in frames:
        boxes = boxes_of(frame) if boxes_of is not None else np.zeros((0, 4), np.float32)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)[:max_per_frame]
        if boxes.shape[0] == 0:
            boxes = frame_box(frame.shape[1], frame.shape[0])
        batch = crop_persons(frame, boxes_to_crops(boxes, input_hw))
        for index in range(batch.shape[0]):
            yield batch[index:index + 1]


def letterboxed(frames: Iterable[np.ndarray], input_hw: Tuple[int, int]) -> Iterator[np.ndarray]:
    """``(1, 3, H, W)`` letterboxed RGB /255 blobs, the YOLOv5 detector's input."""
    for frame in frames:
        yield letterbox_blob(frame, input_hw)[0]
