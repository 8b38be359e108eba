"""The ``nice`` parameter: a node in its own process renices every thread, its model's too."""
import os
import select
import signal
import subprocess
import time

from conftest import require_ros, SHARED

require_ros()

from ros_helpers import node_command, node_env  # noqa: E402,I100

import pytest  # noqa: E402,I100

MODEL = SHARED / 'models' / 'yolov5' / 'yolov5n.onnx'


def thread_niceness(pid):
    """Niceness of every thread of process ``pid`` (Linux keeps one per thread)."""
    values = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            values[int(tid)] = os.getpriority(os.PRIO_PROCESS, int(tid))
        except OSError:  # the thread ended meanwhile
            pass
    return values


@pytest.mark.skipif(not os.path.isdir('/proc/self/task'), reason='needs Linux /proc')
def test_every_thread_of_the_detector_runs_at_the_niceness_it_was_given():
    if not MODEL.is_file():
        pytest.skip('%s is not here' % MODEL)
    if os.getpriority(os.PRIO_PROCESS, 0) != 0:
        pytest.skip('the tests already run reniced: the node would inherit it')
    env = dict(os.environ, **node_env())
    # two ONNX Runtime threads: the session creates a thread pool after the renicing
    node = subprocess.Popen(
        node_command('yolov5_node', 'model_path:=%s' % MODEL, 'nice:=7', 'threads:=2'),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        lines = []
        while time.monotonic() < deadline:
            if not select.select([node.stdout], [], [], 1.0)[0]:
                continue  # nothing printed yet: the deadline still holds
            line = node.stdout.readline()
            lines.append(line)
            if 'active:' in line or not line:
                break
        assert any('active:' in line for line in lines), ''.join(lines)
        values = thread_niceness(node.pid)
        assert len(values) > 3, values  # DDS, executor and inference threads
        assert set(values.values()) == {7}, values
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
