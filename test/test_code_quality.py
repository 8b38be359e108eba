"""Lint (flake8 + pep257, as ament does), Python 3.8 compatibility, and TensorRT typing."""
import importlib.util
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, SHARED

PY_DIRS = ['jetauto_perception', 'launch', 'test', 'benchmarks', 'tools', 'setup.py']


def run(cmd):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def need(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip('%s is not installed (pip install -e .[test])' % module)


def test_flake8():
    need('flake8')
    result = run([sys.executable, '-m', 'flake8'] + [p for p in PY_DIRS if (REPO / p).exists()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_pep257():
    need('pydocstyle')
    result = run([sys.executable, '-m', 'pydocstyle', 'jetauto_perception', 'launch'])
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_and_launch_files_run_on_python_38():
    need('vermin')
    vermin = shutil.which('vermin') or str(pathlib.Path(sys.executable).with_name('vermin'))
    result = run([vermin, '--target=3.8-', '--no-tips', '--violations', '--eval-annotations',
                  'jetauto_perception', 'launch'])
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_ros():
    offenders = []
    for path in (REPO / 'jetauto_perception').rglob('*.py'):
        if 'nodes' in path.parts:
            continue
        text = path.read_text()
        for module in ('rclpy', 'sensor_msgs', 'vision_msgs', 'std_msgs', 'cv_bridge'):
            if 'import %s' % module in text or 'from %s' % module in text:
                offenders.append('%s imports %s' % (path.relative_to(REPO), module))
    assert not offenders


def test_tensorrt_code_type_checks_against_tensorrt_stubs():
    need('mypy')
    if importlib.util.find_spec('tensorrt_stubs') is None:
        pytest.skip('tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs)')
    result = run([sys.executable, 'tools/check_tensorrt_types.py'])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_xml_dependency_is_a_rosdep_key_on_humble_and_jazzy():
    rosdistro = SHARED / 'ros' / 'rosdistro'
    if not rosdistro.is_dir():
        pytest.skip('no rosdistro snapshot in %s' % rosdistro)
    import xml.etree.ElementTree as ET
    deps = {e.text for e in ET.parse(str(REPO / 'package.xml')).getroot()
            if e.tag.endswith('depend')}
    base = yaml.safe_load((rosdistro / 'rosdep' / 'base.yaml').read_text())
    python = yaml.safe_load((rosdistro / 'rosdep' / 'python.yaml').read_text())
    for distro in ('humble', 'jazzy'):
        dist = yaml.safe_load((rosdistro / distro / 'distribution.yaml').read_text())
        ros_packages = set()
        for name, repo in dist['repositories'].items():
            release = repo.get('release') or {}
            ros_packages.update(release.get('packages') or [name] if release else [])
        missing = sorted(d for d in deps
                         if d not in base and d not in python and d not in ros_packages)
        assert not missing, '%s: no rosdep key for %s' % (distro, missing)


def _package_imports():
    """Module -> the package modules it imports (module level or inside functions)."""
    import ast
    package = REPO / 'jetauto_perception'
    modules = {}
    for path in package.rglob('*.py'):
        parts = path.relative_to(REPO).with_suffix('').parts
        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        is_package = path.name == '__init__.py'
        base = name.split('.') if is_package else name.split('.')[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                prefix = base[:len(base) - node.level + 1] if node.level else []
                stem = '.'.join(prefix + ([node.module] if node.module else []))
                for alias in node.names:
                    for candidate in (stem + '.' + alias.name, stem):
                        if candidate in modules:
                            targets.add(candidate)
                            break
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
        targets.discard(name)
        graph[name] = {t for t in targets if not name.startswith(t + '.')}  # own parent package
    return graph


def test_no_module_imports_another_in_a_circle():
    graph = _package_imports()
    assert graph['jetauto_perception.engines.factory'] >= {
        'jetauto_perception.engines.base'}, 'the import graph reader missed a relative import'
    cycles = []
    state = {}

    def visit(node, stack):
        state[node] = 'open'
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 'open':
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 'done'

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, '\n'.join(' -> '.join(c) for c in cycles)


def test_every_package_says_what_it_owns():
    package = REPO / 'jetauto_perception'
    for init in package.glob('*/__init__.py'):
        text = init.read_text().strip()
        assert text.startswith('"""') and len(text) > 40, '%s has no docstring' % init
