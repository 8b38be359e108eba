"""
Offline image sources for the CLI and the demo: one image, a folder of images, or a video.

Each yields ``Frame(name, image_bgr, index)``; ``name`` is the file name for images and the frame
index (as a string) for videos. Live cameras and streams are handled by ``sources.capture``.
"""
from __future__ import annotations

from dataclasses import dataclass
import os
from typing import Iterator, List, Optional

import cv2
import numpy as np

from ..errors import SourceError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.avi', '.mp4', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg')


@dataclass
class Frame:
    name: str
    image: np.ndarray
    index: int


def list_images(folder: str) -> List[str]:
    """Image files of ``folder`` (not recursive), sorted by name."""
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.lower().endswith(IMAGE_EXTENSIONS))


def read_image(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError("cannot read image '%s' (missing or not an image)" % path)
    return image


def is_video(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTENSIONS)


def iterate_frames(source: str, max_frames: Optional[int] = None) -> Iterator[Frame]:
    """Frames of an image file, an image folder or a video file, in order."""
    count = 0
    if os.path.isdir(source):
        paths = list_images(source)
        if not paths:
            raise SourceError("no images (%s) in folder '%s'"
                              % (', '.join(IMAGE_EXTENSIONS), source))
        for index, path in enumerate(paths):
            if max_frames is not None and count >= max_frames:
                return
            yield Frame(os.path.basename(path), read_image(path), index)
            count += 1
        return
    if not os.path.exists(source):
        raise SourceError("source not found: '%s' (give an image, a folder of images or a video)"
                          % source)
    if not is_video(source):
        yield Frame(os.path.basename(source), read_image(source), 0)
        return
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise SourceError("cannot open video '%s'" % source)
    try:
        index = 0
        while max_frames is None or index < max_frames:
            ok, image = capture.read()
            if not ok:
                break
            yield Frame(str(index), image, index)
            index += 1
    finally:
        capture.release()
