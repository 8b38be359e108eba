"""
Shared plumbing of the "image in, Detection2DArray out" nodes.

The subscription callback only stores the newest message; a worker thread converts and processes
it. A frame that arrives while the worker is busy replaces the one waiting, so the node always
works on the newest frame and never builds a queue (stale frames are counted and dropped).
The model nodes are managed (lifecycle) nodes with a ``~/enable`` service and /diagnostics.
"""
from __future__ import annotations

import dataclasses
import gc
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Type, Union

import numpy as np
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool
from vision_msgs.msg import Detection2DArray, LabelInfo

from .conversions import bgr_to_image, image_to_bgr, stamp_ns
from .diagnostics import publish_diagnostics, Report, window_values
from .frames import Frame
from .runtime import init, spin_until_shutdown
from ..engines.base import engine_config, engine_options, EngineConfig
from ..errors import ImageFormatError, PerceptionError
from ..health import assess, OK, ThroughputWindow
from ..timing import StageTimes

#: Transient-local, depth 1: a subscriber that joins late still gets the last LabelInfo.
LATCHED_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         reliability=ReliabilityPolicy.RELIABLE)
#: Sensor-data QoS (best effort, volatile) with a depth of 1: only the newest frame matters.
IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                       durability=qos_profile_sensor_data.durability,
                       reliability=qos_profile_sensor_data.reliability)
ERROR_THROTTLE_S = 5.0
#: How long stopping waits for the frame the worker is on.
WORKER_STOP_S = 10.0
#: Set by the perception container: its nodes share one process (see :func:`lower_priority`).
SHARED_PROCESS = False
#: What the worker takes: a received message or an in-process frame.
ImageLike = Union[Image, Frame]


class StartupError(Exception):
    """The node cannot start; the message is one line naming the fix."""


class PerceptionNode(Node):
    """
    A node whose parameters are declared with a description, a range or choices.

    A wrong parameter value or type becomes a one-line :class:`StartupError`.
    """

    def declare(self, name: str, default: Any, description: str,
                min_value: Optional[float] = None, max_value: Optional[float] = None,
                choices: Optional[Sequence[str]] = None, read_only: bool = False) -> Any:
        """Declare a parameter with a description (and range / choices) and return its value."""
        descriptor = ParameterDescriptor(description=description, read_only=read_only)
        if choices:
            descriptor.additional_constraints = 'one of: ' + ', '.join(choices)
        if min_value is not None and max_value is not None:
            if isinstance(default, bool):
                pass
            elif isinstance(default, int):
                descriptor.integer_range = [IntegerRange(
                    from_value=int(min_value), to_value=int(max_value), step=1)]
            elif isinstance(default, float):
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(min_value), to_value=float(max_value), step=0.0)]
        if self.has_parameter(name):  # declared at an earlier configure (lifecycle)
            return self.get_parameter(name).value
        try:
            value = self.declare_parameter(name, default, descriptor).value
        except ParameterException as exc:  # wrong type or out of range
            raise StartupError('%s (fix it in the params file or the -p argument)'
                               % exc) from None
        if choices and value not in choices:
            raise StartupError("parameter %s is '%s': use one of %s"
                               % (name, value, ', '.join(choices)))
        return value

    def declare_niceness(self, default: int = 0) -> int:
        """Declare ``nice`` (the scheduling priority of the node's work) and return it."""
        return int(self.declare(
            'nice', default, 'Scheduling niceness of the node (0 = normal, up to 19 = yields '
            'the cores to the others; Linux): lets /detections keep its rate when the cores are '
            'shared by many models', 0, 19, read_only=True))


def process_threads() -> Set[int]:
    """Return the thread ids of this process (Linux; empty elsewhere)."""
    if not os.path.isdir('/proc/self/task'):
        return set()
    return {int(tid) for tid in os.listdir('/proc/self/task')}


