"""The /diagnostics figures and verdict of a node's window (jetauto_perception.health)."""
from jetauto_perception.health import assess, ERROR, OK, ThroughputWindow, WARN, WindowStats
from jetauto_perception.timing import StageTimes


class FakeClock:
    """A settable monotonic clock (seconds)."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def times(**ms):
    stage = StageTimes()
    stage.ms.update(ms)
    return stage


def test_window_counts_rates_stage_means_and_latency_percentiles():
    clock = FakeClock()
    window = ThroughputWindow(clock)
    for _ in range(20):
        window.count('received')
    window.count('stale', 5)
    window.count('malformed')
    for latency in range(1, 11):  # 1..10 ms
        window.processed(times(pre=1.0, infer=float(latency)), float(latency))
    clock.now += 2.0
    stats = window.take()
    assert (stats.received, stats.processed, stats.stale, stats.malformed) == (20, 10, 5, 1)
    assert stats.input_hz == 10.0 and stats.processed_hz == 5.0
    assert stats.stage_ms == {'pre': 1.0, 'infer': 5.5}
    assert stats.latency_p50_ms == 5.5
    assert 9.0 < stats.latency_p95_ms < 10.0
    clock.now += 1.0
    empty = window.take()  # a new window starts at each take
    assert (empty.received, empty.processed, empty.seconds) == (0, 0, 1.0)
    assert empty.latency_p50_ms is None


def test_verdicts():
    answered = WindowStats(seconds=1.0, received=20, processed=12, latency_p50_ms=80.0)
    assert assess(answered)[0] == OK
    assert assess(WindowStats(seconds=1.0))[0] == ERROR  # input stopped
    starved = WindowStats(seconds=1.0, received=20, processed=9)
    level, message = assess(starved)
    assert level == WARN and 'answers 9.0 of 20.0 Hz' in message
    # a node capped by max_rate is judged against its cap, not its input
    assert assess(starved, max_rate=10.0)[0] == OK
    assert assess(WindowStats(seconds=1.0, received=20, processed=4), max_rate=10.0)[0] == WARN
    level, message = assess(answered, latency_budget_ms=50.0)
    assert level == WARN and 'latency 80 ms over its 50 ms budget' in message
    assert assess(answered, latency_budget_ms=100.0)[0] == OK
