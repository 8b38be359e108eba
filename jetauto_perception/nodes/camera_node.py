"""
``camera_node``: a camera, stream, video file or image folder -> camera/image_raw + camera_info.

The capture (sources.capture) runs in its own thread: it blocks on the device, paces files, and
retries a source that is absent or lost with backoff, logging one line per attempt. Images are
published as bgr8 with the capture time as stamp and the ``frame_id`` parameter, with the
default reliable QoS (REP 2003: drivers publish reliable, subscribers pick best effort);
``camera/camera_info`` carries the calibration named by ``camera_info_url`` or, without one, an
uncalibrated CameraInfo of the frame size.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_system_default
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from .base import ERROR_THROTTLE_S, main_for, PerceptionNode, StartupError
from .conversions import bgr_to_image
from .diagnostics import publish_diagnostics, Report
from .frames import Frame
from ..errors import PerceptionError
from ..health import ERROR, OK
from ..sources.camera_info import calibration_for, CameraCalibration, uncalibrated
from ..sources.capture import Capture, CapturedFrame, CaptureSettings, SourceUnavailableError


def _package_share(package: str) -> str:
    from ament_index_python.packages import get_package_share_directory
    return get_package_share_directory(package)


def camera_info_msg(calibration: CameraCalibration, header: Header) -> CameraInfo:
    """Convert a CameraCalibration (plain data) to a sensor_msgs/CameraInfo."""
    msg = CameraInfo(header=header, width=calibration.width, height=calibration.height,
                     distortion_model=calibration.distortion_model)
    msg.d = [float(v) for v in calibration.d]
    msg.k = [float(v) for v in calibration.k]
    msg.r = [float(v) for v in calibration.r]
    msg.p = [float(v) for v in calibration.p]
    msg.binning_x = calibration.binning_x
    msg.binning_y = calibration.binning_y
    return msg


class CameraNode(PerceptionNode):
    """Publishes the frames of one source (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('camera_node', **kwargs)
        logger = self.get_logger()
        try:
            source, settings, camera_info_url = self._declare_parameters()
            self.capture = Capture(str(source), settings, logger,
                                   clock_ns=lambda: self.get_clock().now().nanoseconds)
            self.calibration = calibration_for(camera_info_url, self.camera_name,
                                               _package_share)
            if self.capture.spec.kind != 'stream':  # (a stream may take seconds to open)
                self._open_now()
        except PerceptionError as exc:
            raise StartupError(str(exc)) from None
        if self.calibration is not None:
            logger.info('calibration %dx%d for %s' % (
                self.calibration.width, self.calibration.height,
                self.calibration.camera_name or self.camera_name))
        self._uncalibrated: Dict[Tuple[int, int], CameraCalibration] = {}
        self._size_warned = False
        self.exit_code: Optional[int] = None
        #: in-process receivers of every frame (the perception container), before publishing
        self.frame_listeners: List[Callable[[Frame], None]] = []
        self.published = 0
        self._stats_count = 0
        self._stats_since = time.monotonic()
        self.image_publisher = self.create_publisher(Image, 'camera/image_raw',
                                                     qos_profile_system_default)
        self.info_publisher = self.create_publisher(CameraInfo, 'camera/camera_info',
                                                    qos_profile_system_default)
        if self.stats_period > 0:
            self.create_timer(self.stats_period, self._log_stats)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diagnostics_window = (time.monotonic(), 0)
        publish_diagnostics(self, 'capture', self.diagnostics_report)
        self._thread = threading.Thread(target=self._run, name='camera_capture', daemon=True)
        self._thread.start()
        logger.info('capturing %s -> %s' % (self.capture.describe(),
                                            self.image_publisher.topic_name))

    def _declare_parameters(self) -> Tuple[Any, CaptureSettings, str]:
        source = self.declare_parameter(
            'source', '0', ParameterDescriptor(
                description='What to capture: a V4L2 camera (0, /dev/video0), a Jetson CSI '
                            'camera (csi://0), a stream (rtsp://, udp://, http://), a video '
                            'file, an image folder, or a GStreamer pipeline ending in appsink',
                read_only=True, dynamic_typing=True)).value
        self.frame_id = self.declare('frame_id', 'camera_optical_frame',
                                     'frame_id of the published images and camera info '
                                     '(changes apply from the next frame)')
        self.camera_name = self.declare(
            'camera_name', 'camera', 'Camera name (${NAME} in camera_info_url)', read_only=True)
        camera_info_url = self.declare(
            'camera_info_url', '',
            'Calibration YAML: file:///path.yaml, package://pkg/path.yaml or a path ("" = '
            '~/.ros/camera_info/<camera_name>.yaml if present, else uncalibrated)',
            read_only=True)
        settings = CaptureSettings(
            width=self.declare('width', 0, 'Requested frame width of cameras (0 = the '
                               "camera's default; CSI 1280)", 0, 8192, read_only=True),
            height=self.declare('height', 0, 'Requested frame height of cameras (0 = the '
                                "camera's default; CSI 720)", 0, 8192, read_only=True),
            fps=self.declare('fps', 30.0, 'Frame rate requested from cameras, and the rate of '
                             'image folders (video files play at their own rate; 0 = the '
                             "camera's default)", 0.0, 1000.0, read_only=True),
            fourcc=self.declare('fourcc', '', 'V4L2 pixel format to request, e.g. MJPG or '
                                'YUYV ("" = the driver default)', read_only=True),
            realtime=self.declare('realtime', True, 'Play video files and image folders at '
                                  'their frame rate (false: as fast as possible)',
                                  read_only=True),
            loop=self.declare('loop', False, 'Start a video file or image folder again at '
                              'its end', read_only=True),
            reconnect_delay=self.declare(
                'reconnect_delay', 0.5, 'Seconds before the first retry of a source that is '
                'absent or lost (doubles on each failure)', 0.01, 60.0, read_only=True),
            reconnect_max_delay=self.declare(
                'reconnect_max_delay', 10.0, 'Longest wait between retries in seconds', 0.01,
                600.0, read_only=True),
            flip_method=self.declare('flip_method', 0, 'CSI cameras: nvvidconv flip-method (0 '
                                     'none, 2 rotate 180, 4 mirror, 6 flip)', 0, 7,
                                     read_only=True),
            stream_timeout=self.declare(
                'stream_timeout', 10.0, 'Seconds a network stream may take to open or to '
                'deliver a frame before it counts as lost', 0.1, 600.0, read_only=True))
        self.exit_on_end = self.declare(
            'exit_on_end', False, 'When a video file or image folder ends (loop false): exit '
            '(true) or stay up publishing nothing (false)', read_only=True)
        self.stats_period = self.declare(
            'stats_period', 10.0, 'Seconds between the statistics log lines (0 = never)',
            0.0, 3600.0, read_only=True)
        return source, settings, camera_info_url

    def _open_now(self) -> None:
        """Open the source at startup, so a mistake retrying cannot fix stops the node here."""
        try:
            self.capture.open_reader()
        except SourceUnavailableError:
            pass  # absent for now: the capture thread says so and retries

    def _on_set_parameters(self, params: List[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name == 'frame_id':
                self.frame_id = str(param.value)
        return SetParametersResult(successful=True)

    # -- capture thread --------------------------------------------------------------------------
    def _run(self) -> None:
        logger = self.get_logger()
        try:
            for frame in self.capture.frames():
                if not rclpy.ok(context=self.context):
                    break
                self.publish(frame)
        except PerceptionError as exc:
            logger.fatal('cannot capture: %s' % exc)
            self._finish(1)
            return
        except Exception as exc:  # never leave a silent dead thread behind
            if not self.context.ok():
                return  # shutting down (Ctrl-C) while a frame was being published
            logger.fatal('capture failed, %s: %s' % (type(exc).__name__, exc))
            self._finish(1)
            return
        if self.capture.ended:
            if self.exit_on_end:
                logger.info('source ended: exiting (exit_on_end is true)')
                self._finish(0)
            else:
                logger.info('source ended: publishing nothing more (loop:=true replays it, '
                            'exit_on_end:=true exits)')

    def _finish(self, code: int) -> None:
        # main() spins until this is set (shutting the context down from this thread races
        # with the executor).
        self.exit_code = code

    def publish(self, frame: CapturedFrame) -> None:
        """Publish one frame and its camera info with the capture stamp."""
        self.published += 1
        self._stats_count += 1
        header = Header(frame_id=self.frame_id)
        header.stamp.sec, header.stamp.nanosec = divmod(frame.stamp_ns, 1000000000)
        for listener in self.frame_listeners:  # in-process model nodes (the container)
            try:
                listener(Frame(header, frame.image))
            except Exception as exc:  # one node's failure must not stop the capture
                self.get_logger().error('handing a frame over failed, %s: %s'
                                        % (type(exc).__name__, exc),
                                        throttle_duration_sec=ERROR_THROTTLE_S)
        if self.image_publisher.get_subscription_count() > 0:
            self.image_publisher.publish(bgr_to_image(frame.image, header))
        if self.info_publisher.get_subscription_count() > 0:
            height, width = frame.image.shape[:2]
            self.info_publisher.publish(camera_info_msg(self._calibration_for(width, height),
                                                        header))

    def _calibration_for(self, width: int, height: int) -> CameraCalibration:
        calib = self.calibration
        if calib is not None:
            if (calib.width, calib.height) != (width, height) and not self._size_warned:
                self._size_warned = True
                self.get_logger().warning(
                    'the calibration is for %dx%d but the frames are %dx%d: set width and '
                    'height to the calibrated size, or calibrate at this one'
                    % (calib.width, calib.height, width, height))
            return calib
        key = (width, height)
        if key not in self._uncalibrated:
            self._uncalibrated[key] = uncalibrated(width, height, self.camera_name)
        return self._uncalibrated[key]

    def diagnostics_report(self) -> Report:
        """Return the /diagnostics status: frames per second, ERROR while none come."""
        now = time.monotonic()
        since, published = self._diagnostics_window
        self._diagnostics_window = (now, self.published)
        rate = (self.published - published) / max(now - since, 1e-6)
        values = {'frame rate (Hz)': '%.2f' % rate, 'frames': self.published,
                  'reconnects': self.capture.reconnects, 'source': self.capture.describe()}
        if self.capture.ended:
            return OK, 'source ended', values
        if rate == 0:
            return ERROR, 'no frames from %s' % self.capture.spec.describe(), values
        return OK, '%.1f fps' % rate, values

    def _log_stats(self) -> None:
        now = time.monotonic()
        elapsed, self._stats_since = now - self._stats_since, now
        count, self._stats_count = self._stats_count, 0
        if count or not self.capture.ended:
            self.get_logger().info('%.1f fps from %s (%d frames, %d reconnects)' % (
                count / max(elapsed, 1e-6), self.capture.spec.describe(), self.published,
                self.capture.reconnects))

    def stop_work(self) -> None:
        """Stop capturing (the capture thread ends after the frame it is on)."""
        self.capture.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def destroy_node(self) -> None:
        self.stop_work()
        super().destroy_node()


main = main_for(CameraNode, 'camera_node')


if __name__ == '__main__':
    main()
