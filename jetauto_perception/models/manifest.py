"""
The models manifest: where each model comes from, its checksum, and where it is found here.

Download and check with urllib + hashlib rather than pooch or huggingface_hub: one
verified download per file is all it needs, with no extra package on the robot.
"""
from __future__ import annotations

from dataclasses import dataclass
import hashlib
import os
import pathlib
import shutil
import tempfile
from typing import Callable, Dict, List, Optional
import urllib.request

from ..errors import ModelError

MANIFEST_PATH = pathlib.Path(__file__).resolve().parent / 'models.yaml'
#: ../shared/models beside a source checkout (tests, the demo and benchmarks read it).
CHECKOUT_SHARED_MODELS = pathlib.Path(__file__).resolve().parents[3] / 'shared' / 'models'


@dataclass(frozen=True)
class ModelEntry:
    name: str
    file: str
    url: Optional[str]
    sha256: str
    license: str  # noqa: A003 (the manifest's field name)
    description: str
    how_to_get: str = ''


def load_manifest(path: Optional[pathlib.Path] = None) -> Dict[str, ModelEntry]:
    import yaml
    with open(str(path or MANIFEST_PATH)) as f:
        data = yaml.safe_load(f)
    entries = {}
    for name, item in (data.get('models') or {}).items():
        entries[name] = ModelEntry(name=name, file=item['file'], url=item.get('url'),
                                   sha256=item['sha256'], license=item.get('license', ''),
                                   description=item.get('description', ''),
                                   how_to_get=item.get('how_to_get', '') or '')
    return entries


def user_models_dir() -> pathlib.Path:
    """Where ``models fetch`` downloads to: $JETAUTO_MODELS_DIR or the user data folder."""
    env = os.environ.get('JETAUTO_MODELS_DIR')
    if env:
        return pathlib.Path(env)
    base = (os.environ.get('XDG_DATA_HOME')
            or os.path.join(os.path.expanduser('~'), '.local', 'share'))
    return pathlib.Path(base) / 'jetauto_perception' / 'models'


def search_dirs() -> List[pathlib.Path]:
    """Model folders in lookup order (after an explicit path)."""
    dirs = []
    env = os.environ.get('JETAUTO_MODELS_DIR')
    if env:
        dirs.append(pathlib.Path(env))
    for candidate in (CHECKOUT_SHARED_MODELS, pathlib.Path.cwd().parent / 'shared' / 'models'):
        if candidate.is_dir() and candidate not in dirs:
            dirs.append(candidate)
    default_user = user_models_dir()
    if default_user not in dirs:
        dirs.append(default_user)
    return dirs


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_model(name_or_path: str, manifest: Optional[Dict[str, ModelEntry]] = None) -> str:
    """
    Find a model: an existing path as given, else a manifest name (or file) in the folders.

    Raises :class:`ModelError` with the fix when it is nowhere.
    """
    if not name_or_path:
        raise ModelError('no model given: pass a path or a name from '
                         '`jetauto-perception models list`')
    if os.path.isfile(name_or_path):
        return name_or_path
    manifest = manifest if manifest is not None else load_manifest()
    base = os.path.basename(name_or_path)
    entry = manifest.get(base) or next((e for e in manifest.values()
                                        if e.file == name_or_path), None)
    relative = entry.file if entry else name_or_path
    for folder in search_dirs():
        for candidate in (folder / relative, folder / base):
            if candidate.is_file():
                return str(candidate)
    if entry:
        raise ModelError("model '%s' not found (looked in %s): run `jetauto-perception models "
                         'fetch %s` or set $JETAUTO_MODELS_DIR'
                         % (entry.name, ', '.join(str(d) for d in search_dirs()), entry.name))
    raise ModelError("model file not found: '%s'. Check the path, or see `jetauto-perception "
                     'models list` for the known models' % name_or_path)


def verify_model(path: str, manifest: Optional[Dict[str, ModelEntry]] = None) -> Optional[bool]:
    """
    Check ``path`` against the manifest checksum of its file name.

    True or False when the file name is a manifest model, None when it is not.
    """
    manifest = manifest if manifest is not None else load_manifest()
    entry = manifest.get(os.path.basename(path))
    if entry is None:
        return None
    return sha256_of(path) == entry.sha256


def fetch_model(entry: ModelEntry, dest_dir: pathlib.Path, force: bool = False,
                verify: bool = True, progress: Optional[Callable[[int, int], None]] = None) -> str:
    """Download ``entry`` into ``dest_dir``/file and check its sha256 (atomic replace)."""
    target = dest_dir / entry.file
    if target.is_file() and not force:
        return str(target)
    if not entry.url:
        raise ModelError('%s has no download URL: %s' % (entry.name, entry.how_to_get))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(target.parent), suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(entry.url, timeout=60) as resp:
            total = int(resp.headers.get('Content-Length') or 0)
            done = 0
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if verify and sha256_of(tmp) != entry.sha256:
            raise ModelError('%s downloaded from %s has sha256 %s, expected %s (the file changed '
                             'upstream or the download broke; --no-verify accepts it)'
                             % (entry.name, entry.url, sha256_of(tmp), entry.sha256))
        shutil.move(tmp, str(target))
    except OSError as exc:
        raise ModelError('cannot download %s from %s (%s)'
                         % (entry.name, entry.url, exc)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return str(target)
