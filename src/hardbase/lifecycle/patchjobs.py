"""The controller's source-patching loop: from a CVE Debian leaves open to a patched image.

A patch pass runs before the images are planned (`Controller.run_once`):

1. **Retire.** A published patch whose CVEs Debian's own package no longer has
   (a version in the release's suites that the database does not find them in:
   the tracker says resolved at or below it, or its changelog names the fix) is
   marked retired (`patch-retired`), and each image holding a hardbase rebuild
   of that source (any `+hbN`: this one, an older one, one an earlier pass did not
   move off) and no live one is relocked against Debian alone, back onto Debian's
   binary.
2. **Decide.** For every managed image with patching on, the tracker's open CVEs
   of its published lock (`patching.open_cves`) at or above `min_severity` are
   grouped by source version into one patch job each, keyed by source + base
   version + the hash of its inputs (the CVEs, the `patches:` files naming them,
   the fleet's `sources`; for a `newer-debian` search, the source's version in each
   newer suite, read from their signed Sources indexes), so the same inputs are never
   built twice, and a failed build is not retried until they change (a newer suite's
   new upload is a new job). A `patches:` file naming the CVE is a
   candidate at once (`patch-candidate`, once per CVE, source, version and
   candidate); a `newer-debian` candidate is found by the job's first step.
3. **Build and publish.** `run_patch_job` takes a job under a lease through
   `queued -> built -> published`: `patch.build.build_patched` fetches the
   sources, finds or takes the fix, builds in the hermetic build root
   (`patch-built`), then the rebuild is published to the fleet's archive
   (`patch.repo`, signed with `patch.archive_key`). A failure is `patch-failed`
   with the build log, and a webhook.
4. **Relock.** Each image that holds the source (and not the rebuild yet) gets a
   job whose lock is resolved against Debian plus the fleet's archive (its
   `R-hardbase` suite at `patch.url`, signed by its public key), moving only the
   source's binaries: the resolver takes `+hbN`, the highest version. The image
   job then builds, verifies (the rescan must not find the CVE: the rebuild's
   pedigree says `fixed`), signs (with the OpenVEX `fixed` attestation) and
   pushes as any other.

The clock of a patched CVE runs from its first `patch-candidate` to the publish
of the image job that took the rebuild (`lifecycle.status.patched`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hardbase.build.lock import Lock
from hardbase.build.spec import ImageSpec
from hardbase.build.variants import load_variant
from hardbase.debian.model import DEFAULT_KEYRING, SourceEntry
from hardbase.debian.version import compare_versions, hb_revision
from hardbase.errors import ArchiveError, HardbaseError, IntegrityError, UsageError
from hardbase.lifecycle import plan as planning
from hardbase.lifecycle.fleet import ManagedImage, PatchSettings
from hardbase.lifecycle.jobplan import JobPlan, LockChange
from hardbase.lifecycle.patching import OpenCVE, open_cves, to_patch
from hardbase.lifecycle.report import Outcome, PassReport
from hardbase.lifecycle.state import PATCH_RUNNABLE, PatchJob, PatchState, StateDB, StateError
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import NOT_AFFECTED_STATUS, match_inventory

if TYPE_CHECKING:
    from hardbase.lifecycle.controller import Controller
    from hardbase.patch.trees import Archives

log = logging.getLogger(__name__)

SUITE_SUFFIX = "-hardbase"
FIX_PREFIX = "patch"  # the fix keys (`lc_fixes`) of an image job that takes a rebuild


def fix_key(job_id: int, cve: str) -> str:
    """How an image job's plan names the patched CVE it publishes (the clock's end)."""
    return f"{FIX_PREFIX}:{job_id}:{cve}"


# -- the spec with the fleet's archive --------------------------------------------------------


def with_fleet_archive(spec: ImageSpec, settings: PatchSettings) -> ImageSpec:
    """`spec` resolving also against the fleet's archive (`R-hardbase` at `patch.url`)."""
    entry = SourceEntry(
        uris=(settings.url,),
        suites=(f"{spec.release}{SUITE_SUFFIX}",),
        signed_by=settings.public_key or DEFAULT_KEYRING,
    )
    if entry in spec.sources:
        return spec
    return dataclasses.replace(spec, sources=(*spec.sources, entry))


