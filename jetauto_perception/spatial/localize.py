"""
Objects and keypoints in 3D from a depth image registered to the colour camera.

An object's depth is the *nearest dense depth mode* of its region, not the box's median (which
is background for thin or hollow objects and for people whose box is half background): the valid
depths of the region go into ``bin_size`` bins; the nearest bin holding at least
``dense_fraction`` of the fullest bin starts the search, which climbs to that mode's peak; the
depth is the median of the values within ``bin_size`` of the peak. The region is a person's
torso (shoulders + hips keypoints) when they are known, else the hull of their confident
keypoints, else the box's central part. The object's surface is then the box's pixels whose
depth lies in the connected run of non-empty bins around the mode; its size is that surface's
extent (2nd-98th percentiles, in metres). The centre is the box centre back-projected at the
depth (optical frame: x right, y down, z forward). No valid depth gives no 3D object (never a
NaN); keypoints without depth near their person's get score 0 and position 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .depth import Intrinsics
from ..tracking.byte_tracker import iou_matrix

#: COCO-17 indices of the shoulders and hips: the torso quadrilateral.
TORSO = (5, 6, 12, 11)
#: The torso quadrilateral's keypoint names, in TORSO's order (COCO and MediaPipe pose share them).
TORSO_NAMES = ('left_shoulder', 'right_shoulder', 'right_hip', 'left_hip')


def torso_indices(names: Sequence[str]) -> Optional[Tuple[int, ...]]:
    """Find the shoulders and hips among keypoint ``names`` (TORSO's order); None without."""
    index = {name: k for k, name in enumerate(names)}
    if not all(name in index for name in TORSO_NAMES):
        return None
    return tuple(index[name] for name in TORSO_NAMES)


@dataclass
class LocalizerConfig:
    """How depth is read from a region (defaults measured on the shared RGB-D frames)."""

    bin_size: float = 0.05          # metres per histogram bin
    dense_fraction: float = 0.3     # a mode counts when it holds this share of the fullest bin
    min_pixels: int = 20            # fewer valid depth pixels than this: no depth
    min_valid_fraction: float = 0.02  # ... or fewer than this share of the region's pixels
    box_shrink: float = 0.2         # boxes without keypoints: the central (1 - 2 x this) part
    keypoint_threshold: float = 0.3  # keypoints scoring below are not used nor placed in 3D
    keypoint_window: int = 2        # keypoint depth: median in a (2w+1)^2 window ...
    keypoint_band: float = 0.4      # ... of the values within this many metres of the person
    max_depth: float = 20.0         # depths beyond are ignored (sensor noise)


@dataclass
class Object3D:
    """One detected object in 3D: centre and size in metres in the camera optical frame."""

    label: str
    score: float
    bbox: Tuple[float, float, float, float]
    position: np.ndarray            # (3,) x, y, z
    size: np.ndarray                # (3,) extent along x, y, z
    object_id: str = ''

    def to_json(self) -> Dict[str, Any]:
        return {'label': self.label, 'score': round(float(self.score), 5),
                'bbox': [round(float(v), 2) for v in self.bbox], 'id': self.object_id,
                'position': [round(float(v), 4) for v in self.position],
                'size': [round(float(v), 4) for v in self.size]}


@dataclass
class Keypoints3D:
    """One person's keypoints in 3D: ``points`` (K, 4) x, y, z in metres and score."""

    bbox: Tuple[float, float, float, float]
    score: float
    points: np.ndarray
    object_id: str = ''

    def to_json(self) -> Dict[str, Any]:
        return {'bbox': [round(float(v), 2) for v in self.bbox], 'id': self.object_id,
                'score': round(float(self.score), 5),
                'keypoints': [[round(float(v), 4) for v in p[:3]] + [round(float(p[3]), 5)]
                              for p in self.points]}


@dataclass
class Localized:
    """3D results of one frame, and why objects were left out (for a log line)."""

    objects: List[Object3D] = field(default_factory=list)
    keypoints: List[Keypoints3D] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)


