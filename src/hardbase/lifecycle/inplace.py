"""The controller's `patch: in-place` images: upstream images kept patched by patch-image.

A fleet entry `image: docker://…` with `patch: in-place` names an image hardbase
did not build. Each pass the upstream's top digest is read; a digest not seen
before is copied once into the work directory (`upstream/NAME`, tagged by its
digest), so a job patches exactly the base its plan saw even when the upstream
tag moves meanwhile. `patch.image.plan_patch` then says which installed packages
the release's signed suites can upgrade to a version that fixes a fixable finding.
The plan's identity (base digest, `only`, each upgrade's name, version and sha256)
is the job's lock hash: the same base and the same upgrades are one job and one
publish; a new fix or a new upstream digest is a new one. Upgrades that need a
rebuild (a maintainer script, a missing dependency) never make a job; they are
recorded once as a `needs-rebuild` event.

The job then runs the controller's steps: *build* is `patch_image` from the
staged base into the job's layout (refused when the archive moved since the
plan), *verify* the controller's scan gate (the targeted findings gone, the
upgraded packages at their new versions, nothing new at or above the threshold)
and smoke command, *sign* the patch-image documents (signature, SPDX and
CycloneDX SBOMs naming the version tag and dated like the image, SLSA
provenance with the base digest and each .deb, OpenVEX of the CVEs fixed) and
the policy, then push and tag as for built images.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from hardbase.errors import HardbaseError, ImageError
from hardbase.lifecycle.fleet import InPlace, ManagedImage
from hardbase.lifecycle.jobs import BUILD_TAG, JobRun
from hardbase.lifecycle.report import Outcome
from hardbase.lifecycle.state import BUILT, QUEUED, SIGNED, StateError
from hardbase.patch.image import Archives, PatchResult, PlatformPatch, Skipped, Upgrade
from hardbase.util.digest import Digest, DigestError
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import FIXABLE, NOT_AFFECTED_STATUS, Finding

if TYPE_CHECKING:
    from hardbase.lifecycle.controller import Controller

log = logging.getLogger(__name__)

PLAN_VERSION = 1  # of the plan document stored as the job's lock body
NEEDS_REBUILD = "needs-rebuild"


def _archives(src: InPlace) -> Archives:
    return Archives(src.mirror, src.security_mirror, src.keyring)


def staged_ref(ctl: Controller, image: ManagedImage, digest: Digest) -> str:
    """The local copy of the upstream image at `digest`."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", image.name)
    return f"oci:{ctl.fleet.workdir / 'upstream' / safe}:{digest.hex}"


def stage_upstream(ctl: Controller, image: ManagedImage) -> tuple[str, Digest]:
    """(local reference, digest) of the upstream image as it is now; copied once per digest."""
    from hardbase.oci.copy import copy
    from hardbase.oci.layout import Layout
    from hardbase.oci.transports.open import open_source

    src = image.inplace_source
    with open_source(src.upstream, insecure=src.insecure) as source:
        digest = source.top().digest
    local = staged_ref(ctl, image, digest)
    root = ctl.fleet.workdir / "upstream" / local.split(":")[1].rsplit("/", 1)[-1]
    try:
        Layout.open(root).find(digest.hex)
        return local, digest
    except HardbaseError:
        pass
    result = copy(src.upstream, local, insecure=src.insecure)
    if result.digest != digest:  # the tag moved while it was read: take what was copied
        moved = staged_ref(ctl, image, result.digest)
        copy(local, moved)
        local, digest = moved, result.digest
    return local, digest


def _key(f: Finding) -> str:
    return f"finding:{f.id}:{f.package.source_name or f.package.name}"