def spec_for_lock(spec: ImageSpec, lock: Lock | None, settings: PatchSettings | None) -> ImageSpec:
    """The spec `lock` was resolved from: `spec` itself, or `spec` with the fleet's archive
    (an image holding a rebuild); a lock names its spec by the resolution hash."""
    if settings is None or lock is None or lock.spec_hash == spec.resolution_hash():
        return spec
    archived = with_fleet_archive(spec, settings)
    return archived if lock.spec_hash == archived.resolution_hash() else spec


def patching_on(image: ManagedImage, settings: PatchSettings | None) -> bool:
    return settings is not None and image.patch and image.inplace is None


# -- what needs patching ----------------------------------------------------------------------


@dataclass(frozen=True)
class PatchNeed:
    """One source version's CVEs to fix, and the images that hold it."""

    source: str
    version: str
    release: str
    cves: tuple[str, ...]
    patches: tuple[tuple[str, str], ...]  # (path, sha256) of the `patches:` files naming them
    images: tuple[str, ...]
    # what a `newer-debian` search reads: (suite, the source's version there), see newer_versions
    newer: tuple[tuple[str, str], ...] = ()

    def inputs(self, settings: PatchSettings) -> dict[str, Any]:
        inputs: dict[str, Any] = {
            "cves": list(self.cves),
            "patches": [list(p) for p in self.patches],
            "sources": list(settings.sources),
        }
        if self.newer:
            inputs["newer"] = [list(n) for n in self.newer]
        return inputs

    def key(self, settings: PatchSettings) -> str:
        digest = hashlib.sha256(
            json.dumps(self.inputs(settings), sort_keys=True).encode()
        ).hexdigest()
        return f"{self.source}@{self.version}@{self.release}#{digest[:32]}"


def published_lock(state: StateDB, image: ManagedImage) -> Lock | None:
    """The lock of the image's published build (nothing is patched before a first publish)."""
    known = state.image(image.name)
    if known is None or not known.lock_hash:
        return None
    body = state.lock_body(known.lock_hash)
    return None if body is None else Lock.from_json(json.loads(body), f"lock {known.lock_hash}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def newer_versions(
    settings: PatchSettings, source: str, release: str
) -> tuple[tuple[str, str], ...]:
    """What a `newer-debian` search of `source` reads, from the newer suites' signed Sources
    indexes (cached by hash; no source is fetched): (suite, the highest version there, "" when
    the suite lacks it, "unread" when it cannot be read), so a new upload there is a new job."""
    from hardbase.debian.archive import Archive
    from hardbase.source.fetch import SourceNotFound, select_source
    from hardbase.util.paths import cache_dir

    try:
        suites = archives_of(settings).newer(release)
    except UsageError:
        return ()  # no newer suites are known: the job's search says so
    out = []
    for label, entries in suites:
        try:
            sources, _ = Archive(entries, cache_dir=cache_dir() / "archive").load_sources_signed()
            version = select_source(sources, source).version
        except SourceNotFound:
            version = ""
        except (ArchiveError, IntegrityError):
            version = "unread"  # the search skips it too
        out.append((label, version))
    return tuple(out)


def patch_needs(
    state: StateDB, images: Sequence[ManagedImage], db: VulnDB, settings: PatchSettings
) -> list[PatchNeed]:
    """The CVEs at or above `min_severity` the images' published locks leave open, by source
    version; each `patches:` file naming one is recorded as its candidate."""
    grouped: dict[tuple[str, str, str], dict[str, OpenCVE]] = {}
    holders: dict[tuple[str, str, str], set[str]] = {}
    for image in images:
        lock = published_lock(state, image)
        if lock is None or not patching_on(image, settings):
            continue
        still = {(i, f.package.source_name or f.package.name)
                 for f in planning.lock_findings(lock, db) if f.status != NOT_AFFECTED_STATUS
                 for i in f.ids}  # fmt: skip
        for found in to_patch(open_cves(lock, db, settings), settings):
            if (found.cve, found.source) not in still:
                continue  # another source (a changelog, a VEX) says it is fixed
            if any(hb_revision(p.version) is not None for p in lock.all_packages()
                   if p.source == found.source):  # fmt: skip
                continue  # the image holds a rebuild of it: retiring decides its future
            where = (found.source, found.version, found.release)
            grouped.setdefault(where, {})[found.cve] = found
            holders.setdefault(where, set()).add(image.name)
    needs = []
    for (source, version, release), cves in sorted(grouped.items()):
        files: dict[str, str] = {}
        for found in cves.values():
            for patch in found.patches:
                files[str(patch.path)] = sha = _sha256(patch.path)
                state.see_patch_candidate(
                    found.cve, source, version, f"patches-dir:{patch.path.name}:{sha[:16]}",
                    origin=patch.origin, severity=found.severity.label,
                    images=sorted(holders[(source, version, release)]),
                )  # fmt: skip
        searched = not files and "newer-debian" in settings.sources  # the job's find step
        needs.append(
            PatchNeed(
                source,
                version,
                release,
                tuple(sorted(cves)),
                tuple(sorted(files.items())),
                tuple(sorted(holders[(source, version, release)])),
                newer_versions(settings, source, release) if searched else (),
            )  # fmt: skip
        )
    return needs