def nearest_dense_mode(values: np.ndarray, config: LocalizerConfig
                       ) -> Optional[Tuple[float, float, float]]:
    """(depth, near, far) of the nearest dense mode of ``values`` (metres), or None."""
    values = values[np.isfinite(values) & (values > 0) & (values <= config.max_depth)]
    if values.size == 0:
        return None
    low = float(values.min())
    bins = max(int(np.ceil((float(values.max()) - low) / config.bin_size)), 1)
    counts = np.bincount(np.minimum(((values - low) / config.bin_size).astype(np.int64),
                                    bins - 1), minlength=bins)
    start = int(np.argmax(counts >= config.dense_fraction * counts.max()))
    peak = start
    while peak + 1 < bins and counts[peak + 1] > counts[peak]:
        peak += 1
    first, last = peak, peak
    while first > 0 and counts[first - 1] > 0:
        first -= 1
    while last + 1 < bins and counts[last + 1] > 0:
        last += 1
    centre = low + (peak + 0.5) * config.bin_size
    near = values[np.abs(values - centre) <= config.bin_size]
    return (float(np.median(near)), low + first * config.bin_size,
            low + (last + 1) * config.bin_size)


def _clip_box(box: Sequence[float], width: int, height: int) -> Tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return (int(np.clip(np.floor(x1), 0, width)), int(np.clip(np.floor(y1), 0, height)),
            int(np.clip(np.ceil(x2), 0, width)), int(np.clip(np.ceil(y2), 0, height)))


def region_mask(shape: Tuple[int, int], box: Sequence[float],
                keypoints: Optional[np.ndarray], config: LocalizerConfig,
                torso: Optional[Sequence[int]] = TORSO) -> np.ndarray:
    """
    Select the pixels whose depth is the object's: torso, keypoint hull or box centre.

    ``torso``: the indices of the shoulders and hips in ``keypoints`` (None: a skeleton without
    a torso, e.g. a hand or a face, whose region is the hull of its confident keypoints).
    """
    height, width = shape
    mask = np.zeros((height, width), np.uint8)
    if keypoints is not None and len(keypoints):
        good = keypoints[:, -1] >= config.keypoint_threshold
        if torso and len(keypoints) > max(torso) and all(good[list(torso)]):
            polygon = np.round(keypoints[list(torso), :2]).astype(np.int32)
            cv2.fillConvexPoly(mask, cv2.convexHull(polygon), 1)
        elif good.sum() >= 3:
            polygon = np.round(keypoints[good, :2]).astype(np.int32)
            cv2.fillConvexPoly(mask, cv2.convexHull(polygon), 1)
        if mask.sum() >= config.min_pixels:
            return mask.astype(bool)
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    dx, dy = (x2 - x1) * config.box_shrink, (y2 - y1) * config.box_shrink
    cx1, cy1, cx2, cy2 = _clip_box((x1 + dx, y1 + dy, x2 - dx, y2 - dy), width, height)
    mask[cy1:max(cy2, cy1 + 1), cx1:max(cx2, cx1 + 1)] = 1
    return mask.astype(bool)


def keypoint_depths(depth: np.ndarray, keypoints: np.ndarray, person_depth: float,
                    config: LocalizerConfig) -> np.ndarray:
    """
    Each keypoint's depth (NaN = none): window median of values near the person's depth.

    The windows of all keypoints are gathered at once by fancy indexing, the parts past the
    image border left out (a loop over keypoints took 9.1 ms for a 478-point face mesh, this
    0.74 ms: benchmarks/keypoint_depth.py).
    """
    height, width = depth.shape
    out = np.full(len(keypoints), np.nan)
    if not len(keypoints):
        return out
    x, y, score = keypoints[:, 0], keypoints[:, 1], keypoints[:, -1]
    used = np.flatnonzero((score >= config.keypoint_threshold)
                          & (x >= 0) & (x < width) & (y >= 0) & (y < height))
    if not used.size:
        return out
    w = config.keypoint_window
    offsets = np.arange(-w, w + 1)
    rows = (y[used].astype(np.int64)[:, None] + offsets)[:, :, None]  # (K, 2w+1, 1)
    cols = (x[used].astype(np.int64)[:, None] + offsets)[:, None, :]  # (K, 1, 2w+1)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    windows = depth[np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]
    near = (inside & np.isfinite(windows)
            & (np.abs(windows - person_depth) <= config.keypoint_band)).reshape(len(used), -1)
    found = near.any(axis=1)
    windows = np.where(near, windows.reshape(len(used), -1), np.nan)[found]
    out[used[found]] = np.nanmedian(windows, axis=1)
    return out


