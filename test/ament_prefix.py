"""
A temporary ament prefix with this package's executables, for ``ros2 launch`` from a checkout.

launch_ros ``Node(package, executable)`` looks executables up in the ament index. This lays out
what ``colcon build --symlink-install`` installs for the package (the index marker,
``lib/jetauto_perception/<node>`` scripts for setup.py's NODES and CONTAINERS,
``share/jetauto_perception`` with launch/, config/, rviz/); put it first on AMENT_PREFIX_PATH.
Used by the launch tests and benchmarks/system.py (plain Python: no pytest, no rclpy).
"""
import ast
import atexit
import pathlib
import re
import shutil
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = 'jetauto_perception'


def setup_list(name):
    """A list constant of setup.py (``NODES``, ``CONTAINERS``)."""
    text = (REPO / 'setup.py').read_text()
    match = re.search(r'^%s = (\[.*?\])' % name, text, re.S | re.M)
    return ast.literal_eval(match.group(1)) if match else []


def setup_nodes():
    """The NODES list of setup.py (the node console scripts colcon installs)."""
    return setup_list('NODES')


def make_install_prefix():
    """An ament prefix with this package's executables and share files (removed at exit)."""
    prefix = pathlib.Path(tempfile.mkdtemp(prefix='jetauto_prefix_'))
    atexit.register(shutil.rmtree, str(prefix), True)
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / PACKAGE).write_text('')
    share = prefix / 'share' / PACKAGE
    share.mkdir()
    for name in ('launch', 'config', 'rviz', 'package.xml'):
        (share / name).symlink_to(REPO / name)
    lib = prefix / 'lib' / PACKAGE
    lib.mkdir(parents=True)
    for node in setup_nodes() + setup_list('CONTAINERS'):
        script = lib / node
        script.write_text('#!%s\nimport sys\nsys.path.insert(0, %r)\n'
                          'from %s.nodes.%s import main\nsys.exit(main())\n'
                          % (sys.executable, str(REPO), PACKAGE, node))
        script.chmod(0o755)
    return prefix