def queue_patch_jobs(
    state: StateDB, needs: Iterable[PatchNeed], settings: PatchSettings
) -> list[PatchJob]:
    """One patch job per need (the same inputs give the same job, whatever it came to)."""
    out = []
    for need in needs:
        revision = _next_revision(state, settings, need)
        job, created = state.create_patch_job(
            need.key(settings), need.source, need.version, need.release,
            need.inputs(settings), revision, {"images": list(need.images)},
        )  # fmt: skip
        if created:
            log.info("patch job %d queued: %s %s for %s", job.id, need.source, need.version,
                     ", ".join(need.cves),
                     extra={"event": "patch-queued", "patch_job": job.id})  # fmt: skip
        out.append(job)
    return out


def _next_revision(state: StateDB, settings: PatchSettings, need: PatchNeed) -> int:
    """The N of +hbN: above the archive's and every earlier job's for this source version."""
    from hardbase.patch.build import next_revision

    taken = [
        j.revision
        for j in state.patch_jobs(source=need.source)
        if j.base_version == need.version and j.release == need.release
    ]
    in_repo = next_revision(settings.repo, need.release, need.source, need.version)
    return max([in_repo, *(n + 1 for n in taken)])


# -- running a patch job ----------------------------------------------------------------------


@dataclass(frozen=True)
class PatchOutcome:
    """What came of one patch job in a pass."""

    job: int
    source: str
    result: str  # published | failed | pending | error
    version: str = ""
    error: str = ""

    def as_outcome(self) -> Outcome:
        """The pass's outcome line (`patch:SOURCE: patch-published (VERSION)`); `watch` counts a
        failed build as a failure of the pass, an unfinished one as a job left to resume."""
        return Outcome(
            f"patch:{self.source}", f"patch-{self.result}", reason=self.version, error=self.error
        )


class PatchFailed(HardbaseError):
    """A patch job's build or publish failed; it is not retried until its inputs change."""


def run_patch_job(ctl: Controller, job_id: int) -> PatchOutcome:
    """Claim patch job `job_id` and run its remaining steps (build, publish to the archive).

    A plain function of the controller and the job id, so an executor can dispatch it.
    """
    settings = ctl.fleet.patch
    job = ctl.state.patch_job(job_id)
    if settings is None or job is None:
        raise StateError(f"patch job {job_id} does not exist or the fleet does not patch")
    claimed = ctl.state.claim_patch(job_id, ctl.owner, ctl.fleet.lease)
    if claimed is None:
        return PatchOutcome(job_id, job.source, "pending", error="another controller holds it")
    run = PatchRun(ctl, settings, claimed)
    try:
        run.run()
    except PatchFailed as exc:
        return PatchOutcome(job_id, job.source, "failed", error=str(exc))
    except HardbaseError as exc:
        message = exc.diagnostics()
        log.warning("patch job %d stopped: %s", job_id, message)
        try:
            ctl.state.release_patch(run.job, ctl.owner, message)
        except StateError as inner:
            log.warning("cannot release patch job %d: %s", job_id, inner.diagnostics())
        return PatchOutcome(job_id, job.source, "error", error=message)
    return PatchOutcome(job_id, job.source, "published", run.job.version)


