"""
A node's health over a short window: rates, drops, stage times, latency, and the verdict.

Plain Python (no ROS): the nodes feed a :class:`ThroughputWindow` per frame and
``nodes.diagnostics`` turns :func:`assess` into a /diagnostics status every second.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .timing import StageStats, StageTimes

OK, WARN, ERROR = 'OK', 'WARN', 'ERROR'


@dataclass
class WindowStats:
    """What one window saw: frames in and out, drops, stage means and latency percentiles."""

    seconds: float
    received: int = 0
    processed: int = 0
    stale: int = 0
    malformed: int = 0
    stage_ms: Dict[str, float] = field(default_factory=dict)
    #: stamp -> publish latency percentiles in ms (None without a processed frame)
    latency_p50_ms: Optional[float] = None
    latency_p95_ms: Optional[float] = None

    @property
    def input_hz(self) -> float:
        return self.received / max(self.seconds, 1e-6)

    @property
    def processed_hz(self) -> float:
        return self.processed / max(self.seconds, 1e-6)


class ThroughputWindow:
    """Thread-safe counters of a node since the last :meth:`take` (worker and callbacks)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._reset(clock())

    def _reset(self, now: float) -> None:
        self._since = now
        self._counts = {'received': 0, 'processed': 0, 'stale': 0, 'malformed': 0}
        self._stages = StageStats()
        self._latencies: List[float] = []

    def count(self, what: str, n: int = 1) -> None:
        """Add ``n`` to ``received``, ``stale`` or ``malformed``."""
        with self._lock:
            self._counts[what] += n

    def processed(self, times: StageTimes, latency_ms: float) -> None:
        with self._lock:
            self._counts['processed'] += 1
            self._stages.add(times)
            self._latencies.append(latency_ms)

    def take(self) -> WindowStats:
        """Return the window's figures and start a new window."""
        with self._lock:
            now = self._clock()
            stats = WindowStats(seconds=now - self._since, stage_ms=self._stages.means(),
                                **self._counts)
            if self._latencies:
                p50, p95 = np.percentile(np.asarray(self._latencies), (50, 95))
                stats.latency_p50_ms, stats.latency_p95_ms = float(p50), float(p95)
            self._reset(now)
        return stats


def assess(stats: WindowStats, max_rate: float = 0.0,
           latency_budget_ms: float = 0.0) -> Tuple[str, str]:
    """
    Judge an active node's window: return ``(level, message)``.

    ERROR when no input came; WARN when it answered under half of what it could take (its input
    rate, capped by ``max_rate`` when set) or its median latency exceeds ``latency_budget_ms``
    (0 = no budget); else OK.
    """
    if stats.received == 0:
        return ERROR, 'no input for %.1f s' % stats.seconds
    wanted = min(stats.input_hz, max_rate) if max_rate > 0 else stats.input_hz
    problems = []
    if stats.processed_hz < 0.5 * wanted:
        problems.append('answers %.1f of %.1f Hz' % (stats.processed_hz, wanted))
    if (latency_budget_ms > 0 and stats.latency_p50_ms is not None
            and stats.latency_p50_ms > latency_budget_ms):
        problems.append('latency %.0f ms over its %.0f ms budget'
                        % (stats.latency_p50_ms, latency_budget_ms))
    if problems:
        return WARN, '; '.join(problems)
    return OK, '%.1f Hz in, %.1f Hz out' % (stats.input_hz, stats.processed_hz)
