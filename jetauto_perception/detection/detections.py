"""Plain-data detection results shared by the detector, the CLI, the nodes and the visualiser."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One box in source-image pixels."""

    class_id: int
    label: str
    score: float
    bbox: Tuple[float, float, float, float]  # x1, y1, x2, y2

    def to_json(self) -> Dict[str, object]:
        return {'class_id': self.class_id, 'label': self.label, 'score': round(self.score, 5),
                'bbox': [round(float(v), 2) for v in self.bbox]}


@dataclass
class Detections:
    """
    All boxes of one image: ``boxes`` (N, 4) xyxy, ``scores`` (N,), ``class_ids`` (N,).

    ``track_ids`` (N,), when a tracker ran: each box's track id, -1 for a box with none yet.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: Sequence[str] = field(default_factory=list)
    track_ids: Optional[np.ndarray] = None

    @classmethod
    def empty(cls, class_names: Sequence[str] = ()) -> 'Detections':
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                   np.zeros((0,), np.int64), list(class_names))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def label(self, class_id: int) -> str:
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return str(class_id)

    def __iter__(self) -> Iterator[Detection]:
        for box, score, cls in zip(self.boxes, self.scores, self.class_ids):
            yield Detection(int(cls), self.label(int(cls)), float(score),
                            (float(box[0]), float(box[1]), float(box[2]), float(box[3])))

    def select(self, mask: np.ndarray) -> 'Detections':
        return Detections(self.boxes[mask], self.scores[mask], self.class_ids[mask],
                          self.class_names,
                          None if self.track_ids is None else self.track_ids[mask])

    def with_label(self, label: str) -> 'Detections':
        """Keep the boxes of one class, by name (e.g. the people for the keypoint model)."""
        return self.select(np.array([self.label(int(c)) == label for c in self.class_ids],
                                    dtype=bool))