class PatchRun:
    """One patch job through its remaining steps. The controller's `JobHooks` are told
    `patch-build` (the build made progress) and `patch-publish` (before the archive is
    written), where the crash-safety tests stop it."""

    def __init__(self, ctl: Controller, settings: PatchSettings, job: PatchJob) -> None:
        self.ctl = ctl
        self.state = ctl.state
        self.settings = settings
        self.job = job
        self.work = ctl.fleet.workdir / "patches" / str(job.id)
        self.log_dir = ctl.fleet.workdir / "patch-logs"

    def run(self) -> None:
        if self.job.state == PatchState.QUEUED or not self._outputs_exist():
            self.build()
        self.publish()

    def _outputs_exist(self) -> bool:
        files = [self.job.detail.get("dsc"), self.job.detail.get("provenance"),
                 *self.job.detail.get("debs", [])]  # fmt: skip
        return all(isinstance(f, str) and Path(f).is_file() for f in files)

    def fail(self, error: str, **detail: Any) -> NoReturn:
        if self.state.fail_patch(self.job, self.ctl.owner, error, **detail):
            self.ctl.notify(
                "patch-failed",
                {"patch_job": self.job.id, "source": self.job.source,
                 "version": self.job.base_version, "cves": list(self.job.cves), "error": error,
                 **detail},
            )  # fmt: skip
        log.warning("patch job %d (%s %s) failed: %s", self.job.id, self.job.source,
                    self.job.base_version, error,
                    extra={"event": "patch-failed", "patch_job": self.job.id})  # fmt: skip
        raise PatchFailed(error)

    def user_patches(self) -> list[Path]:
        return [Path(p[0]) for p in self.job.inputs.get("patches", [])]

    def build(self) -> None:
        """Take the fix (the user's, else a newer Debian suite's, found first), then build."""
        from hardbase.lifecycle.jobs import _HookProgress
        from hardbase.patch.build import build_patched
        from hardbase.repo.keys import password_from_env
        from hardbase.util.paths import cache_dir

        patches = self.user_patches()
        if not patches and "newer-debian" not in self.settings.sources:
            self.fail("no patches: file names these CVEs and patch.sources leaves out newer-debian")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if not patches:
            self.find()
        if self.work.exists():
            shutil.rmtree(self.work)  # what a killed build of this job left; ours alone
        self.state.renew_patch(self.job.id, self.ctl.owner, self.ctl.fleet.lease)
        try:
            built = build_patched(
                self.job.source, self.job.release, self.job.cves, repo=None, key=None,
                work=self.work, log_dir=self.log_dir, archives=self.archives(),
                cache_dir=cache_dir(), patches=patches, revision=self.job.revision,
                password=password_from_env(), progress=_HookProgress(self.ctl.hooks, "patch-build"),
            )  # fmt: skip
        except HardbaseError as exc:
            self.fail(exc.diagnostics(), log=self._log_path())
        self.state.renew_patch(self.job.id, self.ctl.owner, self.ctl.fleet.lease)
        origins = {}
        for applied in built.patches:
            c = applied.candidate
            kind = "patches-dir" if c.kind == "user" else "newer-debian"
            for cve in applied.cves:
                origins[cve] = {"kind": kind, "origin": c.origin, "patch": applied.name}
                self.state.see_patch_candidate(
                    cve, self.job.source, self.job.base_version, _candidate(kind, c),
                    origin=c.origin,
                )  # fmt: skip
        self.job = self.state.advance_patch(
            self.job, self.ctl.owner, PatchState.BUILT, "patch-built", version=built.version,
            detail={"work": str(self.work), "debs": [str(d) for d in built.debs],
                    "dsc": str(built.dsc), "provenance": str(built.provenance),
                    "log": str(built.result.log), "origins": origins, "fixes": list(built.cves),
                    "build_seconds": round(built.result.seconds, 3)},
            cves=list(built.cves), log=str(built.result.log),
        )  # fmt: skip

    def find(self) -> None:
        """The job's first step for `newer-debian`: fetch the sources and look for each CVE's
        fix in the newer suites; each one that applies is a `patch-candidate`."""
        from hardbase.patch.trees import search
        from hardbase.util.paths import cache_dir

        scratch = self.work.with_name(f"{self.job.id}-find")
        if scratch.exists():
            shutil.rmtree(scratch)
        try:
            for cve in self.job.cves:
                try:
                    found = search(
                        self.job.source, cve, self.job.release, scratch / cve,
                        archives=self.archives(), cache_dir=cache_dir(),
                    )  # fmt: skip
                except HardbaseError as exc:
                    self.fail(f"looking for a fix of {cve}: {exc.diagnostics()}")
                good = [c for c in found.candidates if c.check.clean]
                if not good:
                    self.fail(
                        f"no fix for {cve} in {self.job.source} {self.job.base_version} was "
                        "found in a newer Debian suite that applies; put one in patches:"
                    )
                for c in good:
                    self.state.see_patch_candidate(
                        cve, self.job.source, self.job.base_version, _candidate("newer-debian", c),
                        origin=c.origin,
                    )  # fmt: skip
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _log_path(self) -> str:
        """The build log of this job's revision, when the build got that far."""
        found = sorted(self.log_dir.glob(f"{self.job.source}_*hb{self.job.revision}_*.build.log"))
        return str(found[-1]) if found else ""

    def archives(self) -> Archives:
        return archives_of(self.settings)

    def publish(self) -> None:
        """Publish the rebuild to the fleet's archive, unless a killed run already did."""
        from hardbase.patch.build import publish_rebuild
        from hardbase.repo.keys import password_from_env

        detail = self.job.detail
        self.ctl.hooks.reached("patch-publish")
        if not _in_archive(self.settings.repo, self.job.release, self.job.source,
                           self.job.version):  # fmt: skip
            try:
                publish_rebuild(
                    self.settings.repo, self.job.release, [Path(d) for d in detail["debs"]],
                    Path(detail["dsc"]), Path(detail["provenance"]), self.settings.archive_key,
                    password_from_env(),
                )  # fmt: skip
            except HardbaseError as exc:
                self.fail(f"publishing to {self.settings.repo} failed: {exc.diagnostics()}")
        self.job = self.state.advance_patch(
            self.job, self.ctl.owner, PatchState.PUBLISHED, "patch-published",
            version=self.job.version, repo=str(self.settings.repo),
        )  # fmt: skip


