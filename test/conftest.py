"""Shared fixtures: where the real models and data live (../shared beside the repo)."""
from __future__ import annotations

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
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
