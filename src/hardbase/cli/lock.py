"""Resolve a spec's packages against its archive and write `<spec>.lock.json` beside it.

The lock pins every package per architecture (version, sha256, size, URL,
source package), records the InRelease files used (Date and sha256) and a
hash of the spec's resolution inputs. Dependencies dropped because they only
serve maintainer scripts are listed in it too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hardbase.cli.progress import TerminalProgress


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="the image spec (YAML)")


def run(args: argparse.Namespace) -> int:
    from hardbase.build.lock import resolve_lock, write_lock
    from hardbase.build.spec import load_spec

    spec = load_spec(args.spec)
    lock = resolve_lock(spec, TerminalProgress(enabled=not args.quiet))
    write_lock(lock, spec.lock_path)
    for arch, packages in lock.packages.items():
        dropped = len(lock.dropped.get(arch, ()))
        print(
            f"{arch}: {len(packages)} packages ({dropped} maintainer-script dependencies dropped)"
        )
    print(spec.lock_path)
    return 0
