"""Measurements that need more than the image's layers: findings from the vulnerability
database, artifacts stored beside the image (signature, provenance, SBOM), a rebuild
from a hardbase spec, and a smoke run under podman.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from hardbase.errors import HardbaseError
from hardbase.evaluate.facts import ImageFacts
from hardbase.oci.reference import parse_reference
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import FIXABLE, Finding
from hardbase.vuln.scan import ScanResult, scan
from hardbase.vuln.vex import VexStatement

log = logging.getLogger(__name__)

SLSA_PREFIX = "https://slsa.dev/provenance/"
SBOM_PREDICATES = ("https://spdx.dev/Document", "https://cyclonedx.org/bom")
PODMAN = [
    "podman",
    "--runtime",
    "runc",
    "--cgroup-manager=cgroupfs",
    "--events-backend=file",
]
PODMAN_RUN = ["--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]

# Debian releases: (version, regular security support end, LTS end); dates from
# https://wiki.debian.org/DebianReleases and https://wiki.debian.org/LTS
DEBIAN_SUPPORT: dict[str, tuple[str, str, str]] = {
    "buster": ("10", "2022-09-10", "2024-06-30"),
    "bullseye": ("11", "2024-08-14", "2026-08-31"),
    "bookworm": ("12", "2026-06-10", "2028-06-30"),
    "trixie": ("13", "2028-08-09", "2030-06-30"),
}
_BY_VERSION = {v[0]: k for k, v in DEBIAN_SUPPORT.items()}


@dataclass(frozen=True)
class Artifacts:
    """What is stored beside the image (None: the transport cannot hold artifacts)."""

    signature: bool | None
    provenance: bool | None
    sbom: bool | None
    predicates: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class DistroSupport:
    release: str  # codename, "" when not a known Debian release
    version: str
    security_end: str  # ISO date
    lts_end: str
    days_left: int | None  # until the last of the two ends, from `today`


@dataclass(frozen=True)
class FixAge:
    finding: Finding
    published: str  # ISO date the fix (its advisory) became known, "" when unknown
    days: int | None


@dataclass
class Measurements:
    """Facts plus everything measured around them."""

    facts: ImageFacts
    scan: ScanResult | None = None
    fix_ages: tuple[FixAge, ...] = ()
    artifacts: Artifacts = field(default_factory=lambda: Artifacts(None, None, None))
    reproducible: bool | None = None
    reproducible_note: str = "not checked (pass --rebuild REF=SPEC)"
    runs: bool | None = None
    run_note: str = "not run (pass --smoke CMD)"
    warnings: list[str] = field(default_factory=list)


def find_vulnerabilities(
    facts: ImageFacts, db: VulnDB, vex: Sequence[VexStatement] = (), *, today: date | None = None
) -> tuple[ScanResult, tuple[FixAge, ...]]:
    """Scan the image's inventory and date each fixable finding's fix by its advisories."""
    result = scan(facts.inventory, db, vex=scope_vex(vex, facts))
    fixable = [f for f in result.findings if f.status == FIXABLE]
    advisories = db.advisories_for({i for f in fixable for i in f.ids})
    today = today or datetime.now(UTC).date()
    ages: list[FixAge] = []
    for f in fixable:
        dates = sorted(
            a.published[:10] or a.modified[:10]
            for i in f.ids
            for a in advisories.get(i, [])
            if a.published or a.modified
        )
        when = dates[0] if dates else ""
        days = _days_since(when, today)
        ages.append(FixAge(f, when, days))
    return result, tuple(ages)


def scope_vex(statements: Sequence[VexStatement], facts: ImageFacts) -> list[VexStatement]:
    """The statements as they bear on this image: products that name another image (an OCI
    purl with another digest, or another reference) are dropped with their subcomponents, and
    a product naming the image by its index digest is taken to name its manifest."""
    out: list[VexStatement] = []
    for st in statements:
        products = []
        for product in st.products:
            digest = _oci_digest(product.id)
            if digest is None:
                products.append(product)
            elif digest in ("", facts.digest, facts.index_digest):
                products.append(dataclasses.replace(product, id=facts.reference))
        if products:
            out.append(dataclasses.replace(st, products=tuple(products)))
    return out


def _oci_digest(product_id: str) -> str | None:
    """The digest an OCI purl product names ("" for any), None when it is not an OCI purl."""
    if not product_id.startswith("pkg:oci/"):
        return None
    from packageurl import PackageURL

    try:
        return PackageURL.from_string(product_id).version or ""
    except ValueError:
        return None


def _days_since(iso: str, today: date) -> int | None:
    try:
        return (today - date.fromisoformat(iso[:10])).days
    except ValueError:
        return None


def distro_support(facts: ImageFacts, *, today: date | None = None) -> DistroSupport:
    os = facts.inventory.os
    if os.id != "debian":
        return DistroSupport("", os.version_id, "", "", None)
    codename = os.version_codename or _BY_VERSION.get(os.version_id.split(".")[0], "")
    known = DEBIAN_SUPPORT.get(codename)
    if known is None:
        return DistroSupport(codename, os.version_id, "", "", None)
    today = today or datetime.now(UTC).date()
    days = (date.fromisoformat(known[2]) - today).days
    return DistroSupport(codename, known[0], known[1], known[2], days)


def find_artifacts(facts: ImageFacts, *, insecure: bool = False) -> Artifacts:
    """Whether a signature, provenance and an SBOM are stored beside the image (cosign tags),
    or SBOM files beside an OCI layout (as `hardbase build` writes them)."""
    from hardbase.attest import cosign
    from hardbase.attest.store import existing_layers, open_store

    ref = parse_reference(facts.reference)
    if ref.transport not in ("docker", "oci"):
        return Artifacts(
            None, None, _sbom_files(facts), note=f"{ref.transport}: holds no artifacts"
        )
    try:
        with open_store(ref, insecure=insecure) as store:
            digest = store.resolve().digest
            signature = bool(existing_layers(store, digest.cosign_tag("sig"), cosign.SIMPLESIGNING))
            predicates = tuple(
                (d.annotations or {}).get(cosign.PREDICATE_ANNOTATION, "")
                for d in existing_layers(store, digest.cosign_tag("att"), cosign.DSSE_ENVELOPE)
            )
            sbom_tag = store.get_tagged(digest.cosign_tag("sbom")) is not None
    except HardbaseError as exc:
        log.warning("cannot look for artifacts beside %s: %s", facts.reference, exc.diagnostics())
        return Artifacts(None, None, _sbom_files(facts), note=exc.diagnostics())
    provenance = any(p.startswith(SLSA_PREFIX) for p in predicates)
    sbom = sbom_tag or any(p in SBOM_PREDICATES for p in predicates) or bool(_sbom_files(facts))
    return Artifacts(signature, provenance, sbom, predicates)


def _sbom_files(facts: ImageFacts) -> bool | None:
    ref = parse_reference(facts.reference)
    if ref.path is None:
        return None
    base = ref.path
    candidates = list(base.parent.glob(f"{base.name}*.spdx.json")) + list(
        base.parent.glob(f"{base.name}*.cdx.json")
    )
    if base.is_dir():
        candidates += list(base.glob("*.spdx.json")) + list(base.glob("*.cdx.json"))
    return bool(candidates) or None


def check_reproducible(facts: ImageFacts, spec_path: Path) -> tuple[bool, str]:
    """Rebuild `spec_path` from its lock into a temporary layout and compare manifest digests."""
    from hardbase.build.pipeline import build
    from hardbase.build.spec import load_spec

    spec = load_spec(spec_path)
    if not spec.lock_path.exists():
        return False, f"{spec.lock_path} does not exist: the image has no pinned lock to rebuild"
    with tempfile.TemporaryDirectory(prefix="hardbase-rebuild-") as tmp:
        result = build(spec, Path(tmp) / "image")
    arch = facts.architecture or "amd64"
    rebuilt = result.manifests.get(arch, "")
    if rebuilt == facts.digest:
        return True, f"rebuilt from {spec.lock_path}: same manifest digest {rebuilt}"
    return False, f"rebuilt from {spec.lock_path}: {rebuilt}, the image is {facts.digest}"


def smoke_run(
    facts: ImageFacts, command: str, *, timeout: int = 300, insecure: bool = False
) -> tuple[bool | None, str]:
    """Run `command` (its first word as the entrypoint) in the image with podman, no network."""
    if shutil.which("podman") is None:
        return None, "podman is not installed"
    ref = parse_reference(facts.reference)
    if ref.transport == "dir":
        return None, "dir: is not an image podman can run"
    argv = shlex.split(command)
    if not argv:
        return None, "empty smoke command"
    target = str(ref) if ref.transport != "docker" else f"docker://{ref.docker_reference}"
    pull = ["--tls-verify=false"] if insecure and ref.transport == "docker" else []
    cmd = [*PODMAN, "run", "--rm", *PODMAN_RUN, *pull, "--entrypoint", argv[0], target, *argv[1:]]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return False, f"`{command}` did not finish within {timeout} s"
    except OSError as exc:
        return None, f"podman could not start: {exc.strerror}"
    if done.returncode == 0:
        out = done.stdout.strip().splitlines()
        return True, f"`{command}` exited 0" + (f": {out[-1][:120]}" if out else "")
    err = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return False, f"`{command}` exited {done.returncode}: {err[:200]}"


def lock_pinned(facts: ImageFacts) -> bool:
    """Whether the image records the hardbase lock it was built from."""
    return "dev.hardbase.lock.spec-sha256" in facts.annotations


def to_json_safe(value: object) -> object:
    return json.loads(json.dumps(value, default=str))