def archives_of(s: PatchSettings) -> Archives:
    """Where the fleet's patch sources (and their build root) are read from."""
    from hardbase.patch.trees import Archives

    return Archives(
        s.mirror, s.security_mirror, s.keyring or DEFAULT_KEYRING,
        root_mirror=s.root_mirror, root_security_mirror=s.root_security_mirror,
        root_keyring=s.root_keyring,
    )  # fmt: skip


def _candidate(kind: str, c: Any) -> str:
    """How a `patch-candidate` event names a candidate: the source and the patch's sha256."""
    return f"{kind}:{c.name}:{c.sha256[:16]}"


def _in_archive(repo: Path, release: str, source: str, version: str) -> bool:
    """Whether REPO's `R-hardbase` Sources lists `source` `version` (it was published)."""
    sources = repo / "dists" / f"{release}{SUITE_SUFFIX}" / "main" / "source" / "Sources"
    if not sources.is_file():
        return False
    package = None
    for line in sources.read_text(errors="replace").splitlines():
        if line.startswith("Package: "):
            package = line.split(": ", 1)[1].strip()
        elif line.startswith("Version: ") and package == source:
            if line.split(": ", 1)[1].strip() == version:
                return True
    return False


def run_patch_jobs(ctl: Controller, report: PassReport) -> None:
    """Every runnable patch job, through the controller's executor (in-process threads,
    `max_builds` at a time, or Celery's `builds` queue)."""
    settings = ctl.fleet.patch
    if settings is None:
        return
    jobs = ctl.state.patch_jobs(states=PATCH_RUNNABLE)
    if not jobs:
        return
    report.outcomes.extend(ctl.executor.run_patches(ctl, jobs))  # `max_builds` at a time


# -- relocking onto a rebuild, and back ---------------------------------------------------------


def _binaries(lock: Lock, source: str) -> set[str]:
    return {p.name for p in lock.all_packages() if p.source == source}


