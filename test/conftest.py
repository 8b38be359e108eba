"""Shared fixtures: where the real models and data live (../shared beside the repo)."""
from __future__ import annotations

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# A test-local DDS domain, so parallel runs on one machine never see each other's topics.
os.environ.setdefault('ROS_DOMAIN_ID', str(10 + os.getpid() % 90))
SHARED = pathlib.Path(os.environ.get('JETAUTO_SHARED_DIR', str(REPO.parent / 'shared')))


def shared_path(*parts: str) -> pathlib.Path:
    """A file under shared/, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip('%s is not here (set JETAUTO_SHARED_DIR to the shared models/data folder)'
                    % path)
    return path


@pytest.fixture(scope='session')
def shared() -> pathlib.Path:
    if not SHARED.is_dir():
        pytest.skip('shared models/data folder %s is not here' % SHARED)
    return SHARED


@pytest.fixture(scope='session')
def yolov5n_onnx() -> pathlib.Path:
    return shared_path('models', 'yolov5', 'yolov5n.onnx')


@pytest.fixture(scope='session')
def images_dir() -> pathlib.Path:
    return shared_path('data', 'images')


def ros_skip_reason():
    """Return why the ROS tests cannot run here, or None when ROS 2 is sourced and imports."""
    if not os.environ.get('AMENT_PREFIX_PATH'):
        return ('ROS 2 is not sourced (scripts/run_tests.sh sources /opt/ros/humble/setup.bash '
                'when it exists)')
    try:
        import launch_testing  # noqa: F401
        import rclpy  # noqa: F401
        import vision_msgs.msg  # noqa: F401
    except ImportError as exc:
        return 'ROS 2 Python modules do not import: %s' % exc
    return None


def require_ros():
    """Skip the calling test module when ROS 2 is not available."""
    reason = ros_skip_reason()
    if reason:
        pytest.skip(reason, allow_module_level=True)