def lower_priority(niceness: int, threads: Iterable[int]) -> None:
    """
    Lower the scheduling priority (raise the niceness) of ``threads`` of this process.

    Linux keeps a niceness per thread and new threads inherit their creator's. A node that is a
    process of its own renices all its threads before it loads its model, so the inference
    threads ONNX Runtime and MediaPipe create inherit it; inside the perception container
    (:data:`SHARED_PROCESS`) a model node renices its worker thread and the threads its model
    created at configure, never the container's other threads.
    """
    if niceness <= 0 or not hasattr(os, 'setpriority'):
        return
    for thread in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, thread, niceness)
        except OSError:  # the thread ended meanwhile, or no permission: keep running
            pass


class EngineParameters(PerceptionNode):
    """The inference-backend parameters of the model nodes."""

    def declare_engine_parameters(self, default_model: str) -> EngineConfig:
        """Declare the inference-backend parameters every model node shares."""
        self.model_path = self.declare(
            'model_path', default_model,
            'Model file (.onnx, or a TensorRT .engine) or a name from the models manifest',
            read_only=True)
        values = {option.field: self.declare(
            option.param, option.default, option.description, option.min_value,
            option.max_value, choices=option.choices or None, read_only=True)
            for option in engine_options('node')}
        return engine_config(values)


