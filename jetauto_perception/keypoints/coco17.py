"""
The COCO-17 human keypoint layout: names, skeleton, left/right flip pairs and OKS sigmas.

What the keypoint pipeline needs to know about the COCO person keypoints; their evaluation
(annotation files, OKS, keypoint AP) is in ``evaluation.keypoint_oks``.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

COCO_KEYPOINT_NAMES: Tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
)

#: Skeleton edges as 0-based keypoint indices (COCO's own list, which is 1-based).
COCO_SKELETON: Tuple[Tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

#: Left/right keypoint pairs that swap when an image is mirrored.
COCO_FLIP_PAIRS: Tuple[Tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)

#: Per-keypoint OKS sigmas of the COCO keypoint challenge.
COCO_OKS_SIGMAS = np.array([
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89,
]) / 10.0


def flip_permutation(num_keypoints: int = 17,
                     pairs: Tuple[Tuple[int, int], ...] = COCO_FLIP_PAIRS) -> np.ndarray:
    """Index array ``p`` such that keypoint ``k`` of a mirrored image is keypoint ``p[k]``."""
    perm = np.arange(num_keypoints)
    for left, right in pairs:
        perm[left], perm[right] = right, left
    return perm
