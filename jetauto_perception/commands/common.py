"""Arguments and helpers shared by the CLI commands."""
from __future__ import annotations

import argparse
import os
import sys
import time

from ..detection.yolov5 import resolve_class_filter
from ..engines.base import EngineConfig
from ..errors import PerceptionError


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('inference backend')
    group.add_argument('--backend', choices=('onnxruntime', 'tensorrt'), default='onnxruntime',
                       help='inference backend (default: onnxruntime)')
    group.add_argument('--providers', default='cpu',
                       help='ONNX Runtime providers in priority order, comma-separated: '
                            'cpu, cuda, tensorrt (default: cpu)')
    group.add_argument('--precision', choices=('fp32', 'fp16', 'int8'), default='fp16',
                       help='TensorRT precision (default: fp16)')
    group.add_argument('--engine-cache-dir', default='',
                       help='where TensorRT engines are cached')
    group.add_argument('--threads', type=int, default=0,
                       help='ONNX Runtime CPU threads (default: its own choice)')


def engine_config_from(args: argparse.Namespace) -> EngineConfig:
    return EngineConfig(backend=args.backend,
                        providers=tuple(p.strip() for p in args.providers.split(',') if p.strip()),
                        precision=args.precision, engine_cache_dir=args.engine_cache_dir,
                        num_threads=args.threads)


class Progress:
    """A one-line progress indicator on stderr (only when stderr is a terminal or forced)."""

    def __init__(self, label: str, total: int = 0, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.count = 0
        self.start = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.count += n
        if not self.enabled:
            return
        rate = self.count / max(time.perf_counter() - self.start, 1e-9)
        if self.total:
            done = int(30 * self.count / self.total)
            bar = '#' * done + '-' * (30 - done)
            sys.stderr.write('\r%s [%s] %d/%d %.1f/s'
                             % (self.label, bar, self.count, self.total, rate))
        else:
            sys.stderr.write('\r%s %d %.1f/s' % (self.label, self.count, rate))
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write('\n')
            sys.stderr.flush()


def ensure_dir(path: str) -> str:
    if path:
        os.makedirs(path, exist_ok=True)
    return path


def apply_class_filter(detector, classes: str) -> None:
    """Keep only the comma-separated class names / ids of ``classes`` ('' = all)."""
    if not classes:
        return
    try:
        detector.classes = resolve_class_filter(classes.split(','), detector.class_names)
    except ValueError as exc:
        raise PerceptionError(str(exc)) from None