def queue_relock(
    state: StateDB, image: ManagedImage, spec: ImageSpec, current: Lock, db: VulnDB, *,
    source: str, reason: str, fixes: Sequence[str] = (), targeted: Sequence[str] = (),
    keep: set[tuple[str, str]] | None = None,
) -> bool:  # fmt: skip
    """Queue the image's job for `current` relocked on `spec`'s archive, moving only `source`'s
    binaries; `keep` leaves out of the index the (source, version) pairs it must not take.
    False when the lock would not change."""
    import datetime as dt

    index, releases = planning.load_index(spec)
    if keep is not None:
        from hardbase.debian.index import PackageIndex

        index = PackageIndex(p for p in index.packages() if (p.source, p.source_version) in keep
                             or hb_revision(p.version) is None)  # fmt: skip
    new = planning.relock(spec, current, index, releases, mode="minimal",
                          targets=_binaries(current, source))  # fmt: skip
    lock_hash = planning.package_hash(new)
    known = state.image(image.name)
    if known is not None and known.lock_hash == lock_hash:
        return False
    findings = planning.lock_findings(current, db)
    state.see_fixes(image.name, list(fixes))
    state.put_lock(image.name, lock_hash, json.dumps(new.to_json(), indent=1))
    day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    plan = JobPlan(
        mode="minimal",
        targets=tuple(sorted(_binaries(current, source))),
        fixes=tuple(fixes),
        fix_findings=tuple(targeted),
        baseline=tuple(sorted({f"{f.id}|{f.package.name}" for f in findings})),
        changes=tuple(LockChange(**c) for c in planning.lock_changes(current, new)),
    )
    version_tag = f"{day}.{state.versions_on(image.name, day) + 1}"
    job, created = state.create_job(image.name, lock_hash, reason, plan.to_json(), version_tag)
    if created:
        log.info("%s: queued job %d: %s", image.name, job.id, reason,
                 extra={"image": image.name, "job": job.id, "event": "job-queued"})  # fmt: skip
    return created


def relock_onto(ctl: Controller, db: VulnDB, job: PatchJob, report: PassReport) -> set[str]:
    """Queue a job for every image that holds `job`'s source and not its rebuild yet."""
    settings = ctl.fleet.patch
    queued: set[str] = set()
    if settings is None:
        return queued
    for image in ctl.fleet.images:
        lock = published_lock(ctl.state, image)
        if lock is None or not patching_on(image, settings):
            continue
        versions = {p.source_version for p in lock.all_packages() if p.source == job.source}
        if not versions or any(hb_revision(p.version) is not None for p in lock.all_packages()
                               if p.source == job.source):  # fmt: skip
            continue
        spec = with_fleet_archive(load_variant(image.spec_path, image.variant), settings)
        cves = [c for c in job.cves if c in job.detail.get("fixes", job.cves)]
        try:
            queue_relock(
                ctl.state, image, spec, lock, db, source=job.source,
                reason=f"patch {', '.join(cves)}: {job.source} -> {job.version} "
                       "(hardbase's rebuild)",
                fixes=[fix_key(job.id, c) for c in cves],
                targeted=[f"finding:{c}:{job.source}" for c in cves],
                keep=_live_rebuilds(ctl.state),
            )  # fmt: skip
            queued.add(image.name)
        except HardbaseError as exc:
            message = exc.diagnostics()
            log.warning("%s: cannot relock onto %s %s: %s", image.name, job.source, job.version,
                        message)  # fmt: skip
            ctl.state.record(image.name, "plan-failed", error=message, patch_job=job.id)
            report.outcomes.append(Outcome(image.name, "error", error=message))
    return queued


def _live_rebuilds(state: StateDB) -> set[tuple[str, str]]:
    """(source, version) of the rebuilds images may take: published and not retired."""
    return {(j.source, j.version) for j in state.patch_jobs(states=(PatchState.PUBLISHED,))}


def debian_fixed(db: VulnDB, job: PatchJob, lock: Lock, spec: ImageSpec) -> str | None:
    """Debian's version of `job`'s source that none of its CVEs affects, when the release's
    suites have one at or above the version hardbase rebuilt; None while Debian has none."""
    index, _ = planning.load_index(spec)
    best: str | None = None
    for pkg in lock.all_packages():
        if pkg.source != job.source:
            continue
        for c in index.candidates(pkg.name, pkg.arch):
            if c.source == job.source and hb_revision(c.version) is None and (
                compare_versions(c.source_version, job.base_version) >= 0
            ) and (best is None or compare_versions(c.source_version, best) > 0):  # fmt: skip
                best = c.source_version
    if best is None:
        return None
    probe = dataclasses.replace(
        lock,
        packages={
            arch: tuple(
                dataclasses.replace(p, version=best, source_version=best)
                for p in pkgs
                if p.source == job.source
            )
            for arch, pkgs in lock.packages.items()
        },
    )
    inventory = planning.lock_inventory(probe, lock.release)
    still = {
        f.id
        for f in match_inventory(inventory, db)
        if f.status != NOT_AFFECTED_STATUS and (f.ids & set(job.cves))
    }
    return None if still else best


