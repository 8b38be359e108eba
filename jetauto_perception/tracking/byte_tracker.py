"""
ByteTrack-style multi-object tracker over detector boxes, timed by the frames' stamps.

Per frame (:meth:`ByteTracker.update`): every track's constant-velocity Kalman filter predicts to
the frame's stamp (the time step is the stamp difference, so a dropped frame or a slower camera
is a longer step, not a wrong one); boxes scoring ``high_threshold`` or more are matched first to
the confirmed and lost tracks (Hungarian assignment on IoU, optionally times the box score), then
the boxes between ``low_threshold`` and ``high_threshold`` continue the confirmed tracks still
unmatched (the ByteTrack idea: an occluded person's weak box keeps their identity), then the
remaining high boxes continue the tentative tracks; a box left over that scores
``new_track_threshold`` or more starts a tentative track, confirmed after ``min_hits``
consecutive frames (at once on the first frame). A track unmatched for more than
``lost_timeout`` seconds is dropped. Ids count up from 1 and are never reused, even after a
reset (a stamp that goes back, e.g. a looping video).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class TrackerConfig:
    """Tracker parameters (defaults measured on TUD-Campus: benchmarks/RESULTS.md)."""

    high_threshold: float = 0.4       # first-stage boxes
    low_threshold: float = 0.2        # second-stage boxes: from here up to high_threshold
    new_track_threshold: float = 0.5  # an unmatched box this good starts a track
    match_iou: float = 0.05           # first and third stage: minimum IoU (x score if fuse_score)
    low_match_iou: float = 0.5        # second stage: minimum IoU
    lost_timeout: float = 1.0         # seconds a lost track waits to be found again
    min_hits: int = 2                 # consecutive matched frames that confirm a new track
    min_box_height: float = 0.0       # boxes lower than this (pixels) are ignored
    fuse_score: bool = True           # first stage: IoU x box score as the match quality
    class_aware: bool = True          # a track only takes boxes of its own class
    frame_period: float = 1.0 / 30.0  # the time step assumed when a stamp repeats or is first
    appearance_weight: float = 0.8    # 0-1: share of appearance similarity in match quality
    appearance_momentum: float = 0.8  # a track's appearance: running mean with this momentum
    appearance_floor: float = 0.7     # similarity counted from here (0) up to 1 (1)


class KalmanBoxFilter:
    """
    Constant-velocity Kalman filter of one box: state (cx, cy, w, h) and their rates per second.

    Noise is proportional to the box height (as in ByteTrack/DeepSORT), given per
    ``reference_period`` seconds and scaled with the real time step.
    """

    position_weight = 1.0 / 20.0
    velocity_weight = 1.0 / 160.0
    reference_period = 1.0 / 30.0

    def __init__(self, box_cxcywh: np.ndarray) -> None:
        self.mean = np.zeros(8)
        self.mean[:4] = box_cxcywh
        h = max(float(box_cxcywh[3]), 1.0)
        std = np.array([2 * self.position_weight * h] * 4
                       + [10 * self.velocity_weight * h / self.reference_period] * 4)
        self.covariance = np.diag(std ** 2)

    def predict(self, dt: float) -> None:
        if dt <= 0:
            return
        transition = np.eye(8)
        transition[:4, 4:] = np.eye(4) * dt
        h = max(float(self.mean[3]), 1.0)
        steps = dt / self.reference_period
        noise = np.array([self.position_weight * h] * 4
                         + [self.velocity_weight * h / self.reference_period] * 4)
        self.mean = transition @ self.mean
        self.covariance = (transition @ self.covariance @ transition.T
                           + np.diag(noise ** 2) * steps)
        self.mean[2:4] = np.maximum(self.mean[2:4], 1.0)

    def update(self, box_cxcywh: np.ndarray) -> None:
        h = max(float(self.mean[3]), 1.0)
        measurement_noise = np.diag(np.full(4, self.position_weight * h) ** 2)
        projected = self.covariance[:4, :4] + measurement_noise
        gain = np.linalg.solve(projected, self.covariance[:4, :]).T
        self.mean = self.mean + gain @ (box_cxcywh - self.mean[:4])
        self.covariance = self.covariance - gain @ projected @ gain.T

    def box(self) -> np.ndarray:
        """Return the filtered box as x1, y1, x2, y2."""
        cx, cy, w, h = self.mean[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class Track:
    """One identity: its Kalman filter, class, state and the last time it was matched."""

    track_id: int
    class_id: int
    score: float
    kalman: KalmanBoxFilter
    last_seen: float
    hits: int = 1
    confirmed: bool = False
    lost: bool = False
    feature: Optional[np.ndarray] = None


def to_cxcywh(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2,
                     box[2] - box[0], box[3] - box[1]], dtype=np.float64)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), xyxy."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a = np.asarray(a, np.float64)[:, None, :]
    b = np.asarray(b, np.float64)[None, :, :]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def assign(quality: np.ndarray, minimum: float) -> List[tuple]:
    """Pairs (row, col) maximising the summed quality, each at least ``minimum``."""
    if quality.size == 0:
        return []
    rows, cols = linear_sum_assignment(-quality)
    return [(r, c) for r, c in zip(rows, cols) if quality[r, c] >= minimum]


class ByteTracker:
    """Assigns track ids to each frame's boxes; one instance per camera stream."""

    def __init__(self, config: Optional[TrackerConfig] = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: List[Track] = []
        self.next_id = 1
        self.last_stamp: Optional[float] = None

    def reset(self) -> None:
        """Forget every track (ids keep counting up: an id is never reused)."""
        self.tracks = []
        self.last_stamp = None

    def _new_track(self, box: np.ndarray, score: float, class_id: int, stamp: float,
                   confirmed: bool, feature: Optional[np.ndarray]) -> Track:
        track = Track(self.next_id, class_id, score, KalmanBoxFilter(to_cxcywh(box)), stamp,
                      confirmed=confirmed, feature=feature)
        self.next_id += 1
        self.tracks.append(track)
        return track

    def _match(self, tracks: Sequence[Track], boxes: np.ndarray, scores: np.ndarray,
               class_ids: np.ndarray, rows: np.ndarray, minimum: float, fuse: bool,
               ids: np.ndarray, stamp: float, features: Optional[np.ndarray]) -> tuple:
        """Match ``tracks`` to boxes ``rows``; update the matched; return the unmatched."""
        if not tracks or not len(rows):
            return list(tracks), rows
        predicted = np.array([t.kalman.box() for t in tracks])
        quality = iou_matrix(predicted, boxes[rows])
        if fuse:
            quality = quality * scores[rows][None, :]
        if self.config.class_aware:
            same = np.array([t.class_id for t in tracks])[:, None] == class_ids[rows][None, :]
            quality = np.where(same, quality, 0.0)
        weight = self.config.appearance_weight
        if weight > 0 and features is not None and all(t.feature is not None for t in tracks):
            similarity = np.array([t.feature for t in tracks]) @ features[rows].T
            floor = self.config.appearance_floor
            similarity = np.clip((similarity - floor) / max(1 - floor, 1e-6), 0, 1)
            quality = quality * ((1 - weight) + weight * similarity)
        matched_tracks, matched_rows = set(), set()
        for t, r in assign(quality, max(minimum, 1e-6)):
            track, row = tracks[t], rows[r]
            track.kalman.update(to_cxcywh(boxes[row]))
            track.score = float(scores[row])
            track.last_seen = stamp
            track.hits = track.hits + 1 if not track.lost else 1
            track.lost = False
            if features is not None and track.feature is not None:
                momentum = self.config.appearance_momentum
                blended = momentum * track.feature + (1 - momentum) * features[row]
                track.feature = blended / max(float(np.linalg.norm(blended)), 1e-9)
            elif features is not None:
                track.feature = features[row]
            if track.hits >= self.config.min_hits:
                track.confirmed = True
            ids[row] = track.track_id
            matched_tracks.add(t)
            matched_rows.add(r)
        return ([tr for i, tr in enumerate(tracks) if i not in matched_tracks],
                np.array([row for i, row in enumerate(rows) if i not in matched_rows], np.int64))

    def update(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
               stamp: float, features: Optional[np.ndarray] = None) -> np.ndarray:
        """
        Track one frame; ``stamp`` in seconds. Returns each box's track id (-1: none yet).

        ``features`` (N, D), unit-norm appearance vectors of the boxes (e.g.
        :func:`.appearance.color_histograms`), join the match when ``appearance_weight`` > 0.

        A box gets an id when it belongs to a confirmed track; boxes below ``low_threshold``
        or ``min_box_height``, and boxes that only start or continue a tentative track, get -1.
        """
        cfg = self.config
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        class_ids = np.asarray(class_ids, np.int64).reshape(-1)
        first = self.last_stamp is None
        if self.last_stamp is not None and stamp < self.last_stamp:
            self.reset()
            first = True
        dt = cfg.frame_period if first else stamp - self.last_stamp
        self.last_stamp = stamp
        self.tracks = [t for t in self.tracks if stamp - t.last_seen <= cfg.lost_timeout]
        for track in self.tracks:
            track.kalman.predict(dt)
        ids = np.full(len(boxes), -1, np.int64)
        heights = boxes[:, 3] - boxes[:, 1]
        usable = (scores >= cfg.low_threshold) & (heights >= cfg.min_box_height)
        high = np.flatnonzero(usable & (scores >= cfg.high_threshold))
        low = np.flatnonzero(usable & (scores < cfg.high_threshold))
        pool = [t for t in self.tracks if t.confirmed]
        tentative = [t for t in self.tracks if not t.confirmed]
        left, high = self._match(pool, boxes, scores, class_ids, high, cfg.match_iou,
                                 cfg.fuse_score, ids, stamp, features)
        active = [t for t in left if not t.lost]
        unmatched, _ = self._match(active, boxes, scores, class_ids, low, cfg.low_match_iou,
                                   False, ids, stamp, features)
        for track in unmatched:
            track.lost = True
        failed, high = self._match(tentative, boxes, scores, class_ids, high, cfg.match_iou,
                                   cfg.fuse_score, ids, stamp, features)
        failed_ids = {t.track_id for t in failed}
        self.tracks = [t for t in self.tracks if t.track_id not in failed_ids]
        for row in high:
            if scores[row] >= cfg.new_track_threshold:
                track = self._new_track(boxes[row], float(scores[row]), int(class_ids[row]),
                                        stamp, first,
                                        None if features is None else features[row])
                if first:
                    ids[row] = track.track_id
        confirmed = {t.track_id for t in self.tracks if t.confirmed}
        ids[~np.isin(ids, list(confirmed))] = -1
        return ids
