"""
Appearance of a box for the tracker: hue-saturation histograms of its upper and lower halves.

Cheap (one ``cv2.calcHist`` per half on the box's central part), enough to tell apart two people
whose boxes cross (the identity swaps a motion model alone makes; benchmarks/RESULTS.md).
"""
from __future__ import annotations

import cv2
import numpy as np

#: Hue and saturation bins of each half's histogram.
HUE_BINS, SATURATION_BINS = 8, 4


def color_histograms(image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, D) unit-norm appearance vectors of the xyxy ``boxes`` in a BGR image."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    size = HUE_BINS * SATURATION_BINS
    out = np.zeros((len(boxes), 2 * size), np.float64)
    height, width = image_bgr.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        w, h = x2 - x1, y2 - y1
        left, right = int(max(x1 + 0.2 * w, 0)), int(min(x2 - 0.2 * w, width))
        top, bottom = int(max(y1 + 0.1 * h, 0)), int(min(y2 - 0.1 * h, height))
        if right - left < 2 or bottom - top < 4:
            out[i] = 1.0
            continue
        middle = (top + bottom) // 2
        for half, (a, b) in enumerate(((top, middle), (middle, bottom))):
            hsv = cv2.cvtColor(image_bgr[a:b, left:right], cv2.COLOR_BGR2HSV)
            hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SATURATION_BINS],
                                [0, 180, 0, 256])
            out[i, half * size:(half + 1) * size] = np.sqrt(hist.reshape(-1))
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-9)