def rebuild_holders(
    state: StateDB, images: Iterable[ManagedImage], source: str, release: str
) -> list[tuple[ManagedImage, Lock, set[str]]]:
    """The images whose published lock holds a hardbase rebuild (`+hbN`, whichever N) of
    `source` for `release`, with the rebuilt versions it holds."""
    holders = []
    for image in images:
        lock = published_lock(state, image)
        if lock is None or lock.release != release:
            continue
        rebuilt = {p.version for p in lock.all_packages()
                   if p.source == source and hb_revision(p.version) is not None}  # fmt: skip
        if rebuilt:
            holders.append((image, lock, rebuilt))
    return holders


def retire_patches(ctl: Controller, db: VulnDB, report: PassReport) -> set[str]:
    """Retire the published patches Debian fixed; relock onto Debian's binary every image
    holding a rebuild of a retired patch's source that no live patch (published, not
    retired) made: this pass's, an older `+hbN`, one an earlier relock did not move off."""
    settings = ctl.fleet.patch
    queued: set[str] = set()
    if settings is None:
        return queued
    now_retired: dict[tuple[str, str], str] = {}  # (source, release) -> why, this pass
    for job in ctl.state.patch_jobs(states=(PatchState.PUBLISHED,)):
        holders = rebuild_holders(ctl.state, ctl.fleet.images, job.source, job.release)
        if not holders:
            continue
        image, lock, _ = holders[0]
        plain = load_variant(image.spec_path, image.variant)
        try:
            fixed = debian_fixed(db, job, lock, plain)
        except HardbaseError as exc:
            report.warnings.append(f"checking Debian's fix of {job.source}: {exc.diagnostics()}")
            continue
        if fixed is None:
            continue
        ctl.state.retire_patch(job, debian_version=fixed, images=[h[0].name for h in holders])
        log.info("patch job %d retired: Debian's %s %s fixes %s", job.id, job.source, fixed,
                 ", ".join(job.cves),
                 extra={"event": "patch-retired", "patch_job": job.id})  # fmt: skip
        now_retired[(job.source, job.release)] = (
            f"retire hardbase's {job.source} {job.version}: Debian's {fixed} "
            f"fixes {', '.join(job.cves)}"
        )
    live = {(j.source, j.release, j.version)
            for j in ctl.state.patch_jobs(states=(PatchState.PUBLISHED,))}  # fmt: skip
    retired = {(j.source, j.release): j for j in ctl.state.patch_jobs(states=(PatchState.RETIRED,))}
    for (source, release), job in sorted(retired.items()):
        reason = now_retired.get(
            (source, release),
            f"hardbase's {source} {job.version} was retired: back to Debian's binary",
        )
        for image, lock, rebuilt in rebuild_holders(ctl.state, ctl.fleet.images, source, release):
            if image.name in queued or any((source, release, v) in live for v in rebuilt):
                continue  # a live rebuild of the source: retiring that one decides
            spec = load_variant(image.spec_path, image.variant)
            try:
                created = queue_relock(ctl.state, image, spec, lock, db, source=source,
                                       reason=reason)  # fmt: skip
            except HardbaseError as exc:
                message = exc.diagnostics()
                ctl.state.record(image.name, "plan-failed", error=message, patch_job=job.id)
                report.outcomes.append(Outcome(image.name, "error", error=message))
                continue
            if created or (source, release) in now_retired:
                queued.add(image.name)
    return queued


def patch_pass(ctl: Controller, db: VulnDB, report: PassReport) -> set[str]:
    """Retire, decide, build and publish, relock: the images it queued a job for this pass
    (the controller does not plan them again in the same pass)."""
    settings = ctl.fleet.patch
    if settings is None:
        return set()
    queued = retire_patches(ctl, db, report)
    images = [i for i in ctl.fleet.images if i.name not in queued]
    try:
        needs = patch_needs(ctl.state, images, db, settings)
    except HardbaseError as exc:
        report.warnings.append(f"finding what to patch: {exc.diagnostics()}")
        return queued
    queue_patch_jobs(ctl.state, needs, settings)
    run_patch_jobs(ctl, report)
    for job in ctl.state.patch_jobs(states=(PatchState.PUBLISHED,)):
        queued |= relock_onto(ctl, db, job, report)
    return queued