class ImageInferenceNode(LifecycleNode, EngineParameters):
    """
    Base of the image-in, Detection2DArray-out nodes: managed (lifecycle) nodes.

    configure declares the parameters and loads the model (:meth:`setup`) and creates the
    publishers; activate subscribes to the images and starts the worker; deactivate stops both;
    cleanup frees the model (the attributes :meth:`setup` made, closing those that have a
    ``close``). With ``autostart`` (the default) the node configures and activates itself.
    ``~/enable`` (std_srvs/SetBool) activates or deactivates it for tools without lifecycle.

    Subclasses implement :meth:`setup`, :meth:`infer`, :meth:`to_message`, :meth:`label_info`
    and :meth:`draw`; the base does topics, threading and error handling. With
    ``in_process=True`` (the perception container) the node has no image subscription: the
    container hands it :class:`Frame` objects through :meth:`on_image`.
    """

    #: Parameters a subclass accepts changes of at run time (see :meth:`apply_parameter`).
    live_parameters: Sequence[str] = ()
    #: The output message type; a Detection2DArray output also gets a latched LabelInfo.
    output_type: Any = Detection2DArray

    def __init__(self, node_name: str, output_topic: str, image_topic: str = 'camera/image_raw',
                 in_process: bool = False, **node_kwargs: Any) -> None:
        LifecycleNode.__init__(self, node_name, **node_kwargs)
        self.output_topic, self.in_process = output_topic, in_process
        self.image_topic = self.resolve_topic_name(image_topic)
        self._lock = threading.Lock()
        self._pending: Optional[ImageLike] = None
        self._wake = threading.Event()
        self._running = False
        self._worker: Optional[threading.Thread] = None
        self.subscription: Any = None
        self.publisher: Any = None
        self.state = 'unconfigured'
        self._failure = ''
        self._model_attributes: List[str] = []
        self._configured_entities: List[Any] = []
        #: in-process listeners of the results: ``listener(frame, message)`` after each publish
        self.result_listeners: List[Callable[[Any, Any], None]] = []
        self.timings = StageTimes()
        #: counts and stage times per diagnostics period, and per statistics log line
        self.health = ThroughputWindow()
        self._log_window = ThroughputWindow()
        self._next_start = 0.0
        self.stats_period = self.declare(
            'stats_period', 10.0, 'Seconds between the statistics log lines (0 = never)',
            min_value=0.0, max_value=3600.0)
        self.max_rate = self.declare(
            'max_rate', 0.0, 'Process at most this many frames per second, skipping the others '
            '(0 = as many as the model can): leaves the cores to the other models', 0.0, 1000.0)
        self.latency_budget = self.declare(
            'latency_budget', 0.0, 'Seconds from image stamp to publish above which '
            '/diagnostics warns (0 = no budget)', 0.0, 60.0)
        autostart = self.declare('autostart', True, 'Configure and activate at start-up '
                                 '(false: wait for the lifecycle transitions)', read_only=True)
        self.niceness = self.declare_niceness()
        if not in_process:  # before the model exists: its inference threads inherit it
            lower_priority(self.niceness, process_threads())
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_service(SetBool, '~/enable', self._on_enable)
        if self.stats_period > 0:
            self.create_timer(self.stats_period, self._log_stats)
        publish_diagnostics(self, 'inference', self.diagnostics_report)
        if autostart:
            self._failure = 'starting'  # (run_node logs the failure: one line)
            self.trigger_configure()
            if self.state != 'inactive':
                raise StartupError(self._failure)
            self.trigger_activate()

    # -- for subclasses ------------------------------------------------------------------------
    def setup(self) -> None:
        """Declare the node's parameters and load its model (raise PerceptionError on failure)."""
        raise NotImplementedError

    def infer(self, image: np.ndarray, header: Header) -> Any:
        """Run the core on one BGR image; the result goes to to_message and draw."""
        raise NotImplementedError

    def to_message(self, result: Any, header: Header) -> Any:
        """Return the message (of :attr:`output_type`, or its CDR bytes) for ``result``."""
        raise NotImplementedError

    def label_info(self, header: Header) -> LabelInfo:
        raise NotImplementedError

    def draw(self, image: np.ndarray, result: Any) -> np.ndarray:
        return image

    def apply_parameter(self, name: str, value: Any) -> Optional[str]:
        """Apply a run-time change of a live parameter; return a reason to reject it."""
        return 'parameter %s cannot change at run time: restart the node' % name

    def declare_engine_parameters(self, default_model: str) -> EngineConfig:
        """Declare the backend parameters (:class:`EngineParameters`) and the thread budget."""
        return self.thread_budget(super().declare_engine_parameters(default_model))

    def thread_budget(self, config: EngineConfig) -> EngineConfig:
        """Declare ``threads`` and ``spin_wait`` and put them into the engine config."""
        values = {option.field: self.declare(
            option.param, option.default, option.description, option.min_value,
            option.max_value, read_only=True) for option in engine_options('threads')}
        return dataclasses.replace(config, **values)

    def _on_set_parameters(self, params: List[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name not in self.live_parameters or self.state == 'unconfigured':
                continue  # (unconfigured: setup reads the new value)
            reason = self.apply_parameter(param.name, param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for param in params:  # the budget only once the whole batch is accepted
            if param.name == 'max_rate':
                self.max_rate = float(param.value)
            elif param.name == 'latency_budget':
                self.latency_budget = float(param.value)
        return SetParametersResult(successful=True)

    # -- lifecycle -------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model (:meth:`setup`) and create the publishers."""
        before_attributes = set(vars(self))
        before_entities = self._entities()
        before_threads = process_threads() if self.in_process else set()
        try:
            self.setup()
            if self.in_process:  # the threads the model made (ONNX Runtime, MediaPipe pools)
                lower_priority(self.niceness, process_threads() - before_threads)
            self.publisher = self.create_publisher(self.output_type, self.output_topic, 10)
            self.label_info_publisher: Optional[Any] = None
            if self.output_type is Detection2DArray:
                self.label_info_publisher = self.create_publisher(
                    LabelInfo, self.output_topic + '/label_info', LATCHED_QOS)
            self.annotated_publisher = self.create_publisher(Image, '~/image_annotated', 1)
            self.publish_label_info()
        except Exception as exc:  # a known failure is one line, anything else its traceback
            known = isinstance(exc, (PerceptionError, StartupError))
            starting, self._failure = (self._failure == 'starting',
                                       str(exc) if known else traceback.format_exc())
            if not starting:
                self.get_logger().error('cannot configure: %s' % self._failure)
            self._model_attributes = sorted(set(vars(self)) - before_attributes)
            self._configured_entities = [e for e in self._entities() if e not in before_entities]
            self._release()
            return TransitionCallbackReturn.FAILURE
        self._model_attributes = sorted(set(vars(self)) - before_attributes)
        self._configured_entities = [e for e in self._entities() if e not in before_entities]
        self.state, self._failure = 'inactive', ''
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the images (unless in-process) and start the worker."""
        if not self.in_process:
            self.subscription = self.create_subscription(Image, self.image_topic,
                                                         self.on_image, IMAGE_QOS)
        self._running = True
        self._worker = threading.Thread(target=self._work, name=self.get_name() + '_worker',
                                        daemon=True)
        self._worker.start()
        for window in (self.health, self._log_window):
            window.take()  # a fresh window: no "no input" for the inactive time
        self.state = 'active'
        self.get_logger().info('active: %s -> %s' % (self.image_topic,
                                                     self.publisher.topic_name))
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop the worker (after the frame it is on)."""
        self.stop_work()
        self.state = 'inactive'
        self.get_logger().info('inactive')
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model and the publishers."""
        self._release()
        self.state = 'unconfigured'
        self.get_logger().info('model released')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_work()
        self._release()
        self.state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    def _entities(self) -> List[Any]:
        return list(self.publishers) + list(self.subscriptions)

    def stop_work(self) -> None:
        """Unsubscribe from the images and stop the worker (after the frame it is on)."""
        if self.subscription is not None:
            self.destroy_subscription(self.subscription)
            self.subscription = None
        self._running = False
        self._wake.set()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=WORKER_STOP_S)
            if self._worker.is_alive():  # a model call that hangs: do not hang with it
                self.get_logger().warning(
                    'the worker is still in a model call after %.0f s: leaving it' % WORKER_STOP_S)
        self._worker = None
        with self._lock:
            self._pending = None

    def _release(self) -> None:
        """Close and drop what :meth:`setup` made (the model), destroy its publishers."""
        for entity in self._configured_entities:
            if entity in list(self.publishers):
                self.destroy_publisher(entity)
            elif entity in list(self.subscriptions):
                self.destroy_subscription(entity)
        self._configured_entities = []
        for name in self._model_attributes:
            value = vars(self).pop(name, None)
            if callable(getattr(value, 'close', None)):
                value.close()
        self._model_attributes = []
        self.timings = StageTimes()
        gc.collect()

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> Any:
        """``~/enable``: true configures (if needed) and activates, false deactivates."""
        if request.data:
            if self.state == 'unconfigured':
                self.trigger_configure()
            if self.state == 'inactive':
                self.trigger_activate()
        elif self.state == 'active':
            self.trigger_deactivate()
        response.success = (self.state == 'active') == bool(request.data)
        response.message = self.state if response.success else '%s: %s' % (
            self.state, self._failure)
        return response

    # -- data path -----------------------------------------------------------------------------
    def publish_label_info(self) -> None:
        if self.label_info_publisher is None:
            return
        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        self.label_info_publisher.publish(self.label_info(header))

    def on_image(self, msg: ImageLike) -> None:
        """
        Take a frame (an Image, or an in-process :class:`Frame`): by default to :meth:`submit`.

        A node that needs a second message per frame (e.g. detections of the same stamp)
        overrides this to hold the frame back until its partner arrives, then submits it.
        """
        self.submit(msg)

    def submit(self, msg: ImageLike) -> None:
        """Make ``msg`` the worker's next frame (replacing one it has not started yet)."""
        if not self._running:
            return
        with self._lock:
            if self._pending is not None:
                self._count('stale')  # the worker never got to it: a newer frame replaces it
            self._pending = msg
        self._count('received')
        self._wake.set()

    def _take_pending(self) -> Optional[ImageLike]:
        with self._lock:
            msg, self._pending = self._pending, None
            self._wake.clear()
            return msg

    def _work(self) -> None:
        if self.in_process:
            lower_priority(self.niceness, [threading.get_native_id()])
        while self._running:
            if self.max_rate > 0:  # wait out the rest of this frame's share of a second
                delay = self._next_start - time.monotonic()
                if delay > 0 and self._sleep(delay):
                    continue
            if not self._wake.wait(0.2):
                continue
            msg = self._take_pending()
            if msg is not None and self._running:
                self._next_start = time.monotonic() + 1.0 / max(self.max_rate, 1e-3)
                self.process_message(msg)

    def _sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the worker stops first (then True)."""
        deadline = time.monotonic() + seconds
        while self._running and time.monotonic() < deadline:
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0.0)))
        return not self._running

    def _count(self, what: str) -> None:
        for window in (self.health, self._log_window):
            window.count(what)

    def _bad_frame(self, text: str) -> None:
        self._count('malformed')
        self.get_logger().error(text, throttle_duration_sec=ERROR_THROTTLE_S)

    def process_message(self, msg: ImageLike) -> None:
        """Convert, infer, publish one frame; a bad frame is logged (throttled) and skipped."""
        if isinstance(msg, Frame):
            image = msg.image
        else:
            try:
                image = image_to_bgr(msg)
            except ImageFormatError as exc:
                self._bad_frame('skipping a bad image message on %s: %s'
                                % (self.image_topic, exc))
                return
        try:
            result = self.infer(image, msg.header)
            out = self.to_message(result, msg.header)
            self.publisher.publish(out)
        except PerceptionError as exc:
            self._bad_frame('frame skipped: %s' % exc)
            return
        except Exception as exc:  # keep running on anything the model or decoder throws
            if not self._running or not self.context.ok():
                return  # shutting down: the publisher's context is gone, nothing to report
            self._bad_frame('frame skipped, %s: %s' % (type(exc).__name__, exc))
            return
        latency_ms = (self.get_clock().now().nanoseconds - stamp_ns(msg.header)) / 1e6
        for window in (self.health, self._log_window):
            window.processed(self.timings, latency_ms)
        try:  # the in-process hand-off and the drawing must not end the worker either
            for listener in self.result_listeners:
                listener(msg, out)
            if self.annotated_publisher.get_subscription_count() > 0:
                canvas = self.draw(np.array(image, copy=True), result)
                self.annotated_publisher.publish(bgr_to_image(canvas, msg.header))
        except Exception as exc:
            if self._running and self.context.ok():
                self._bad_frame('after publishing, %s: %s' % (type(exc).__name__, exc))

    def diagnostics_report(self) -> Report:
        """Return the /diagnostics status: the lifecycle state, or the last second's figures."""
        stats = self.health.take()
        if self.state != 'active':
            return OK, self.state, {'state': self.state}
        level, message = assess(stats, self.max_rate, self.latency_budget * 1e3)
        values = window_values(stats)
        values['state'] = self.state
        return level, message, values

    def _log_stats(self) -> None:
        stats = self._log_window.take()
        if self.state != 'active':
            return
        if stats.received == 0:
            self.get_logger().info('waiting for images on %s' % self.image_topic,
                                   throttle_duration_sec=60.0)
            return
        means = ', '.join('%s %.1f ms' % kv for kv in stats.stage_ms.items())
        self.get_logger().info(
            '%.1f fps processed (%d frames, %d stale dropped, %d bad in %.0f s); %s'
            % (stats.processed_hz, stats.processed, stats.stale, stats.malformed, stats.seconds,
               means or 'no timings'))

    def destroy_node(self) -> None:
        self.stop_work()
        self._release()
        super().destroy_node()


def run_node(factory: Callable[[], Node], name: str, args: Optional[List[str]] = None) -> int:
    """
    Init rclpy, build the node, spin until Ctrl-C; a StartupError is one log line, exit 1.

    The exit code is the node's ``exit_code`` attribute when it sets one (else 0).
    """
    init(args)
    try:
        node = factory()
    except StartupError as exc:
        rclpy.logging.get_logger(name).fatal('cannot start: %s' % exc)
        rclpy.try_shutdown()
        return 1
    spin_until_shutdown([node], done=lambda: getattr(node, 'exit_code', None) is not None)
    return getattr(node, 'exit_code', None) or 0


def main_for(node_class: Type[Node], name: str) -> Callable[[], None]:
    """Make a console-script ``main`` for ``node_class``."""
    def main(args: Optional[List[str]] = None) -> None:
        sys.exit(run_node(node_class, name, args))
    return main


def parse_name_list(text: str) -> Dict[str, None]:
    """Comma-separated names -> ordered set (empty entries dropped)."""
    return {item.strip(): None for item in text.split(',') if item.strip()}
