#!/usr/bin/env python3
"""
Type-check the TensorRT code with mypy against the PyPI ``tensorrt-stubs`` package.

The published stubs (10.8 to 10.13) install as plain ``tensorrt/`` folders without ``py.typed``
and contain a few lines that are not valid Python (a parameter named ``in``, a parameter without
a default after defaulted ones), so mypy rejects them as they are. This copies them into a
temporary folder, repairs exactly those lines, and runs mypy with that folder on MYPYPATH.

Usage: python tools/check_tensorrt_types.py [FILES...]   (default: the TensorRT modules)
Exit status is mypy's.
"""
from __future__ import annotations

import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_FILES = [
    'jetauto_perception/core/tensorrt_engine.py',
    'jetauto_perception/core/tensorrt_calibrator.py',
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
            target.write_text(repair(pathlib.Path(str(path)).read_text()))
        # The stubs' own inconsistencies (stubgen output) are not ours to report.
        config = pathlib.Path(tmp, 'mypy.ini')
        config.write_text('[mypy]\nignore_missing_imports = True\n'
                          '[mypy-tensorrt.*,tensorrt_bindings.*]\nignore_errors = True\n')
        env = dict(os.environ, MYPYPATH=tmp)
        cmd = [sys.executable, '-m', 'mypy', '--config-file', str(config),
               '--follow-imports=silent', '--no-incremental'] + files
        return subprocess.call(cmd, cwd=str(REPO), env=env)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
