"""
Pairing of images with the results computed from them, by header stamp.

The detector, the keypoint and the MediaPipe nodes each publish results with the stamp of the
image they processed, later than the image and not for every image (they drop stale frames).
:class:`ResultSynchronizer` keeps the last images and results in a small stamp-keyed cache and
hands out a :class:`SyncedFrame` (an image with the results of the same stamp) when:

- every *active* result stream (one heard from within ``active_timeout`` seconds) has
  delivered a result for that stamp, or
- the image has waited ``wait`` seconds and has at least one result (a stream skipped it), or
- no result stream is active at all (the image alone).

Frames come out in stamp order: once a stamp is handed out, older entries are dropped and late
arrivals for them ignored. Images no result stream processed are evicted silently when the cache
exceeds ``max_entries`` or ``max_age`` seconds. Plain Python: the visualizer node feeds it
messages (or anything) and a monotonic clock. Not message_filters: its synchronizers emit a set
only when every input has a message for it, with no optional or skipping streams and no
time-out, which is what the visualizer needs (the keypoint node, which needs exactly that
pairing, uses message_filters' ``TimeSynchronizer``).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Hashable, List, Optional

#: Key of the image in an entry (result streams are keyed by their topic names).
IMAGE = '__image__'


@dataclass
class SyncedFrame:
    """An image and the results that share its stamp (stream name -> result)."""

    stamp: int
    image: Any
    results: Dict[str, Any] = field(default_factory=dict)
    #: True when an active stream had no result for this stamp (it was handed out on timeout).
    partial: bool = False


class StampCache:
    """A bounded, stamp-ordered map ``stamp -> {key: value}`` (oldest evicted first)."""

    def __init__(self, max_entries: int = 30) -> None:
        if max_entries < 1:
            raise ValueError('max_entries must be >= 1')
        self.max_entries = max_entries
        self._entries: 'OrderedDict[int, Dict[Hashable, Any]]' = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, stamp: int) -> bool:
        return stamp in self._entries

    def put(self, stamp: int, key: Hashable, value: Any) -> Dict[Hashable, Any]:
        """Store ``value`` under ``(stamp, key)``; returns the entry of that stamp."""
        entry = self._entries.get(stamp)
        if entry is None:
            newest = next(reversed(self._entries.keys()), None)
            entry = self._entries[stamp] = {}
            if newest is not None and stamp < newest:
                # Out-of-order arrival: keep the map sorted by stamp.
                self._entries = OrderedDict(sorted(self._entries.items()))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self.evicted += 1
        entry[key] = value
        return entry

    def get(self, stamp: int) -> Optional[Dict[Hashable, Any]]:
        return self._entries.get(stamp)

    def stamps(self) -> List[int]:
        """Stamps held, oldest first."""
        return list(self._entries.keys())

    def pop(self, stamp: int) -> Optional[Dict[Hashable, Any]]:
        return self._entries.pop(stamp, None)

    def drop_through(self, stamp: int) -> int:
        """Remove every entry with a stamp <= ``stamp``; returns how many."""
        count = 0
        while self._entries and next(iter(self._entries)) <= stamp:
            self._entries.popitem(last=False)
            count += 1
        return count

    def clear(self) -> None:
        self._entries.clear()


class ResultSynchronizer:
    """
    Images + result streams in, :class:`SyncedFrame` out (see the module docstring).

    Stamps are integers (nanoseconds); ``now`` arguments are monotonic seconds.
    """

    def __init__(self, max_entries: int = 30, wait: float = 0.5, active_timeout: float = 2.0,
                 max_age: float = 5.0) -> None:
        self.cache = StampCache(max_entries)
        self.wait = float(wait)
        self.active_timeout = float(active_timeout)
        self.max_age = float(max_age)
        self.last_seen: Dict[str, float] = {}
        self._arrived: Dict[int, float] = {}
        self.last_stamp: Optional[int] = None

    def active_streams(self, now: float) -> List[str]:
        """List the result streams heard from within ``active_timeout`` seconds."""
        return sorted(name for name, seen in self.last_seen.items()
                      if now - seen <= self.active_timeout)

    def add_image(self, stamp: int, image: Any, now: float) -> Optional[SyncedFrame]:
        """Add an image; returns a frame when one is ready (possibly this one)."""
        if self._stale(stamp):
            return None
        self.cache.put(stamp, IMAGE, image)
        self._arrived[stamp] = now
        return self._ready(now)

    def add_result(self, stream: str, stamp: int, result: Any,
                   now: float) -> Optional[SyncedFrame]:
        """Add the result of ``stream`` for ``stamp``; returns a frame when one is ready."""
        if stream == IMAGE:
            raise ValueError('%s is reserved for the image' % IMAGE)
        self.last_seen[stream] = now
        if self._stale(stamp):
            return None
        self.cache.put(stamp, stream, result)
        self._arrived.setdefault(stamp, now)
        return self._ready(now)

    def poll(self, now: float) -> Optional[SyncedFrame]:
        """Hand out a frame whose wait ran out (call this from a timer)."""
        return self._ready(now)

    def clear(self) -> None:
        self.cache.clear()
        self._arrived.clear()
        self.last_stamp = None

    # -- internals -------------------------------------------------------------------------------
    def _stale(self, stamp: int) -> bool:
        if self.last_stamp is None or stamp > self.last_stamp:
            return False
        if self.last_stamp - stamp > int(self.max_age * 1e9):
            # The stamps jumped back (a looping file, a restarted bag or simulation): start over.
            self.clear()
            return False
        return True

    def _ready(self, now: float) -> Optional[SyncedFrame]:
        self._expire(now)
        active = self.active_streams(now)
        ready: Optional[SyncedFrame] = None
        # Newest first: a complete newer frame beats an older one.
        for stamp in reversed(self.cache.stamps()):
            entry = self.cache.get(stamp)
            if entry is None or IMAGE not in entry:
                continue
            results = {k: v for k, v in entry.items() if k != IMAGE}
            missing = [name for name in active if name not in results]
            if not missing:
                ready = SyncedFrame(stamp, entry[IMAGE], results)
                break
            if results and now - self._arrived.get(stamp, now) >= self.wait:
                ready = SyncedFrame(stamp, entry[IMAGE], results, partial=True)
                break
        if ready is not None:
            self.cache.drop_through(ready.stamp)
            self._arrived = {s: t for s, t in self._arrived.items() if s > ready.stamp}
            self.last_stamp = ready.stamp
        return ready

    def _expire(self, now: float) -> None:
        for stamp in self.cache.stamps():
            if now - self._arrived.get(stamp, now) <= self.max_age:
                break
            self.cache.pop(stamp)
            self._arrived.pop(stamp, None)
        for stamp in [s for s in self._arrived if s not in self.cache]:
            del self._arrived[stamp]
