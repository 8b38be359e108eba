"""Exceptions of the ROS-free packages: one-line messages that name the problem and the fix."""
from __future__ import annotations


class PerceptionError(Exception):
    """Base class: the CLI prints ``error: <message>`` and the nodes log it, with no traceback."""


class ModelError(PerceptionError):
    """A model file is missing, corrupt or unusable."""


class BackendUnavailableError(PerceptionError):
    """The requested inference backend (or CUDA device) is not installed on this machine."""


class ImageFormatError(PerceptionError):
    """An image buffer cannot be interpreted (unknown encoding, wrong size, empty)."""


class SourceError(PerceptionError):
    """An image source (file, folder, camera, stream) cannot be opened or read."""
