"""
Shared plumbing of the "image in, Detection2DArray out" nodes.

The subscription callback only stores the newest message; a worker thread converts and processes
it. A frame that arrives while the worker is busy replaces the one waiting, so the node always
works on the newest frame and never builds a queue (stale frames are counted and dropped).
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Type

import numpy as np
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from .conversions import bgr_to_image, image_to_bgr
from ..engines.base import EngineConfig
from ..errors import ImageFormatError, PerceptionError
from ..timing import StageStats, StageTimes

#: Transient-local, depth 1: a subscriber that joins late still gets the last LabelInfo.
LATCHED_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         reliability=ReliabilityPolicy.RELIABLE)
#: Sensor-data QoS (best effort, volatile) with a depth of 1: only the newest frame matters.
IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                       durability=qos_profile_sensor_data.durability,
                       reliability=qos_profile_sensor_data.reliability)
ERROR_THROTTLE_S = 5.0


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
        try:
            value = self.declare_parameter(name, default, descriptor).value
        except ParameterException as exc:  # wrong type or out of range
            raise StartupError('%s (fix it in the params file or the -p argument)'
                               % exc) from None
        if choices and value not in choices:
            raise StartupError("parameter %s is '%s': use one of %s"
                               % (name, value, ', '.join(choices)))
        return value


class ImageInferenceNode(PerceptionNode):
    """
    Base of the image-in, Detection2DArray-out nodes.

    Subclasses implement :meth:`setup`, :meth:`infer`, :meth:`to_message`, :meth:`label_info`
    and :meth:`draw`; the base does topics, threading and error handling.
    """

    #: Parameters a subclass accepts changes of at run time (see :meth:`apply_parameter`).
    live_parameters: Sequence[str] = ()
    #: The output message type; a Detection2DArray output also gets a latched LabelInfo.
    output_type: Any = Detection2DArray

    def __init__(self, node_name: str, output_topic: str, image_topic: str = 'camera/image_raw',
                 **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        self._lock = threading.Lock()
        self._pending: Optional[Image] = None
        self._wake = threading.Event()
        self._running = True
        self.received = 0
        self.dropped = 0
        self.bad = 0
        self.processed = 0
        self.timings = StageTimes()
        self._stats = StageStats()
        self._stats_since = time.monotonic()
        self.stats_period = self.declare(
            'stats_period', 10.0, 'Seconds between the statistics log lines (0 = never)',
            min_value=0.0, max_value=3600.0)
        try:
            self.setup()
        except PerceptionError as exc:
            raise StartupError(str(exc)) from None
        self.publisher = self.create_publisher(self.output_type, output_topic, 10)
        self.label_info_publisher: Optional[Any] = None
        if self.output_type is Detection2DArray:
            self.label_info_publisher = self.create_publisher(
                LabelInfo, output_topic + '/label_info', LATCHED_QOS)
        self.annotated_publisher = self.create_publisher(Image, '~/image_annotated', 1)
        self.publish_label_info()
        self.subscription = self.create_subscription(Image, image_topic, self.on_image,
                                                     IMAGE_QOS)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self.stats_period > 0:
            self.create_timer(self.stats_period, self._log_stats)
        self._worker = threading.Thread(target=self._work, name=node_name + '_worker',
                                        daemon=True)
        self._worker.start()
        self.get_logger().info('ready: %s -> %s' % (self.subscription.topic_name,
                                                    self.publisher.topic_name))

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
        """Declare the inference-backend parameters every model node shares."""
        self.model_path = self.declare(
            'model_path', default_model,
            'Model file (.onnx, or a TensorRT .engine) or a name from the models manifest',
            read_only=True)
        backend = self.declare('backend', 'onnxruntime', 'Inference backend',
                               choices=('onnxruntime', 'tensorrt'), read_only=True)
        providers = self.declare(
            'onnxruntime_providers', 'cpu',
            'ONNX Runtime execution providers in priority order, comma-separated: cpu, cuda, '
            'tensorrt', read_only=True)
        precision = self.declare('precision', 'fp16', 'TensorRT engine precision',
                                 choices=('fp32', 'fp16', 'int8'), read_only=True)
        cache_dir = self.declare(
            'engine_cache_dir', '',
            'Folder for built TensorRT engines ("" = ~/.cache/jetauto_perception/engines)',
            read_only=True)
        force = self.declare('force_engine_rebuild', False,
                             'Rebuild the TensorRT engine even when a cached one matches',
                             read_only=True)
        device_id = self.declare('device_id', 0, 'CUDA device index', 0, 16, read_only=True)
        return EngineConfig(backend=backend,
                            providers=tuple(p.strip() for p in providers.split(',') if p.strip()),
                            precision=precision, engine_cache_dir=cache_dir,
                            force_engine_rebuild=force, device_id=device_id)

    def _on_set_parameters(self, params: List[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name not in self.live_parameters:
                continue
            reason = self.apply_parameter(param.name, param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    # -- data path -----------------------------------------------------------------------------
    def publish_label_info(self) -> None:
        if self.label_info_publisher is None:
            return
        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        self.label_info_publisher.publish(self.label_info(header))

    def on_image(self, msg: Image) -> None:
        """
        Take a frame from the image subscription: by default straight to :meth:`submit`.

        A node that needs a second message per frame (e.g. detections of the same stamp)
        overrides this to hold the frame back until its partner arrives, then submits it.
        """
        self.submit(msg)

    def submit(self, msg: Image) -> None:
        """Make ``msg`` the worker's next frame (replacing one it has not started yet)."""
        with self._lock:
            if self._pending is not None:
                self.dropped += 1  # the worker never got to it: a newer frame replaces it
            self._pending = msg
            self.received += 1
        self._wake.set()

    def _take_pending(self) -> Optional[Image]:
        with self._lock:
            msg, self._pending = self._pending, None
            self._wake.clear()
            return msg

    def _work(self) -> None:
        while self._running:
            if not self._wake.wait(0.2):
                continue
            msg = self._take_pending()
            if msg is not None:
                self.process_message(msg)

    def process_message(self, msg: Image) -> None:
        """Convert, infer, publish one frame; a bad frame is logged (throttled) and skipped."""
        logger = self.get_logger()
        try:
            image = image_to_bgr(msg)
        except ImageFormatError as exc:
            self.bad += 1
            logger.error('skipping a bad image message on %s: %s'
                         % (self.subscription.topic_name, exc),
                         throttle_duration_sec=ERROR_THROTTLE_S)
            return
        try:
            result = self.infer(image, msg.header)
            self.publisher.publish(self.to_message(result, msg.header))
        except PerceptionError as exc:
            self.bad += 1
            logger.error('frame skipped: %s' % exc, throttle_duration_sec=ERROR_THROTTLE_S)
            return
        except Exception as exc:  # keep running on anything the model or decoder throws
            if not self._running or not self.context.ok():
                return  # shutting down: the publisher's context is gone, nothing to report
            self.bad += 1
            logger.error('frame skipped, %s: %s' % (type(exc).__name__, exc),
                         throttle_duration_sec=ERROR_THROTTLE_S)
            return
        self.processed += 1
        self._stats.add(self.timings)
        if self.annotated_publisher.get_subscription_count() > 0:
            canvas = self.draw(np.array(image, copy=True), result)
            self.annotated_publisher.publish(bgr_to_image(canvas, msg.header))

    def _log_stats(self) -> None:
        now = time.monotonic()
        elapsed, self._stats_since = now - self._stats_since, now
        if self.received == 0:
            self.get_logger().info('waiting for images on %s' % self.subscription.topic_name,
                                   throttle_duration_sec=60.0)
            return
        means = ', '.join('%s %.1f ms' % kv for kv in self._stats.means().items())
        self.get_logger().info(
            '%.1f fps processed (%d frames, %d stale dropped, %d bad); %s'
            % (self._stats.count / max(elapsed, 1e-6), self.processed, self.dropped, self.bad,
               means or 'no timings'))
        self._stats = StageStats()

    def destroy_node(self) -> None:
        self._running = False
        self._wake.set()
        if self._worker.is_alive():
            self._worker.join(timeout=2.0)
        super().destroy_node()


def run_node(factory: Callable[[], Node], name: str, args: Optional[List[str]] = None) -> int:
    """Init rclpy, build the node, spin until Ctrl-C; a StartupError is one log line, exit 1."""
    rclpy.init(args=args)
    try:
        node = factory()
    except StartupError as exc:
        rclpy.logging.get_logger(name).fatal('cannot start: %s' % exc)
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main_for(node_class: Type[Node], name: str) -> Callable[[], None]:
    """Make a console-script ``main`` for ``node_class``."""
    def main(args: Optional[List[str]] = None) -> None:
        sys.exit(run_node(node_class, name, args))
    return main


def parse_name_list(text: str) -> Dict[str, None]:
    """Comma-separated names -> ordered set (empty entries dropped)."""
    return {item.strip(): None for item in text.split(',') if item.strip()}
