"""Arguments and helpers shared by the CLI commands."""
from __future__ import annotations

import argparse
import os

from tqdm import tqdm

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


def progress_bar(label: str, total: int = 0, unit: str = 'image', **options: object) -> tqdm:
    """Return a tqdm bar on stderr, drawn only when stderr is a terminal (``total`` 0: unknown)."""
    return tqdm(desc=label, total=total or None, unit=unit, disable=None, dynamic_ncols=True,
                **options)


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
