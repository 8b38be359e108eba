"""Arguments and helpers shared by the CLI commands."""
from __future__ import annotations

import argparse
import os
from typing import Any, Dict, Optional

from tqdm import tqdm

from ..detection.yolov5 import resolve_class_filter
from ..engines.base import engine_config, engine_options, EngineConfig
from ..errors import PerceptionError


def add_engine_options(parser: argparse.ArgumentParser, scope: str,
                       title: Optional[str] = None) -> None:
    """Add the engine options of ``scope`` (``cli`` or ``build``) as flags (one definition)."""
    group = parser.add_argument_group(title) if title else parser
    for option in engine_options(scope):
        kwargs: Dict[str, Any] = {'dest': option.field, 'default': option.default}
        if isinstance(option.default, bool):
            kwargs['action'] = 'store_true'
            kwargs['help'] = option.description
        else:
            kwargs['type'] = type(option.default)
            kwargs['help'] = '%s (default: %s)' % (option.description,
                                                   option.default if option.default != ''
                                                   else "''")
            if option.choices:
                kwargs['choices'] = option.choices
            if option.metavar:
                kwargs['metavar'] = option.metavar
        group.add_argument(option.flag, **kwargs)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    add_engine_options(parser, 'cli', 'inference backend')


def engine_config_from(args: argparse.Namespace, scope: str = 'cli',
                       **overrides: Any) -> EngineConfig:
    """Make the :class:`EngineConfig` of the parsed engine flags of ``scope``."""
    config = engine_config({option.field: getattr(args, option.field)
                            for option in engine_options(scope)}, **overrides)
    for option in engine_options(scope):
        value = getattr(args, option.field)
        if option.min_value is not None and not option.min_value <= value <= option.max_value:
            raise PerceptionError('%s must be in %d..%d, not %s' % (
                option.flag, option.min_value, option.max_value, value))
    return config


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