class Localizer:
    """Places detections and keypoints of one colour frame in 3D with its registered depth."""

    def __init__(self, config: Optional[LocalizerConfig] = None) -> None:
        self.config = config or LocalizerConfig()

    def locate(self, depth: np.ndarray, intrinsics: Intrinsics, box: Sequence[float],
               keypoints: Optional[np.ndarray] = None,
               torso: Optional[Sequence[int]] = TORSO
               ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """(position, size) of the object in ``box`` (pixels), or None without valid depth."""
        cfg = self.config
        height, width = depth.shape
        mask = region_mask((height, width), box, keypoints, cfg, torso)
        values = depth[mask]
        valid = values[np.isfinite(values)]
        if valid.size < max(cfg.min_pixels, cfg.min_valid_fraction * values.size):
            return None
        mode = nearest_dense_mode(valid, cfg)
        if mode is None:
            return None
        z, near, far = mode
        x1, y1, x2, y2 = _clip_box(box, width, height)
        patch = depth[y1:y2, x1:x2]
        rows, cols = np.nonzero(np.isfinite(patch) & (patch >= near) & (patch <= far))
        u0, v0 = (float(box[0]) + float(box[2])) / 2, (float(box[1]) + float(box[3])) / 2
        position = intrinsics.back_project(np.array([u0]), np.array([v0]), np.array([z]))[0]
        if rows.size >= cfg.min_pixels:
            surface = patch[rows, cols]
            points = intrinsics.back_project(cols + x1 + 0.5, rows + y1 + 0.5, surface)
            low, high = np.percentile(points, [2, 98], axis=0)
            size = high - low
        else:
            size = np.array([(x2 - x1) / intrinsics.fx * z, (y2 - y1) / intrinsics.fy * z,
                             far - near])
        return position, size

    def localize(self, depth: np.ndarray, intrinsics: Intrinsics,
                 detections: Sequence[Tuple[str, float, Sequence[float], str]],
                 people: Sequence[Tuple[Sequence[float], float, np.ndarray, str]] = (),
                 person_label: str = 'person',
                 torso: Optional[Sequence[int]] = TORSO) -> Localized:
        """
        3D objects and keypoints of one frame.

        ``detections``: (label, score, xyxy box, id) per box; ``people``: (box, score, (K, 3)
        keypoints x y score, id) per keypoint instance (any skeleton: COCO, MediaPipe pose,
        hands, face; ``torso`` = its shoulder and hip indices, see :func:`torso_indices`). A
        person box takes the keypoints of the instance with its id, else of the instance whose
        box overlaps it most.
        """
        result = Localized()
        person_depths: Dict[int, float] = {}
        for label, score, box, object_id in detections:
            keypoints = None
            match = -1
            if label == person_label and len(people):
                match = _match_instance(box, object_id, people)
                keypoints = people[match][2] if match >= 0 else None
            located = self.locate(depth, intrinsics, box, keypoints, torso)
            if located is None:
                result.skipped.append('%s%s at %s: no valid depth in its box, no 3D object' % (
                    label, ' ' + object_id if object_id else '',
                    [int(round(float(v))) for v in box[:4]]))
                continue
            position, size = located
            result.objects.append(Object3D(label, float(score),
                                           tuple(float(v) for v in box[:4]),  # type: ignore
                                           position, size, object_id))
            if match >= 0:
                person_depths[match] = float(position[2])
        for index, (box, score, keypoints, object_id) in enumerate(people):
            keypoints = np.asarray(keypoints, np.float64)
            person_depth = person_depths.get(index)
            if person_depth is None:
                located = self.locate(depth, intrinsics, box, keypoints, torso)
                person_depth = None if located is None else float(located[0][2])
            points = np.zeros((len(keypoints), 4))
            if person_depth is not None:
                z = keypoint_depths(depth, keypoints, person_depth, self.config)
                ok = np.isfinite(z)
                points[ok, :3] = intrinsics.back_project(keypoints[ok, 0], keypoints[ok, 1],
                                                         z[ok])
                points[ok, 3] = keypoints[ok, -1]
            result.keypoints.append(Keypoints3D(tuple(float(v) for v in box[:4]),  # type: ignore
                                                float(score), points, object_id))
        return result


def _match_instance(box: Sequence[float], object_id: str,
                    people: Sequence[Tuple[Sequence[float], float, np.ndarray, str]]) -> int:
    """Index of the keypoint instance of a person box: same id, else the most overlapping."""
    if object_id:
        for index, person in enumerate(people):
            if person[3] == object_id:
                return index
    overlaps = iou_matrix(np.asarray([box[:4]], np.float64),
                          np.asarray([p[0][:4] for p in people], np.float64))[0]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= 0.3 else -1
