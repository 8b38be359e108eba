"""
Spinning nodes until Ctrl-C (or SIGTERM) and ending them in order, with exit code 0.

rclpy's own signal handler shuts the context down at once, while callbacks and worker threads
still publish ("publisher's context is invalid", exit 1, seen when launch stops the graph).
Here SIGINT / SIGTERM only set a flag: the loop stops spinning, every node stops its threads
(``stop_work``: no frame or result moves any more), the executor waits for the callbacks that run,
the nodes are destroyed, and only then does the context go down.
"""
from __future__ import annotations

import signal
import threading
import time
from typing import Callable, List, Optional, Sequence

import rclpy
from rclpy.exceptions import InvalidHandle
from rclpy.executors import (Executor, ExternalShutdownException, MultiThreadedExecutor,
                             SingleThreadedExecutor)
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

#: A MultiThreadedExecutor (Humble) hands callbacks to its thread pool and shutdown() waits only
#: for those that started: this lets the queued ones (light callbacks) run before the nodes go.
QUEUED_CALLBACKS_S = 0.2


def init(args: Optional[List[str]] = None) -> None:
    """``rclpy.init`` without rclpy's signal handlers (see :func:`spin_until_shutdown`)."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)


def spin_until_shutdown(nodes: Sequence[Node], executor: Optional[Executor] = None,
                        done: Callable[[], bool] = lambda: False) -> None:
    """
    Spin ``nodes`` until SIGINT / SIGTERM, ``done()`` or an external shutdown; end them in order.

    Call from the main thread after :func:`init`; shuts rclpy down when it returns.
    """
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    executor = executor or SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok() and not done():
            try:
                executor.spin_once(timeout_sec=0.1)
            except InvalidHandle:
                # an entity destroyed between the executor's wait and its take (the visualizer
                # drops its image subscription when nobody watches): that wake-up had no work
                continue
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in reversed(list(nodes)):  # first no new frames or results anywhere
            stop_work = getattr(node, 'stop_work', None)
            if stop_work is not None:
                stop_work()
        executor.shutdown()  # waits for the callbacks that run
        if isinstance(executor, MultiThreadedExecutor):
            time.sleep(QUEUED_CALLBACKS_S)
        for node in reversed(list(nodes)):
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
