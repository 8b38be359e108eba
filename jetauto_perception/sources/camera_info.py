"""
Camera calibration files (the camera_calibration_parsers YAML format) as plain data.

``camera_calibration`` (``ros2 run camera_calibration cameracalibrator``) writes this format;
``camera_info_url`` names it as in camera_info_manager: ``file:///abs/path.yaml``,
``package://pkg/path.yaml`` (resolved by a callable the node passes in, so this module needs no
ROS), a plain path, with ``${NAME}`` (camera name) and ``${ROS_HOME}`` substituted; an empty
url looks for ``${ROS_HOME}/camera_info/${NAME}.yaml`` and falls back to an uncalibrated
:class:`CameraCalibration` (all matrices zero, only the size set: ``K[0] == 0`` is how ROS
tools recognise an uncalibrated camera).
Read here because camera_calibration_parsers and camera_info_manager are C++ only in ROS 2 (no
Python API), and the format is plain YAML.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml

from ..errors import PerceptionError

#: Distortion models and their coefficient counts (sensor_msgs/distortion_models.hpp).
DISTORTION_COEFFICIENTS = {'plumb_bob': 5, 'rational_polynomial': 8, 'equidistant': 4}

PackageResolver = Callable[[str], str]


class CameraInfoError(PerceptionError):
    """A calibration file is missing or malformed."""


@dataclass
class CameraCalibration:
    """The content of a sensor_msgs/CameraInfo without its header (row-major matrices)."""

    width: int
    height: int
    camera_name: str = ''
    distortion_model: str = 'plumb_bob'
    d: List[float] = field(default_factory=list)
    k: List[float] = field(default_factory=lambda: [0.0] * 9)
    r: List[float] = field(default_factory=lambda: [0.0] * 9)
    p: List[float] = field(default_factory=lambda: [0.0] * 12)
    binning_x: int = 0
    binning_y: int = 0

    @property
    def calibrated(self) -> bool:
        """Whether the intrinsics are known (ROS convention: ``K[0] != 0``)."""
        return self.k[0] != 0.0

    @property
    def intrinsics(self) -> Optional[Tuple[float, float, float, float]]:
        """``(fx, fy, cx, cy)`` from K, or None when uncalibrated."""
        if not self.calibrated:
            return None
        return self.k[0], self.k[4], self.k[2], self.k[5]


def uncalibrated(width: int, height: int, camera_name: str = '') -> CameraCalibration:
    """Return what a camera without calibration publishes: its size, every matrix zero."""
    return CameraCalibration(int(width), int(height), camera_name)


def _matrix(data: Dict[str, Any], key: str, rows: int, cols: Optional[int],
            origin: str) -> List[float]:
    entry = data.get(key)
    if not isinstance(entry, dict) or 'data' not in entry:
        raise CameraInfoError("%s: '%s' is missing (expected rows, cols and data)"
                              % (origin, key))
    values = entry['data']
    if not isinstance(values, list):
        raise CameraInfoError("%s: '%s.data' must be a list of numbers" % (origin, key))
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise CameraInfoError("%s: '%s.data' must be a list of numbers" % (origin, key)) \
            from None
    if not all(math.isfinite(v) for v in numbers):
        raise CameraInfoError("%s: '%s.data' has a NaN or an infinity" % (origin, key))
    declared = (entry.get('rows'), entry.get('cols'))
    if declared[0] is not None and declared[1] is not None:
        if int(declared[0]) * int(declared[1]) != len(numbers):
            raise CameraInfoError("%s: '%s' says %sx%s but has %d values"
                                  % (origin, key, declared[0], declared[1], len(numbers)))
    if cols is not None and len(numbers) != rows * cols:
        raise CameraInfoError("%s: '%s' must be %dx%d (%d values), got %d values"
                              % (origin, key, rows, cols, rows * cols, len(numbers)))
    return numbers


def parse_calibration(data: Any, origin: str = 'calibration') -> CameraCalibration:
    """
    Validate a loaded calibration YAML mapping and return it as a CameraCalibration.

    ``origin`` names the file in error messages.
    """
    if not isinstance(data, dict):
        raise CameraInfoError('%s: not a camera calibration (expected a mapping with '
                              'image_width, image_height, camera_matrix, ...)' % origin)
    try:
        width, height = int(data['image_width']), int(data['image_height'])
    except KeyError as exc:
        raise CameraInfoError('%s: %s is missing' % (origin, exc.args[0])) from None
    except (TypeError, ValueError):
        raise CameraInfoError('%s: image_width and image_height must be integers' % origin) \
            from None
    if width <= 0 or height <= 0:
        raise CameraInfoError('%s: image size %dx%d must be positive' % (origin, width, height))
    model = str(data.get('distortion_model') or 'plumb_bob')
    k = _matrix(data, 'camera_matrix', 3, 3, origin)
    d = _matrix(data, 'distortion_coefficients', 1, None, origin) \
        if 'distortion_coefficients' in data else []
    expected = DISTORTION_COEFFICIENTS.get(model)
    if expected is not None and d and len(d) != expected:
        raise CameraInfoError('%s: distortion model %s has %d coefficients, got %d'
                              % (origin, model, expected, len(d)))
    r = _matrix(data, 'rectification_matrix', 3, 3, origin) \
        if 'rectification_matrix' in data else [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    if 'projection_matrix' in data:
        p = _matrix(data, 'projection_matrix', 3, 4, origin)
    else:  # monocular: P = [K | 0]
        p = k[0:3] + [0.0] + k[3:6] + [0.0] + k[6:9] + [0.0]
    if k[0] <= 0 or k[4] <= 0 or k[8] != 1.0:
        raise CameraInfoError('%s: camera_matrix must be [fx 0 cx, 0 fy cy, 0 0 1] with fx, '
                              'fy > 0' % origin)
    return CameraCalibration(width, height, str(data.get('camera_name') or ''), model, d, k, r, p,
                             int(data.get('binning_x') or 0), int(data.get('binning_y') or 0))


def ros_home() -> str:
    return os.environ.get('ROS_HOME') or os.path.join(os.path.expanduser('~'), '.ros')


def resolve_url(url: str, camera_name: str = 'camera',
                package_resolver: Optional[PackageResolver] = None) -> str:
    """Turn a camera_info_url into a file path (see the module docstring)."""
    text = url.replace('${NAME}', camera_name).replace('${ROS_HOME}', ros_home())
    if not text:
        return os.path.join(ros_home(), 'camera_info', camera_name + '.yaml')
    if text.startswith('file://'):
        return text[len('file://'):]
    if text.startswith('package://'):
        package, _, rest = text[len('package://'):].partition('/')
        if package_resolver is None:
            raise CameraInfoError("cannot resolve '%s' without ROS: give a file:// url or a path"
                                  % url)
        try:
            return os.path.join(package_resolver(package), rest)
        except Exception as exc:  # e.g. ament_index PackageNotFoundError
            raise CameraInfoError("cannot resolve '%s': package %s not found (%s)"
                                  % (url, package, exc)) from None
    if '://' in text:
        raise CameraInfoError("unsupported camera_info_url '%s': use file:///path.yaml, "
                              'package://pkg/path.yaml or a path' % url)
    return os.path.expanduser(text)


def load_calibration(path: str) -> CameraCalibration:
    """Read and validate a calibration YAML file (raises CameraInfoError)."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise CameraInfoError("cannot read camera calibration '%s': %s"
                              % (path, exc.strerror or exc)) from None
    except yaml.YAMLError as exc:
        raise CameraInfoError("camera calibration '%s' is not valid YAML: %s"
                              % (path, str(exc).splitlines()[0])) from None
    return parse_calibration(data, path)


def calibration_for(url: str, camera_name: str = 'camera',
                    package_resolver: Optional[PackageResolver] = None
                    ) -> Optional[CameraCalibration]:
    """
    Load the calibration a camera_info_url names (None: empty url and no default file).

    An explicit url that cannot be read is an error (the user asked for that file).
    """
    path = resolve_url(url, camera_name, package_resolver)
    if not url and not os.path.isfile(path):
        return None
    return load_calibration(path)
