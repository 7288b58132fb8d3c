"""Parsed copyright files, kept in the cache by the sha256 of their bytes, so an SBOM of
an image whose layers are in the layer cache does not parse them again.

Entries live under `CACHE/copyright-licenses/KEY/SHA256.json`, KEY hashing the format,
hardbase's version and the source of `sbom/licenses.py`, of the deb822 parser it reads
DEP-5 files with (`debian/control.py`) and of license_expression. An
entry names the file's sha256 and carries the sha256 of its own payload; one that is
corrupted, misfiled or malformed is ignored with a warning and written again from the
parse.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import license_expression

from hardbase import __version__
from hardbase.debian import control
from hardbase.oci.layercache import fingerprint
from hardbase.sbom import licenses
from hardbase.sbom.licenses import PackageLicenses, parse_copyright
from hardbase.util.fs import read_cache_entry, write_atomic

log = logging.getLogger(__name__)

FORMAT = 1
_MAX_ENTRY = 16 << 20


def cached_parser(root: Path) -> Callable[[bytes], PackageLicenses]:
    """`parse_copyright`, answered from and kept in the cache under `root`."""
    key = hashlib.sha256(
        json.dumps(
            [FORMAT, __version__, fingerprint([licenses, control, license_expression])]
        ).encode()
    ).hexdigest()[:32]
    directory = root / key

    def parse(data: bytes) -> PackageLicenses:
        digest = hashlib.sha256(data).hexdigest()
        path = directory / f"{digest}.json"
        found = _load(path, digest)
        if found is not None:
            return found
        parsed = parse_copyright(data)
        _store(path, digest, parsed)
        return parsed

    return parse


def _payload(digest: str, parsed: PackageLicenses) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "sha256": digest,
        "licenses": list(parsed.licenses),
        "texts": dict(sorted(parsed.texts.items())),
        "machine_readable": parsed.machine_readable,
    }


def _check(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _store(path: Path, digest: str, parsed: PackageLicenses) -> None:
    payload = _payload(digest, parsed)
    try:
        write_atomic(path, json.dumps({**payload, "check": _check(payload)}).encode())
    except OSError as exc:
        log.debug("not caching the licences of %s: %s", digest, exc)


def _load(path: Path, digest: str) -> PackageLicenses | None:
    return read_cache_entry(
        path, _MAX_ENTRY, lambda raw: _decode(raw, digest), cache="licence",
        instead="parsing the file",
    )  # fmt: skip


def _decode(raw: bytes, digest: str) -> PackageLicenses:
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("not a licence cache entry")
    check = doc.pop("check", None)
    if check != _check(doc):
        raise ValueError("checksum mismatch (truncated or corrupted)")
    if doc.get("format") != FORMAT or doc.get("sha256") != digest:
        raise ValueError("made for another file or format")
    found, texts, machine = doc["licenses"], doc["texts"], doc["machine_readable"]
    if not (isinstance(found, list) and all(isinstance(x, str) for x in found)):
        raise ValueError("malformed licences")
    if not (isinstance(texts, dict) and all(isinstance(v, str) for v in texts.values())):
        raise ValueError("malformed licence texts")
    if not isinstance(machine, bool):
        raise ValueError("malformed entry")
    return PackageLicenses(tuple(found), texts, machine)
