"""What every vulnerability feed importer is: a name, default locations, and `run`.

Each importer reads its feed from a location (a file, a directory, a .zip or an
http(s) URL), replaces its own rows in the database, and records what it
imported and when. Feed problems surface as `FeedError`.
"""

from __future__ import annotations

import importlib
import io
import logging
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from hardbase.errors import FetchError, HardbaseError
from hardbase.util.http import NotFound, fetch_bytes
from hardbase.util.progress import Progress
from hardbase.vuln.db import VulnDB

log = logging.getLogger(__name__)

MAX_FEED_SIZE = 2 << 30  # a feed download larger than 2 GiB is refused
MAX_RECORD_SIZE = 64 << 20  # one record (a zip member, a JSON file)


class FeedError(HardbaseError):
    """A vulnerability feed could not be read or is malformed."""


class FeedNotFound(FeedError):
    """A feed location answered 404 or does not exist."""


@dataclass(frozen=True)
class ImportStats:
    """What one importer run did."""

    source: str
    locations: tuple[str, ...]
    advisories: int = 0
    affected: int = 0
    skipped: int = 0  # records or entries not imported (other ecosystems, withdrawn, bad)
    unchanged: int = 0  # for incremental importers: items not fetched again
    details: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)


class Importer(ABC):
    """A feed importer. Subclasses set `name` and `default_locations`."""

    name: ClassVar[str]
    default_locations: ClassVar[tuple[str, ...]]

    @abstractmethod
    def run(self, db: VulnDB, locations: Sequence[str], progress: Progress) -> ImportStats:
        """Import from `locations` (the defaults when empty), replacing this source's rows."""


# importer name -> "module:Class" under hardbase.vuln.importers, imported on use
IMPORTERS: dict[str, str] = {
    "osv": "osv:OSVImporter",
    "debian-tracker": "debian_tracker:DebianTrackerImporter",
    "debian-changelog": "debian_changelog:DebianChangelogImporter",
    "debian-security-support": "debian_security_support:SecuritySupportImporter",
}


def get_importer(name: str) -> Importer:
    """An importer instance by name; raises FeedError for an unknown name."""
    spec = IMPORTERS.get(name)
    if spec is None:
        raise FeedError(
            f"there is no vulnerability source named {name!r}; "
            f"choose one of {', '.join(sorted(IMPORTERS))}"
        )
    module, _, cls_name = spec.partition(":")
    mod = importlib.import_module(f"hardbase.vuln.importers.{module}")
    cls: type[Importer] = getattr(mod, cls_name)
    return cls()


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def read_location(location: str, *, max_size: int = MAX_FEED_SIZE) -> bytes:
    """The bytes of a file path or an http(s) URL."""
    if is_url(location):
        try:
            return fetch_bytes(location, max_size=max_size, timeout=120.0)
        except NotFound:
            raise FeedNotFound(f"the feed {location} is not on the server (HTTP 404)") from None
        except FetchError as exc:
            raise FeedError(f"cannot download the feed {location}: {exc.diagnostics()}") from None
    path = Path(location).expanduser()
    if not path.exists():
        raise FeedNotFound(f"the feed file {path} does not exist; check the path")
    try:
        if path.stat().st_size > max_size:
            raise FeedError(f"the feed file {path} is larger than {max_size} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise FeedError(
            f"cannot read the feed file {path} ({exc.strerror}); check the path"
        ) from None


def iter_documents(location: str) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each .json document in a directory, a .zip, a .json file or a URL."""
    if not is_url(location) and Path(location).expanduser().is_dir():
        root = Path(location).expanduser()
        for path in sorted(root.rglob("*.json")):
            if path.is_file():
                yield (
                    str(path.relative_to(root)),
                    read_location(str(path), max_size=MAX_RECORD_SIZE),
                )
        return
    data = read_location(location)
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    if info.is_dir() or not info.filename.endswith(".json"):
                        continue
                    if info.file_size > MAX_RECORD_SIZE:
                        raise FeedError(f"{info.filename} in {location} is too large; refusing it")
                    yield info.filename, zf.read(info)
        except (
            zipfile.BadZipFile,
            zlib.error,
            OSError,
            EOFError,
            RuntimeError,
            NotImplementedError,
        ) as exc:
            raise FeedError(f"{location} is not a readable zip archive") from exc
        return
    yield location.rsplit("/", 1)[-1], data
