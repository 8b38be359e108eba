"""Depth images registered to the colour camera: decoding to metres, and the checks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..errors import PerceptionError

#: Depth encodings understood (sensor_msgs/Image ``encoding``), with their scale to metres.
DEPTH_SCALES = {'16UC1': 0.001, 'mono16': 0.001, '32FC1': 1.0}


class DepthFormatError(PerceptionError):
    """A depth image that cannot be used: wrong encoding, size or data length."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the (colour) camera the depth is registered to, in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_k(cls, k, width: int, height: int) -> 'Intrinsics':
        """From a row-major 3x3 camera matrix (CameraInfo ``k``); raises on an uncalibrated one."""
        k = [float(v) for v in k]
        if len(k) != 9 or k[0] <= 0 or k[4] <= 0:
            raise DepthFormatError('the camera info is uncalibrated (K[0] or K[4] is 0): no 3D '
                                   'without focal lengths')
        return cls(k[0], k[4], k[2], k[5], int(width), int(height))

    def back_project(self, u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Pixels (u, v) at depth z -> (N, 3) points (x right, y down, z forward), metres."""
        z = np.asarray(z, np.float64)
        return np.stack([(np.asarray(u, np.float64) - self.cx) / self.fx * z,
                         (np.asarray(v, np.float64) - self.cy) / self.fy * z, z], axis=-1)


def depth_to_meters(data: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a depth array in ``encoding`` to float32 metres, NaN where there is no depth."""
    if encoding not in DEPTH_SCALES:
        raise DepthFormatError("depth encoding '%s' is not supported: use 16UC1 (millimetres) or "
                               '32FC1 (metres)' % encoding)
    depth = np.asarray(data).astype(np.float32) * DEPTH_SCALES[encoding]
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth


def decode_depth(data: bytes, height: int, width: int, encoding: str, step: int,
                 big_endian: bool = False) -> np.ndarray:
    """sensor_msgs/Image fields of a depth image -> (H, W) float32 metres (NaN = no depth)."""
    if encoding not in DEPTH_SCALES:
        depth_to_meters(np.zeros(0), encoding)  # raises the clear error
    dtype = np.dtype(np.uint16 if encoding in ('16UC1', 'mono16') else np.float32)
    dtype = dtype.newbyteorder('>' if big_endian else '<')
    row = width * dtype.itemsize
    if height <= 0 or width <= 0 or step < row or len(data) < step * height:
        raise DepthFormatError('depth image data is %d bytes for %dx%d %s with step %d'
                               % (len(data), width, height, encoding, step))
    rows = np.frombuffer(data, np.uint8, count=step * height).reshape(height, step)
    array = rows[:, :row].copy().view(dtype).reshape(height, width)
    return depth_to_meters(array, encoding)


def check_same_size(depth_hw: Tuple[int, int], color_hw: Tuple[int, int],
                    intrinsics: Optional[Intrinsics] = None) -> None:
    """Raise a clear error when depth, colour (and camera info) sizes differ."""
    if tuple(depth_hw) != tuple(color_hw):
        raise DepthFormatError('depth image is %dx%d but the colour image is %dx%d: the depth '
                               "must be registered to the colour camera (e.g. the driver's "
                               'depth_registration / aligned depth topic)'
                               % (depth_hw[1], depth_hw[0], color_hw[1], color_hw[0]))
    if intrinsics is not None and (intrinsics.height, intrinsics.width) != tuple(depth_hw):
        raise DepthFormatError('camera info is for %dx%d but the images are %dx%d'
                               % (intrinsics.width, intrinsics.height, depth_hw[1], depth_hw[0]))