def _counts(findings: list[Finding]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        if f.status != NOT_AFFECTED_STATUS:
            out[f.status] = out.get(f.status, 0) + 1
    return out


def _main_platform(platforms: list[PlatformPatch]) -> PlatformPatch | None:
    """The platform the controller's gate scans (amd64 when there is one, as `resolve`)."""
    for p in platforms:
        if p.platform.endswith("/amd64"):
            return p
    return platforms[0] if platforms else None


def plan_document(upstream: str, only: str, patch: PatchResult) -> dict[str, Any]:
    return {
        "inPlace": PLAN_VERSION,
        "upstream": upstream,
        "base": patch.base_digest,
        "only": only,
        "platforms": [
            {
                "platform": p.platform,
                "upgrades": [dataclasses.asdict(u) for u in p.upgrades],
                "needs_rebuild": [dataclasses.asdict(s) for s in p.needs_rebuild],
            }
            for p in patch.platforms
        ],
    }


def plan_hash(doc: dict[str, Any]) -> str:
    """The identity of a patch: its base, `only`, and each upgrade's name, version, sha256."""
    identity = {
        "base": doc["base"],
        "only": doc["only"],
        "upgrades": [
            [p["platform"], u["name"], u["new"], u["sha256"]]
            for p in doc["platforms"]
            for u in p["upgrades"]
        ],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def read_plan(body: str, where: str) -> PatchResult:
    """The patch a plan document describes (digest ""), as `plan_patch` returned it."""
    try:
        doc = json.loads(body)
        return PatchResult(
            "",
            Digest(doc["base"], "(its base)"),
            [
                PlatformPatch(
                    str(p["platform"]),
                    tuple(Upgrade(**{**u, "fixes": tuple(u["fixes"])}) for u in p["upgrades"]),
                    tuple(Skipped(**{**s, "ids": tuple(s["ids"])}) for s in p["needs_rebuild"]),
                )
                for p in doc["platforms"]
            ],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageError(f"{where} is not an in-place patch plan ({exc})") from None
    except DigestError as exc:
        raise ImageError(f"{where} is not an in-place patch plan: {exc}") from None


def is_plan(body: str) -> bool:
    """True when a state lock body is an in-place plan, not a build lock."""
    return body.lstrip().startswith("{") and '"inPlace"' in body[:200]


def plan_inplace(ctl: Controller, image: ManagedImage, db: VulnDB) -> Outcome | None:
    """Plan one pass of an in-place image: queue a job when its patch changed (None), or
    say it is unchanged."""
    from hardbase.patch.image import plan_patch
    from hardbase.vuln.inventory import inventory
    from hardbase.vuln.scan import scan

    src = image.inplace_source
    state = ctl.state
    state.ensure_image(image.name, f"in-place {src.upstream}", image.tags)
    known = state.image(image.name)
    published = known is not None and bool(known.digest)
    local, digest = stage_upstream(ctl, image)
    patch = plan_patch(local, db=db, only=src.only, archives=_archives(src))
    doc = plan_document(src.upstream, src.only, patch)
    lock_hash = plan_hash(doc)
    _record_needs_rebuild(ctl, image, patch)
    findings = [f for f in scan(inventory(local).inventory, db).findings
                if f.status != NOT_AFFECTED_STATUS]  # fmt: skip
    main = _main_platform(patch.platforms)
    upgrades = main.upgrades if main is not None else ()
    fixed = {(u.name, i) for u in upgrades for i in u.fixes}
    fix_findings = sorted(
        {_key(f) for f in findings if f.status == FIXABLE and (f.package.name, f.id) in fixed}
    )
    if published and known is not None and known.lock_hash == lock_hash:
        state.set_checked(image.name, _counts([f for f in findings if _key(f) not in fix_findings]))
        return Outcome(image.name, "unchanged", reason="no new fix or base")
    fixes = fix_findings + [f"package:{u.name}:{u.arch}={u.new}" for u in upgrades]
    state.see_fixes(image.name, fixes)
    state.put_lock(image.name, lock_hash, json.dumps(doc, indent=1, sort_keys=True))
    changes = [{"package": u.name, "arch": u.arch, "old": u.old, "new": u.new} for u in upgrades]
    shown = ", ".join(f"{c['package']} {c['old']} -> {c['new']}" for c in changes[:5])
    more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
    base_moved = known is not None and _published_base(ctl, known.lock_hash) not in ("", digest)
    reason = "first publish" if not published else ("new upstream" if base_moved else "new fixes")
    reason += f" of {src.upstream}@{digest}: " + (
        f"patch {len(changes)} packages ({shown}{more})" if changes else "nothing to patch"
    )
    plan = {
        "mode": "in-place",
        "targets": sorted({u.name for p in patch.platforms for u in p.upgrades}),
        "fixes": fixes,
        "fix_findings": fix_findings,
        "baseline": sorted({f"{f.id}|{f.package.name}" for f in findings}),
        "changes": changes,
    }
    day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    version_tag = f"{day}.{state.versions_on(image.name, day) + 1}"
    job, created = state.create_job(image.name, lock_hash, reason, plan, version_tag)
    if created:
        log.info("%s: queued job %d: %s", image.name, job.id, reason,
                 extra={"image": image.name, "job": job.id, "event": "job-queued"})  # fmt: skip
    return None


def _published_base(ctl: Controller, lock_hash: str) -> str:
    body = ctl.state.lock_body(lock_hash) if lock_hash else None
    if body is None or not is_plan(body):
        return ""
    return read_plan(body, "the published plan").base_digest


def _record_needs_rebuild(ctl: Controller, image: ManagedImage, patch: PatchResult) -> None:
    """A `needs-rebuild` event when the upgrades left out differ from the last one's."""
    left = sorted(
        f"{p.platform} {s.name} {s.version}: {s.reason} ({', '.join(s.ids)})"
        for p in patch.platforms
        for s in p.needs_rebuild
    )
    last = ctl.state.events(image.name, NEEDS_REBUILD)
    if (last[-1].detail.get("packages", []) if last else []) == left:
        return
    ctl.state.record(image.name, NEEDS_REBUILD, packages=left, base=patch.base_digest)
    for line in left:
        log.warning("%s: needs a rebuild, not patched in place: %s", image.name, line)


class InPlaceRun(JobRun):
    """A job of an in-place image: the controller's steps, with patch-image's build and sign."""

    def load(self) -> None:
        body = self.state.lock_body(self.job.lock_hash)
        if body is None:
            raise StateError(f"the patch plan {self.job.lock_hash} of job {self.job.id} is missing")
        self.patch = read_plan(body, f"the plan of job {self.job.id}")
        self.src = self.image.inplace_source

    def ensure_built(self) -> bool:
        return _ensure_patched(self)

    def sign(self, *, advance: bool = True) -> None:
        _sign(self, advance=advance)


def _ensure_patched(run: InPlaceRun) -> bool:
    """Patch the staged base into the job's layout unless it holds the patch already."""
    from hardbase.patch.image import patch_image

    have = run._has_build()
    if have is not None and have == (run.job.digest or have):
        if run.job.state == QUEUED:
            run.job = run.state.advance(run.job, run.owner, BUILT, "built", digest=have)
        return False
    started = time.time()
    base = staged_ref(run.ctl, run.image, run.patch.base_digest)
    try:
        result = patch_image(
            base, f"oci:{run.layout}:{BUILD_TAG}", db=run.db, only=run.src.only,
            archives=_archives(run.src),
        )  # fmt: skip
    except HardbaseError as exc:
        run.fail("build-failed", f"patch-image failed: {exc.diagnostics()}")
    planned = [[(u.name, u.new, u.sha256) for u in p.upgrades] for p in run.patch.platforms]
    got = [[(u.name, u.new, u.sha256) for u in p.upgrades] for p in result.platforms]
    if planned != got:
        run.fail(
            "build-failed",
            "patch-image chose other packages than the plan (the archive or the findings "
            "moved since); the next pass plans again",
        )
    run.record_build(result.digest, started, layers={p.platform: p.layer for p in result.platforms})
    return True


def _sign(run: InPlaceRun, *, advance: bool = True) -> None:
    """Sign the patched image and attach patch-image's documents, then judge the policy."""
    from hardbase.oci.reference import parse_reference
    from hardbase.oci.transports.open import open_source
    from hardbase.patch.attest import sign_patched

    with open_source(run.ref) as source:
        created = str(source.resolve().config.get("created") or "")
    when = None
    if created:
        try:
            when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            when = None
    result = dataclasses.replace(run.patch, digest=run.job.digest)
    attached = sign_patched(
        parse_reference(run.ref), result, run.fleet.sign_key, run.ctl.key_password,
        source=f"{run.src.upstream}@{run.patch.base_digest}", only=run.src.only,
        started=run.started, finished=dt.datetime.now(dt.UTC), identity=run.identity(),
        subject=f"docker://{run.identity()}:{run.version_tags()[0]}", created=when,
        invocation_id=f"hardbase-watch/job/{run.job.id}",
    )  # fmt: skip
    if not advance:
        return
    verdict, warnings = run.check_policy()
    run.job = run.state.advance(
        run.job, run.owner, SIGNED, "signed", key=str(run.fleet.sign_key),
        attestations=attached, policy=verdict, policy_warnings=warnings,
    )  # fmt: skip
