"""The whole vulnerability database as a signed OCI artifact, the way Trivy's travels.

`push_db` snapshots a SQLite database (SQLite's online backup, so a database in
use is copied consistently), compresses it with zstd into one layer, pushes an
OCI manifest with `artifactType` ARTIFACT_TYPE to any registry (or an `oci:`
layout) and signs that manifest as cosign signs an image (`sha256-<hex>.sig`).
`pull_db` verifies the signature with a public key first, then reads the
manifest *by the verified digest*, checks each blob's digest and size, and
replaces the local database atomically; nothing is written when a check fails.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hardbase.errors import HardbaseError, UsageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, canonical_json
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.util.digest import Digest, DigestError

log = logging.getLogger(__name__)

ARTIFACT_TYPE = "application/vnd.hardbase.vulndb.v1"
CONFIG_TYPE = "application/vnd.hardbase.vulndb.config.v1+json"
LAYER_TYPE = "application/vnd.hardbase.vulndb.layer.v1.sqlite+zstd"
MAX_COMPRESSED = 1 << 30
MAX_DATABASE = 8 << 30  # uncompressed
_SQLITE_MAGIC = b"SQLite format 3\0"


class PublishError(HardbaseError):
    """A database artifact cannot be pushed, or a pulled one is refused."""


@dataclass(frozen=True)
class Published:
    """What a push wrote or a pull verified."""

    ref: str
    digest: str  # of the artifact manifest, the digest the signature covers
    size: int  # compressed database bytes
    sources: tuple[dict[str, Any], ...]


def sqlite_path(location: str | Path) -> Path:
    """The file of a SQLite database location; UsageError for a server database."""
    text = str(location)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise UsageError(
            f"{location} is not a SQLite file; db push and db pull carry SQLite databases "
            "(give --db PATH)"
        )
    return Path(text).expanduser()


def push_db(
    db_location: str | Path,
    ref: str,
    key_path: Path,
    password: str | bytes | None,
    *,
    insecure: bool = False,
) -> Published:
    """Push the database at `db_location` to `ref` and sign it; returns what was pushed."""
    import zstandard

    from hardbase.attest.sign import sign_image
    from hardbase.attest.store import open_store
    from hardbase.vuln.db import VulnDB

    path = sqlite_path(db_location)
    if not path.is_file():
        raise UsageError(f"there is no database at {path}; run `hardbase db update` first")
    image = _docker_or_layout(ref)
    with VulnDB.open(path) as db:
        if db.is_empty():
            raise UsageError(f"the database {path} is empty; run `hardbase db update` first")
        sources = tuple(
            {
                "name": s.name,
                "imported_at": s.imported_at.isoformat(timespec="seconds"),
                "records": s.records,
            }
            for s in db.sources()
        )
    with tempfile.TemporaryDirectory(prefix="hardbase-dbpush-") as tmp:
        snapshot = Path(tmp) / "vuln.db"
        try:
            source, copy = sqlite3.connect(path, timeout=30), sqlite3.connect(snapshot)
            try:
                source.backup(copy)
            finally:
                source.close()
                copy.close()
            data = zstandard.ZstdCompressor(level=10, threads=-1).compress(snapshot.read_bytes())
        except (sqlite3.Error, OSError) as exc:
            raise PublishError(f"cannot snapshot the database {path} ({exc})") from None
    config = canonical_json(
        {"created": datetime.now(UTC).isoformat(timespec="seconds"), "sources": list(sources)}
    )
    with open_store(image, insecure=insecure) as store:
        layer = store.put_blob(data, LAYER_TYPE)
        title = {"org.opencontainers.image.title": "vuln.db.zst"}
        layer = Descriptor(layer.media_type, layer.digest, layer.size, annotations=title)
        config_desc = store.put_blob(config, CONFIG_TYPE)
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": config_desc.to_json(),
            "layers": [layer.to_json()],
        }
        digest = store.put_manifest(manifest, image.tag or "latest")
    signed = sign_image(image, key_path, password, insecure=insecure)
    if signed != digest:
        raise PublishError(
            f"{ref} changed while it was pushed ({digest}, then {signed}); push again"
        )
    return Published(str(image), digest, len(data), sources)


def pull_db(
    ref: str, db_location: str | Path, pub_path: Path, *, insecure: bool = False
) -> Published:
    """Verify `ref`'s signature with `pub_path`, then replace the database with it."""
    import zstandard

    from hardbase.attest.store import open_store
    from hardbase.attest.verify import verify_image
    from hardbase.util import jsondoc

    path = sqlite_path(db_location)
    image = _docker_or_layout(ref)
    result = verify_image(image, pub_path, insecure=insecure)
    if not result.ok:
        raise PublishError(f"refusing the database {ref}: {result.reason}")
    with open_store(image, insecure=insecure) as store:
        # Read by the digest the signature covers, not by the tag, which may move.
        found = store.get_tagged(result.digest)
        if found is None:
            raise PublishError(f"{ref} vanished after its signature was checked; pull again")
        descriptor, manifest = found
        if descriptor.digest != result.digest:
            raise PublishError(f"{ref} is not the artifact that was verified; refusing it")
        if manifest.get("artifactType") != ARTIFACT_TYPE:
            raise PublishError(
                f"{ref} is not a hardbase vulnerability database (artifactType "
                f"{manifest.get('artifactType')!r}); check the reference"
            )
        layers = manifest.get("layers")
        if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
            raise PublishError(f"{ref} does not have exactly one database layer; refusing it")
        layer = _descriptor(layers[0], ref)
        if layer.media_type != LAYER_TYPE:
            raise PublishError(f"the layer of {ref} has media type {layer.media_type!r}")
        config = _descriptor(manifest.get("config"), ref)
        data = store.read_blob(layer, MAX_COMPRESSED)  # checks the digest and size
        try:
            info = jsondoc.loads(store.read_blob(config, 1 << 20))
        except ValueError:
            raise PublishError(f"the config of {ref} is not JSON; refusing it") from None
    try:
        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_DATABASE)
    except zstandard.ZstdError as exc:
        raise PublishError(f"the database layer of {ref} is not zstd data ({exc})") from None
    if not raw.startswith(_SQLITE_MAGIC):
        raise PublishError(f"the database layer of {ref} is not a SQLite database")
    _install(raw, ref, path)
    sources = info.get("sources") if isinstance(info, dict) else None
    return Published(
        str(image), result.digest, len(data), tuple(sources if isinstance(sources, list) else ())
    )


