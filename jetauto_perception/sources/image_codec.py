"""
sensor_msgs/Image buffers <-> numpy BGR images, without cv_bridge or any ROS import.

The node passes the message's fields (data, height, width, step, encoding); everything that can be
wrong with them raises :class:`ImageFormatError` with a message saying what and why.
Not cv_bridge: these packages must import without ROS (CLI, tests on any machine), and a
cv_bridge built against the system OpenCV 4 fails with a pip OpenCV 5 (``KeyError: 16``).
"""
from __future__ import annotations

from typing import Dict, Tuple, Union

import cv2
import numpy as np

from ..errors import ImageFormatError

Buffer = Union[bytes, bytearray, memoryview, np.ndarray]

# encoding -> (bytes per pixel, channels, dtype, conversion to BGR or None)
_ENCODINGS: Dict[str, Tuple[int, int, type, object]] = {
    'bgr8': (3, 3, np.uint8, None),
    '8UC3': (3, 3, np.uint8, None),
    'rgb8': (3, 3, np.uint8, cv2.COLOR_RGB2BGR),
    'bgra8': (4, 4, np.uint8, cv2.COLOR_BGRA2BGR),
    '8UC4': (4, 4, np.uint8, cv2.COLOR_BGRA2BGR),
    'rgba8': (4, 4, np.uint8, cv2.COLOR_RGBA2BGR),
    'mono8': (1, 1, np.uint8, cv2.COLOR_GRAY2BGR),
    '8UC1': (1, 1, np.uint8, cv2.COLOR_GRAY2BGR),
    'mono16': (2, 1, np.uint16, 'mono16'),
    '16UC1': (2, 1, np.uint16, 'mono16'),
    'yuv422': (2, 2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),
    'uyvy': (2, 2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),
    'yuv422_yuy2': (2, 2, np.uint8, cv2.COLOR_YUV2BGR_YUY2),
    'yuyv': (2, 2, np.uint8, cv2.COLOR_YUV2BGR_YUY2),
    'bayer_rggb8': (1, 1, np.uint8, cv2.COLOR_BayerBG2BGR),
    'bayer_bggr8': (1, 1, np.uint8, cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg8': (1, 1, np.uint8, cv2.COLOR_BayerGR2BGR),
    'bayer_grbg8': (1, 1, np.uint8, cv2.COLOR_BayerGB2BGR),
}

SUPPORTED_ENCODINGS = tuple(sorted(_ENCODINGS))


def _pixel_rows(data: Buffer, height: int, width: int, encoding: str, step: int) -> np.ndarray:
    """Check a message's layout; return its ``(height, width x bytes per pixel)`` uint8 rows."""
    if encoding not in _ENCODINGS:
        raise ImageFormatError("unsupported image encoding '%s' (supported: %s)"
                               % (encoding, ', '.join(SUPPORTED_ENCODINGS)))
    if height <= 0 or width <= 0:
        raise ImageFormatError('empty image (%dx%d)' % (width, height))
    bpp = _ENCODINGS[encoding][0]
    if step < width * bpp:
        raise ImageFormatError('step %d is smaller than width %d x %d bytes per pixel (%s)'
                               % (step, width, bpp, encoding))
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) \
        else data.reshape(-1).view(np.uint8)
    if raw.size != step * height:
        raise ImageFormatError('data has %d bytes but step x height = %d x %d = %d'
                               % (raw.size, step, height, step * height))
    return raw.reshape(height, step)[:, :width * bpp]


def decode_mono8(data: Buffer, height: int, width: int, encoding: str, step: int) -> np.ndarray:
    """
    Return a one-channel 8-bit image (a mask) as ``(height, width)`` uint8, without conversion.

    A view of the message's memory (don't modify it in place).
    """
    if encoding not in ('mono8', '8UC1'):
        raise ImageFormatError("expected a mono8 image, got encoding '%s'" % encoding)
    return _pixel_rows(data, height, width, encoding, step)


def decode_image(data: Buffer, height: int, width: int, encoding: str, step: int,
                 is_bigendian: bool = False) -> np.ndarray:
    """
    Return the image as a contiguous ``(height, width, 3)`` uint8 BGR array.

    Zero-copy where the encoding is already bgr8 and rows are packed (the result then shares the
    message's memory: don't modify it in place).
    """
    rows = _pixel_rows(data, height, width, encoding, step)
    _, channels, dtype, conversion = _ENCODINGS[encoding]
    if dtype is np.uint16:
        pixels = rows.copy().view('>u2' if is_bigendian else '<u2').reshape(height, width)
        gray = (pixels >> 8).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if channels == 2:  # packed YUV 4:2:2: two bytes per pixel, as an (H, W, 2) image for cv2
        if width % 2:
            raise ImageFormatError('%s needs an even width, got %d' % (encoding, width))
        image = rows.reshape(height, width, 2)
    elif channels == 1:
        image = rows.reshape(height, width)
    else:
        image = rows.reshape(height, width, channels)
    if conversion is None:
        return np.ascontiguousarray(image)
    return cv2.cvtColor(np.ascontiguousarray(image), conversion)  # type: ignore[call-overload]


def bgr8_pixels(image: np.ndarray) -> np.ndarray:
    """Return a ``(H, W, 3)`` uint8 BGR image as a C-contiguous array (packed bgr8 rows)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageFormatError('expected an (H, W, 3) uint8 image, got %s %s'
                               % (image.shape, image.dtype))
    return np.ascontiguousarray(image)
