"""
MOTChallenge text files: ``frame,id,x,y,w,h,score,-1,-1,-1`` (frames from 1, x, y = top-left).

Ground-truth files (``gt/gt.txt``) have the same first six columns, then conf, class and
visibility; :func:`read_mot` keeps the first seven.
"""
from __future__ import annotations

from typing import Dict, IO, List, Tuple

import numpy as np

#: One frame's rows: ids (N,), boxes (N, 4) x, y, w, h, scores (N,).
FrameRows = Tuple[np.ndarray, np.ndarray, np.ndarray]


def format_rows(frame: int, ids: np.ndarray, boxes_xyxy: np.ndarray,
                scores: np.ndarray) -> List[str]:
    """Format the MOTChallenge lines of one frame (boxes given as x1, y1, x2, y2)."""
    lines = []
    for track_id, box, score in zip(ids, boxes_xyxy, scores):
        x1, y1, x2, y2 = (float(v) for v in box)
        lines.append('%d,%d,%.2f,%.2f,%.2f,%.2f,%.4f,-1,-1,-1'
                     % (frame, int(track_id), x1, y1, x2 - x1, y2 - y1, float(score)))
    return lines


def write_mot(out: IO[str], frame: int, ids: np.ndarray, boxes_xyxy: np.ndarray,
              scores: np.ndarray) -> None:
    for line in format_rows(frame, ids, boxes_xyxy, scores):
        out.write(line + '\n')


def read_mot(path: str) -> Dict[int, FrameRows]:
    """Frame number -> (ids, x y w h boxes, scores) of a MOTChallenge result or gt file."""
    rows: Dict[int, list] = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(',')
            if len(parts) < 6:
                continue
            frame, track_id = int(float(parts[0])), int(float(parts[1]))
            box = [float(v) for v in parts[2:6]]
            score = float(parts[6]) if len(parts) > 6 else 1.0
            rows.setdefault(frame, []).append((track_id, box, score))
    return {frame: (np.array([r[0] for r in items], np.int64),
                    np.array([r[1] for r in items], np.float64).reshape(-1, 4),
                    np.array([r[2] for r in items], np.float64))
            for frame, items in rows.items()}