def _install(raw: bytes, ref: str, path: Path) -> None:
    """Check the pulled bytes as a VulnDB beside the target, then copy them into it.

    SQLite's backup API writes the target in one transaction (WAL-safe: a reader
    sees the old database or the new one, and a stale -wal file cannot corrupt it).
    """
    from hardbase.vuln.db import VulnDB

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".pulled-", suffix=".db", dir=path.parent)
    pulled = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        try:
            with VulnDB.open(pulled) as db:
                db.counts()
        except HardbaseError as exc:
            raise PublishError(
                f"the database in {ref} cannot be used: {exc.diagnostics()}"
            ) from None
        try:
            source = sqlite3.connect(pulled)
            target = sqlite3.connect(path, timeout=30)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        except sqlite3.Error as exc:
            raise PublishError(f"cannot write the pulled database to {path} ({exc})") from None
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)


def _descriptor(value: object, ref: str) -> Descriptor:
    if not isinstance(value, dict):
        raise PublishError(f"{ref} has a malformed descriptor; refusing it")
    try:
        return Descriptor(str(value["mediaType"]), Digest(value["digest"]), int(value["size"]))
    except (KeyError, TypeError, ValueError, DigestError):
        raise PublishError(f"{ref} has a malformed descriptor; refusing it") from None


def _docker_or_layout(ref: str) -> ImageRef:
    image = parse_reference(ref)
    if image.transport not in ("docker", "oci"):
        raise UsageError(
            f"{ref}: a database is pushed to and pulled from docker://HOST/REPO[:TAG] "
            "or oci:DIR[:TAG]"
        )
    return image
