"""
The model nodes as managed nodes, with ~/enable and /diagnostics, against a real ROS 2.

yolov5_node runs as its own process: active at start (autostart), it answers images and
reports OK on /diagnostics, then ERROR when the images stop; deactivated it publishes nothing;
cleanup frees the model (the process's resident memory drops by more than the model file);
``~/enable`` brings it back; SIGINT ends it with exit code 0 and no traceback.
"""
import signal
import subprocess
import time

from conftest import require_ros, SHARED

require_ros()

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402,I100
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
import pytest  # noqa: E402
import rclpy  # noqa: E402
from ros_helpers import image_message, load_image, node_command, node_env  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

MODEL = SHARED / 'models' / 'yolov5' / 'yolov5n.onnx'
STATUS = 'yolov5_node: inference'


def rss_bytes(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no VmRSS for %d' % pid)


class Harness:
    """The node process plus a test node that publishes images and listens."""

    def __init__(self):
        import os
        env = dict(os.environ, **node_env())
        self.process = subprocess.Popen(
            node_command('yolov5_node', 'model_path:=%s' % MODEL, 'stats_period:=0.0'),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.node = rclpy.create_node('lifecycle_tester')
        self.detections, self.statuses = [], []
        self.node.create_subscription(Detection2DArray, 'detections', self.detections.append, 10)
        self.node.create_subscription(
            DiagnosticArray, '/diagnostics',
            lambda m: self.statuses.extend(s for s in m.status if s.name == STATUS), 10)
        self.images = self.node.create_publisher(Image, 'camera/image_raw', 10)
        self.image = load_image(SHARED / 'data' / 'images' / 'bus.jpg')
        self.sent = 0

    def publish(self):
        self.sent += 1
        self.images.publish(image_message(self.image, 100 + self.sent, 0))

    def spin(self, seconds, until=None, publish=False):
        deadline = time.monotonic() + seconds
        last = 0.0
        while time.monotonic() < deadline:
            if publish and time.monotonic() - last > 0.25:
                self.publish()
                last = time.monotonic()
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if until is not None and until():
                return True
            assert self.process.poll() is None, self.process.stdout.read()
        return until is None

    def call(self, service_type, name, request, timeout=60.0):
        client = self.node.create_client(service_type, name)
        assert self.spin(timeout, lambda: client.service_is_ready()), 'no %s' % name
        future = client.call_async(request)
        assert self.spin(60.0, future.done), 'no answer from %s' % name
        self.node.destroy_client(client)
        return future.result()

    def state(self):
        return self.call(GetState, '/yolov5_node/get_state', GetState.Request()).current_state.id

    def transition(self, transition_id):
        request = ChangeState.Request()
        request.transition.id = transition_id
        assert self.call(ChangeState, '/yolov5_node/change_state', request).success

    def answers(self, timeout=90.0):
        """Whether images published now get detections."""
        self.detections.clear()
        return self.spin(timeout, lambda: len(self.detections) >= 2, publish=True)

    def close(self):
        if self.node is None:
            return self.process.returncode, ''
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        output = self.process.stdout.read()
        self.node.destroy_node()
        self.node = None
        return self.process.returncode, output


@pytest.fixture(scope='module')
def harness():
    if not MODEL.is_file():
        pytest.skip('%s is not here' % MODEL)
    rclpy.init()
    h = Harness()
    yield h
    h.close()
    rclpy.shutdown()


def latest(statuses, predicate, harness, timeout=20.0, publish=False):
    statuses.clear()
    ok = harness.spin(timeout, lambda: any(predicate(s) for s in statuses), publish=publish)
    assert ok, 'no such /diagnostics status; last: %s' % (
        [(s.level, s.message) for s in statuses[-3:]])
    return next(s for s in statuses if predicate(s))


def values(status):
    return {kv.key: kv.value for kv in status.values}


def needs_diagnostics():
    pytest.importorskip('diagnostic_updater', reason='diagnostic_updater is not installed')


def test_1_active_at_start_answers(harness):
    assert harness.state() == State.PRIMARY_STATE_ACTIVE
    assert harness.answers()


def test_1_diagnostics_ok_while_answering_error_when_input_stops(harness):
    needs_diagnostics()
    status = latest(harness.statuses, lambda s: s.level == DiagnosticStatus.OK
                    and float(values(s).get('processed rate (Hz)', 0)) > 0, harness,
                    publish=True)
    figures = values(status)
    for key in ('input rate (Hz)', 'dropped as stale', 'malformed', 'infer (ms)',
                'stamp to publish p50 (ms)', 'stamp to publish p95 (ms)'):
        assert key in figures, figures
    # input stops: ERROR
    status = latest(harness.statuses, lambda s: s.level == DiagnosticStatus.ERROR, harness)
    assert 'no input' in status.message


def test_2_deactivated_publishes_nothing(harness):
    harness.transition(Transition.TRANSITION_DEACTIVATE)
    assert harness.state() == State.PRIMARY_STATE_INACTIVE
    harness.spin(1.0)  # a result of the last frame may still be on its way
    harness.detections.clear()
    harness.spin(4.0, publish=True)
    assert harness.detections == [], 'an inactive node published'
    needs_diagnostics()
    status = latest(harness.statuses, lambda s: True, harness)
    assert status.level == DiagnosticStatus.OK and status.message == 'inactive'


def test_3_cleanup_frees_the_model(harness):
    inactive = rss_bytes(harness.process.pid)
    harness.transition(Transition.TRANSITION_CLEANUP)
    assert harness.state() == State.PRIMARY_STATE_UNCONFIGURED
    harness.spin(1.0)
    freed = inactive - rss_bytes(harness.process.pid)
    assert freed > MODEL.stat().st_size, 'RSS fell by %.1f MiB only' % (freed / 2 ** 20)


def test_4_enable_service_configures_and_activates_again(harness):
    response = harness.call(SetBool, '/yolov5_node/enable', SetBool.Request(data=True))
    assert response.success, response.message
    assert harness.state() == State.PRIMARY_STATE_ACTIVE
    assert harness.answers()
    response = harness.call(SetBool, '/yolov5_node/enable', SetBool.Request(data=False))
    assert response.success and harness.state() == State.PRIMARY_STATE_INACTIVE


def test_5_sigint_ends_it_cleanly(harness):
    harness.call(SetBool, '/yolov5_node/enable', SetBool.Request(data=True))
    harness.spin(2.0, publish=True)  # busy when the signal comes
    code, output = harness.close()
    assert code == 0, output
    assert 'Traceback' not in output, output
