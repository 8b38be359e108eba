"""Where ROS 2 is missing, every test of a ROS module is collected and skipped with the reason."""
import os
import subprocess
import sys

from conftest import REPO


def test_each_ros_test_is_reported_skipped_with_the_reason_without_ros():
    env = {k: v for k, v in os.environ.items()
           if k not in ('AMENT_PREFIX_PATH', 'PYTHONPATH', 'LD_LIBRARY_PATH')}
    env['PYTHONPATH'] = str(REPO)
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-rs', '-p', 'no:cacheprovider',
         'test/test_yolov5_node_launch.py', 'test/test_capture_node.py'],
        cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=300)
    output = result.stdout
    assert result.returncode == 0, output
    # 5 launch-test methods (a unittest class and a post-shutdown class) + 4 plain functions
    assert '9 skipped' in output, output
    assert 'SKIPPED [5] test/test_yolov5_node_launch.py: ROS 2 is not sourced' in output, output
    assert 'SKIPPED [4] test/test_capture_node.py: ROS 2 is not sourced' in output, output
