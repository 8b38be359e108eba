"""
Shared fixtures: where the real models and data live (../shared beside the repo), ROS skips.

A test module that calls ``require_ros()`` at its top is not imported where ROS 2 is missing
(its imports would fail): :func:`pytest_pycollect_makemodule` lists its tests from the source
and reports each one as skipped with the reason, so the summary counts them.
"""
from __future__ import annotations

import ast
import functools
import os
import pathlib
from typing import Iterator, Optional

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


@functools.lru_cache(maxsize=None)
def ros_skip_reason() -> Optional[str]:
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
    """
    Mark the calling module as a ROS test module (call it at the module's top).

    Where ROS 2 is missing the module is not even imported (see pytest_pycollect_makemodule);
    this skip at import is the fallback for a module imported some other way.
    """
    reason = ros_skip_reason()
    if reason:
        pytest.skip(reason, allow_module_level=True)


def _calls_require_ros(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
               and getattr(node.value.func, 'id', '') == 'require_ros' for node in tree.body)


class RosSkippedTest(pytest.Item):
    """A test of a ROS module where ROS 2 is missing: reported as skipped with the reason."""

    def __init__(self, *, lineno: int, reason: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.lineno = lineno
        self.add_marker(pytest.mark.skip(reason=reason))

    def runtest(self) -> None:  # never reached: the skip marker applies at set-up
        pytest.skip(str(self.get_closest_marker('skip')))

    def reportinfo(self):
        return self.path, self.lineno, self.name


class RosSkippedModule(pytest.File):
    """The tests of a ROS module, read from its source without importing it."""

    def collect(self) -> Iterator[RosSkippedTest]:
        reason = ros_skip_reason() or ''
        tree = ast.parse(self.path.read_text())
        for node in tree.body:
            tests = [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
            if isinstance(node, ast.ClassDef):
                tests = [('%s::%s' % (node.name, m.name), m) for m in node.body
                         if isinstance(m, ast.FunctionDef)]
            for name, function in tests:
                if function.name.startswith('test'):
                    yield RosSkippedTest.from_parent(self, name=name, lineno=function.lineno - 1,
                                                     reason=reason)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: pathlib.Path,
                                parent: pytest.Collector) -> Optional[pytest.Collector]:
    """Collect a ROS test module without importing it when ROS 2 is missing."""
    if ros_skip_reason() is None:
        return None
    try:
        tree = ast.parse(module_path.read_text())
    except (OSError, SyntaxError):
        return None
    if not _calls_require_ros(tree):
        return None
    return RosSkippedModule.from_parent(parent, path=module_path)
