"""``jetauto-perception models list|path|fetch|verify``: the models manifest."""
from __future__ import annotations

import argparse
import functools
import pathlib
import sys

from tqdm import tqdm

from .common import progress_bar
from ..errors import ModelError
from ..models.manifest import (fetch_model, load_manifest, resolve_model, user_models_dir,
                               verify_model)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest='action', metavar='ACTION')
    sub.required = True
    sub.add_parser('list', help='known models, where they come from, and whether found here')
    path = sub.add_parser('path', help='print the local path of a model')
    path.add_argument('name')
    fetch = sub.add_parser('fetch', help='download missing models and verify their sha256')
    fetch.add_argument('names', nargs='*', help='models to fetch (default: all)')
    fetch.add_argument('--dest', default='', help='target folder (default: %s)'
                       % user_models_dir())
    fetch.add_argument('--force', action='store_true', help='download even if present')
    fetch.add_argument('--no-verify', action='store_true', help='accept a checksum mismatch')
    verify = sub.add_parser('verify', help='check the sha256 of the models found here')
    verify.add_argument('names', nargs='*')


def run(args: argparse.Namespace) -> int:
    manifest = load_manifest()
    if args.action == 'list':
        for entry in manifest.values():
            try:
                where = resolve_model(entry.name, manifest)
            except ModelError:
                where = 'not here (jetauto-perception models fetch %s)' % entry.name
            print('%-30s %s\n    %s\n    licence: %s\n    url: %s\n    local: %s'
                  % (entry.name, entry.description, entry.file, entry.license,
                     entry.url or 'none: ' + entry.how_to_get, where))
        return 0
    if args.action == 'path':
        print(resolve_model(args.name, manifest))
        return 0
    names = args.names or list(manifest)
    unknown = [n for n in names if n not in manifest]
    if unknown:
        raise ModelError('unknown model(s) %s: see `jetauto-perception models list`'
                         % ', '.join(unknown))
    if args.action == 'verify':
        failed = 0
        for name in names:
            try:
                path = resolve_model(name, manifest)
            except ModelError as exc:
                print('%-30s missing: %s' % (name, exc))
                failed += 1
                continue
            ok = verify_model(path, manifest)
            print('%-30s %s %s' % (name, 'ok' if ok else 'CHECKSUM MISMATCH', path))
            failed += 0 if ok else 1
        return 1 if failed else 0
    dest = pathlib.Path(args.dest) if args.dest else user_models_dir()
    failed = 0
    for name in names:
        entry = manifest[name]
        if not args.force:
            try:
                print('%-30s present: %s' % (name, resolve_model(name, manifest)))
                continue
            except ModelError:
                pass
        try:
            with progress_bar(name, unit='B', unit_scale=True, leave=False) as bar:
                path = fetch_model(entry, dest, force=args.force, verify=not args.no_verify,
                                   progress=functools.partial(_advance, bar))
            print('%-30s fetched: %s' % (name, path))
        except ModelError as exc:
            print('%-30s failed: %s' % (name, exc), file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _advance(bar: tqdm, done: int, total: int) -> None:
    """Move a download's bar to ``done`` of ``total`` bytes (0: unknown size)."""
    if total and bar.total != total:
        bar.total = total
    bar.update(done - bar.n)
