#!/usr/bin/env python3
"""
Type-check the TensorRT code with mypy against the PyPI ``tensorrt-stubs`` package.

The published stubs (10.8 to 10.13) install as plain ``tensorrt/`` folders without ``py.typed``
and contain a few lines that are not valid Python (a parameter named ``in``, a parameter without
a default after defaulted ones), so mypy rejects them as they are. This copies them into a
temporary folder, repairs exactly those lines, and runs mypy with that folder on MYPYPATH.

Before checking the project it checks a probe with a deliberately wrong TensorRT call, so a
broken stub setup (every name silently Any) fails instead of passing vacuously.

Usage: python tools/check_tensorrt_types.py [FILES...]   (default: the TensorRT modules)
Exit status: mypy's; 3 when the probe's error is not reported.
"""
from __future__ import annotations

import ast
import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_FILES = [
    'jetauto_perception/engines/tensorrt_engine.py',
    'jetauto_perception/quantization/calibration.py',
    'jetauto_perception/commands/build_engine.py',
]


def stub_files() -> list:
    dist = importlib.metadata.distribution('tensorrt-stubs')
    return [dist.locate_file(f) for f in (dist.files or []) if str(f).endswith('.pyi')]


def repair(text: str) -> str:
    # `in` is a keyword: rename the parameter.
    text = re.sub(r'([(,]\s*)in(\s*:)', r'\1in_\2', text)
    # A non-default parameter after defaulted ones: give it a default.
    text = re.sub(r'(= None, channel_axis: int)\)', r'\1 = ...)', text)
    return text


PROBE = ('import tensorrt as trt\n'
         'builder = trt.Builder()\n'   # missing its logger argument
         'network = builder.create_network(flags="explicit")\n')


def mypy(files: list, stubs: str, config: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYPYPATH=stubs)
    cmd = [sys.executable, '-m', 'mypy', '--config-file', config, '--follow-imports=silent',
           '--no-incremental'] + files
    return subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True)


def main(argv: list) -> int:
    files = argv or [f for f in DEFAULT_FILES if (REPO / f).exists()]
    try:
        stubs = stub_files()
    except importlib.metadata.PackageNotFoundError:
        print('tensorrt-stubs is not installed: pip install --no-deps tensorrt-stubs')
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for path in stubs:
            parts = pathlib.Path(str(path)).parts
            top = next(i for i, p in enumerate(parts) if p in ('tensorrt', 'tensorrt_bindings'))
            target = pathlib.Path(tmp, *parts[top:])
            target.parent.mkdir(parents=True, exist_ok=True)
            text = repair(pathlib.Path(str(path)).read_text())
            try:
                ast.parse(text)
            except SyntaxError as exc:
                print('tensorrt-stubs has a line mypy cannot parse (%s): extend repair() in %s'
                      % (exc, __file__))
                return 2
            target.write_text(text)
        # The stubs' own inconsistencies (stubgen output) are not ours to report.
        config = pathlib.Path(tmp, 'mypy.ini')
        config.write_text('[mypy]\nignore_missing_imports = True\n'
                          '[mypy-tensorrt.*,tensorrt_bindings.*]\nignore_errors = True\n')
        probe = pathlib.Path(tmp, 'probe.py')
        probe.write_text(PROBE)
        check = mypy([str(probe)], tmp, str(config))
        if 'probe.py:2: error' not in check.stdout:
            print('the stubs are not in effect: a wrong TensorRT call was not reported\n'
                  + check.stdout + check.stderr)
            return 3
        result = mypy(files, tmp, str(config))
        print(result.stdout + result.stderr, end='')
        return result.returncode


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
