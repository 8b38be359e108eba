"""
INT8 calibration for TensorRT: calibration images -> batches -> an entropy calibrator.

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
from typing import Any, Callable, Iterator, List, Optional, Sequence, TYPE_CHECKING

import numpy as np

from ..detection.letterbox import as_hw, letterbox_blob, SizeLike
from ..errors import ModelError, SourceError
from ..sources.files import list_images, read_image

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
