"""The models manifest: lookup order, checksums, and fetch errors without a network."""
import functools
import io
import pathlib

import pytest
from tqdm import tqdm

from jetauto_perception.errors import ModelError
from jetauto_perception.models import manifest as models


def test_manifest_lists_every_model_with_source_and_checksum():
    manifest = models.load_manifest()
    for name in ('yolov5n.onnx', 'face_landmarker.task', 'hand_landmarker.task',
                 'pose_landmarker_full.task', 'simplepose_mbv2_256x192.onnx'):
        entry = manifest[name]
        assert len(entry.sha256) == 64 and entry.license
        assert entry.url or entry.how_to_get


def test_shared_models_match_the_manifest(shared):
    manifest = models.load_manifest()
    for entry in manifest.values():
        path = shared / 'models' / entry.file
        if path.exists():
            assert models.verify_model(str(path), manifest), entry.name


def test_lookup_order(tmp_path, monkeypatch, shared):
    monkeypatch.setenv('JETAUTO_MODELS_DIR', str(tmp_path))
    # Not in $JETAUTO_MODELS_DIR: found in ../shared/models.
    assert models.resolve_model('yolov5n.onnx').startswith(str(shared))
    # In $JETAUTO_MODELS_DIR: that copy wins.
    (tmp_path / 'yolov5').mkdir()
    (tmp_path / 'yolov5' / 'yolov5n.onnx').write_bytes(b'x')
    assert models.resolve_model('yolov5n.onnx') == str(tmp_path / 'yolov5' / 'yolov5n.onnx')
    # An explicit existing path is used as is.
    explicit = tmp_path / 'mine.onnx'
    explicit.write_bytes(b'x')
    assert models.resolve_model(str(explicit)) == str(explicit)


def test_unknown_model_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(models, 'search_dirs', lambda: [tmp_path])
    with pytest.raises(ModelError, match='models fetch face_landmarker.task'):
        models.resolve_model('face_landmarker.task')
    with pytest.raises(ModelError, match='model file not found'):
        models.resolve_model('nothing.onnx')


def test_checksum_mismatch_is_detected(tmp_path):
    bad = tmp_path / 'yolov5n.onnx'
    bad.write_bytes(b'not the model')
    assert models.verify_model(str(bad)) is False
    other = tmp_path / 'other.bin'
    other.write_bytes(b'x')
    assert models.verify_model(str(other)) is None   # not a manifest model


def test_fetch_without_url_explains_how_to_get(tmp_path):
    entry = models.load_manifest()['yolov5n.onnx']
    with pytest.raises(ModelError, match='export.py'):
        models.fetch_model(entry, tmp_path)


def test_fetch_downloads_checks_and_reports_progress(tmp_path):
    from jetauto_perception.commands.models import _advance
    payload = bytes(range(256)) * 1000   # several 64 KiB chunks
    source = tmp_path / 'upstream.bin'
    source.write_bytes(payload)
    entry = models.ModelEntry(name='upstream.bin', file='sub/upstream.bin', url=source.as_uri(),
                              sha256=models.sha256_of(str(source)), license='test',
                              description='test')
    with tqdm(file=io.StringIO(), disable=False) as bar:
        path = models.fetch_model(entry, tmp_path / 'models',
                                  progress=functools.partial(_advance, bar))
        assert (bar.n, bar.total) == (len(payload), len(payload))
    assert path == str(tmp_path / 'models' / 'sub' / 'upstream.bin')
    assert pathlib.Path(path).read_bytes() == payload
    broken = models.ModelEntry(**dict(entry.__dict__, sha256='0' * 64))
    with pytest.raises(ModelError, match='expected 0000'):
        models.fetch_model(broken, tmp_path / 'other')
    assert not (tmp_path / 'other' / 'sub' / 'upstream.bin').exists()
