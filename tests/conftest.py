"""Shared test setup: makes the helpers in tests/ importable and isolates caches.

Every test session gets its own cache and database (under pytest's base temp
dir), so tests never touch a user's ~/.cache/hardbase; caches are shared
within the session so the real archive is downloaded once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from hardbase.patch.buildroot import BuildRoot

TESTS = Path(__file__).parent
SRC = TESTS.parent / "src"
sys.path.insert(0, str(TESTS))
# The tree under test wins over whatever hardbase is installed, in this process
# and in the `hardbase` / `python3 -m hardbase` processes the tests start.
sys.path.insert(0, str(SRC))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SRC), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)
# Peers that bookworm lacks (cosign, oras): `make setup` unpacks them into .tools/bin.
TOOLS_BIN = TESTS.parent / ".tools" / "bin"
os.environ["PATH"] = os.pathsep.join([str(TOOLS_BIN), os.environ.get("PATH", "")])


# Skips CI accepts: limits of Debian's own builds of the peers, not missing setup.
KNOWN_LIMITS = ("without sigstore support",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (`CI` set), a skip is a failure: `make setup` installs every peer and service.

    Locally a missing peer skips with its reason; in CI it must not hide a test.
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr)
        if not any(limit in reason for limit in KNOWN_LIMITS):
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where `make setup` provides everything: {reason}"


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # The session's own factory: a second one would empty a --basetemp again on the first
    # tmp_path, deleting the caches and images built before it (a module run alone).
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        factory = pytest.TempPathFactory.from_config(config, _ispytest=True)
    root = factory.getbasetemp()
    os.environ["HARDBASE_CACHE"] = str(root / "hardbase-cache")
    os.environ["HARDBASE_DB"] = str(root / "hardbase-cache" / "vuln.db")
    os.environ.pop("SOURCE_DATE_EPOCH", None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server from Debian's packages on 127.0.0.1 (tests/pg_fixture.py); yields a
    SQLAlchemy base URL. Append `/DBNAME` (the server has `postgres`)."""
    from pg_fixture import PostgresMissing, running_postgres

    try:
        server = running_postgres()
        url = server.__enter__()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def postgres_db(postgres: str) -> str:
    """The URL of a new, empty database on the `postgres` server."""
    from pg_fixture import new_database

    return new_database(postgres)


@pytest.fixture
def host_canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A planted canary directory (tests/canary.py); fails the test if it or /dev/null changed."""
    from canary import HostCanary

    canary = HostCanary.plant(tmp_path_factory.mktemp("canary") / "host")
    yield canary
    canary.check()


# Real images for the policy and evaluate tests (built on first use, archive tests only).
@pytest.fixture(scope="session")
def python3_ref() -> str:
    from evaluate import real_images

    return real_images.python3_image()


@pytest.fixture(scope="session")
def reference_ref() -> str:
    from evaluate import real_images

    return real_images.reference_image()


@pytest.fixture(scope="session")
def fixture_db_path() -> Path:
    from evaluate import real_images

    return real_images.fixture_db()


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate a FIXTURE CA signed: (URL, CA file)."""
    from tls import serve_https

    with serve_https(tmp_path_factory.mktemp("tls")) as served:
        yield served


@pytest.fixture(scope="session")
def bookworm_build_root() -> BuildRoot:
    """The build root of tests/patch_fixture.py's package, from deb.debian.org's bookworm.

    Made once per session (mmdebstrap, about a minute) in the session's cache
    ($HARDBASE_CACHE), where `hardbase patch build --root-mirror http://deb.debian.org/debian`
    of the fixture package (no Build-Depends: Essential, build-essential, fakeroot) finds
    it cached. Needs the mirror: use it from tests marked `archive`.
    """
    from hardbase.build.spec import MIRROR
    from hardbase.debian.archive import Archive
    from hardbase.patch.buildroot import ensure_root, plan_root
    from hardbase.patch.trees import Archives

    cache = Path(os.environ["HARDBASE_CACHE"])
    entries = Archives(root_mirror=MIRROR).build_root("bookworm")
    index, _ = Archive(entries, cache_dir=cache / "archive").load(["amd64"])
    plan = plan_root(index, "", arch="amd64", release="bookworm")
    return ensure_root(plan, entries, cache)
