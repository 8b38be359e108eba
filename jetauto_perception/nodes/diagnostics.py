"""
/diagnostics (diagnostic_msgs/DiagnosticArray) of the nodes, through ``diagnostic_updater``.

A node gives :func:`publish_diagnostics` a function returning ``(level, message, values)``
(levels of ``jetauto_perception.health``); the updater calls it once a second (parameter
``diagnostic_updater.period``) and publishes one status named ``<node>: <task>``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticStatus
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor, ParameterType
from rclpy.node import Node

from ..health import ERROR, OK, WARN, WindowStats

LEVELS = {OK: DiagnosticStatus.OK, WARN: DiagnosticStatus.WARN, ERROR: DiagnosticStatus.ERROR}

Report = Tuple[str, str, Dict[str, Any]]


def window_values(stats: WindowStats) -> Dict[str, Any]:
    """Return the key/value pairs of a window (rates in Hz, times in ms)."""
    values: Dict[str, Any] = {
        'input rate (Hz)': '%.2f' % stats.input_hz,
        'processed rate (Hz)': '%.2f' % stats.processed_hz,
        'dropped as stale': stats.stale,
        'malformed': stats.malformed,
    }
    for stage, ms in stats.stage_ms.items():
        values['%s (ms)' % stage] = '%.1f' % ms
    if stats.latency_p50_ms is not None:
        values['stamp to publish p50 (ms)'] = '%.1f' % stats.latency_p50_ms
        values['stamp to publish p95 (ms)'] = '%.1f' % (stats.latency_p95_ms or 0.0)
    return values


def publish_diagnostics(node: Node, task: str, report: Callable[[], Report]) -> Optional[Any]:
    """
    Publish ``report()`` on /diagnostics every second; returns the Updater (None without it).

    Without the ``diagnostic_updater`` package the node logs that once and runs without.
    """
    try:
        import diagnostic_updater
    except ImportError:
        node.get_logger().warning('no /diagnostics: the diagnostic_updater package is not '
                                  'installed (rosdep install --from-paths src)')
        return None

    def run(stat: Any) -> Any:
        level, message, values = report()
        stat.summary(LEVELS[level], message)
        for key, value in values.items():
            stat.add(key, str(value))
        return stat

    updater = diagnostic_updater.Updater(node, period=1.0)
    # (it declares its period without a description: ros2 param describe should explain it)
    node.set_descriptor(updater.period_parameter, ParameterDescriptor(
        type=ParameterType.PARAMETER_DOUBLE,
        description='Seconds between /diagnostics messages (read at start-up)',
        floating_point_range=[FloatingPointRange(from_value=0.1, to_value=60.0, step=0.0)]))
    updater.setHardwareID(node.get_fully_qualified_name())
    updater.add(diagnostic_updater.FunctionDiagnosticTask(task, run))
    return updater
