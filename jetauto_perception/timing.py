"""Per-stage wall-clock timings (milliseconds) collected by the pipelines."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
import time
from typing import Dict, Iterator


@dataclass
class StageTimes:
    """Milliseconds spent in each named stage of the last call (e.g. pre, infer, post)."""

    ms: Dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1e3

    def reset(self) -> None:
        self.ms.clear()

    @property
    def total(self) -> float:
        return sum(self.ms.values())


class StageStats:
    """Running sums of :class:`StageTimes` for a closing summary (mean ms per stage)."""

    def __init__(self) -> None:
        self.sums: Dict[str, float] = {}
        self.count = 0

    def add(self, times: StageTimes) -> None:
        self.count += 1
        for name, value in times.ms.items():
            self.sums[name] = self.sums.get(name, 0.0) + value

    def means(self) -> Dict[str, float]:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}
