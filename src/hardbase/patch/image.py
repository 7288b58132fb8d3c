"""`hardbase patch-image`: fixed Debian packages put into any Debian-format image as one layer.

As Copacetic does, without the image's Dockerfile and without running anything
inside it. For each platform of the image:

1. its release (/etc/os-release) and dpkg database are read from the layers;
2. its fixable Debian findings come from hardbase's scanner, or from a Trivy or
   hardbase JSON report of the same image (`--report`);
3. the release's suites (`R`, `R-updates`, `R-security`; only `R-security` with
   `only="security"`) are read through their signed InRelease, and for each
   package with a finding the newest version that fixes one is taken;
4. an installed package a new version needs newer (its Depends, its Breaks/Conflicts,
   or the installed package's on it) is upgraded too when the suites have a version that
   meets the relation, as apt would; a dependency of a new version that the image does
   not satisfy is resolved from the same suites (an `a | b` alternative or a package
   that `Provides:` it) and added as a new package, if it and its own new dependencies
   have no maintainer script (preinst/postinst/prerm/postrm, config, triggers),
   conflict with or break nothing installed and own no installed file
   (`patch/relations.py`); an upgrade that would need a maintainer script to run (a new
   or changed one) or a dependency that cannot be added so is reported as "needs a
   rebuild" and left out, as is every upgrade that would break an installed package's
   dependency or violate a Conflicts/Breaks;
5. the chosen .debs are downloaded (size and sha256 from the signed index) and
   read with the build's hostile-member checks, and one deterministic layer is
   written: the new payloads, whiteouts for the files the old versions had and
   the new ones lack, and the dpkg database as dpkg would leave it.

Config, history, labels and entrypoint are kept; the manifest gains the
`org.opencontainers.image.base.digest` annotation and the history an entry
naming hardbase. Nothing is written to the destination until every platform's
layer is ready.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbase.build.tree import REG, Entry
from hardbase.debian.model import DEFAULT_KEYRING, BinaryPackage, SourceEntry
from hardbase.errors import ImageError, UsageError
from hardbase.oci.append import append_layers, layer_mtime, with_parents
from hardbase.oci.filetree import WHITEOUT, FileTreeResult, walk_layers
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.oci.transports.interface import ImageSource, ResolvedImage
from hardbase.patch import dpkgdb, relations
from hardbase.util.digest import Digest
from hardbase.util.progress import NullProgress, Progress
from hardbase.vuln import inventory as inv
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import compare_debian

if TYPE_CHECKING:
    from hardbase.oci.transports.oci_layout import OCILayoutSource

log = logging.getLogger(__name__)

DESTINATIONS = ("oci", "docker", "oci-archive")
ONLY = ("fixable", "security")
MIRRORS = {
    "debian": ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security"),
    "ubuntu": ("http://archive.ubuntu.com/ubuntu", "http://security.ubuntu.com/ubuntu"),
}
KEYRINGS = {
    "debian": DEFAULT_KEYRING,
    "ubuntu": Path("/usr/share/keyrings/ubuntu-archive-keyring.gpg"),
}
COMPONENTS = {"debian": ("main",), "ubuntu": ("main", "universe")}
# The releases whose R, R-updates and R-security suites the default mirrors serve: Debian
# stable, oldstable and testing; Ubuntu's supported releases.
RELEASES = {
    "debian": ("bookworm", "trixie", "forky"),
    "ubuntu": ("focal", "jammy", "noble", "questing", "resolute"),
}


@dataclass(frozen=True)
class Wanted:
    """A fixable finding of one installed package: its id and the version that fixes it."""

    id: str
    package: str
    fixed_version: str


@dataclass(frozen=True)
class Upgrade:
    name: str
    old: str
    new: str
    suite: str
    fixes: tuple[str, ...]  # finding ids fixed
    url: str = ""  # of the .deb installed
    sha256: str = ""
    purl: str = ""  # of the new version
    arch: str = ""
    # for a package added as a new dependency (old ""), or upgraded only because another
    # upgrade needs it newer: the package needing it
    needed_by: str = ""


@dataclass(frozen=True)
class Skipped:
    name: str
    version: str  # the version that was not installed ("" when none fixes)
    reason: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class PlatformPatch:
    platform: str
    upgrades: tuple[Upgrade, ...] = ()
    needs_rebuild: tuple[Skipped, ...] = ()
    layer: str = ""  # digest of the new layer ("" when nothing changed)


@dataclass(frozen=True)
class PatchResult:
    digest: str  # of what DEST now names ("" when nothing was written)
    base_digest: Digest
    platforms: list[PlatformPatch] = field(default_factory=list)


@dataclass(frozen=True)
class Archives:
    """Where the fixed versions come from; empty fields take the release's defaults."""

    mirror: str = ""
    security_mirror: str = ""
    keyring: Path | None = None


def patch_image(
    src: str | ImageRef,
    dest: str | ImageRef,
    *,
    db: VulnDB | None = None,
    report: Path | None = None,
    only: str = "fixable",
    archives: Archives = Archives(),
    insecure: bool = False,
    progress: Progress | None = None,
) -> PatchResult:
    """Write `src` with its fixable Debian findings patched to `dest`."""
    src_ref = src if isinstance(src, ImageRef) else parse_reference(src)
    dest_ref = dest if isinstance(dest, ImageRef) else parse_reference(dest)
    if dest_ref.transport not in DESTINATIONS:
        raise UsageError(
            f"cannot write {dest_ref}: patch-image writes oci:DIR[:TAG], oci-archive:FILE[:TAG] "
            "or docker://HOST/REPO[:TAG]"
        )
    if only not in ONLY:
        raise UsageError(f"--only {only!r} is not one of {', '.join(ONLY)}")
    if (db is None) == (report is None):
        raise UsageError("patch-image needs either a vulnerability database or --report FILE")
    progress = progress or NullProgress()
    platforms: list[PlatformPatch] = []

    def plan(source: OCILayoutSource, image: ResolvedImage, tmp: Path) -> tuple[list[Entry], str]:
        entries, result = _plan_platform(
            source, image, src_ref, db, report, only=only, archives=archives, cache=tmp,
            progress=progress,
        )  # fmt: skip
        platforms.append(result)
        names = " ".join(f"{u.name}={u.new}" for u in result.upgrades)
        return entries, f"hardbase patch-image {names}"

    done = append_layers(src_ref, dest_ref, plan, insecure=insecure, progress=progress)
    return PatchResult(
        done.digest,
        done.source_digest,
        [replace(p, layer=done.layers[p.platform]) for p in platforms],
    )


def plan_patch(
    src: str | ImageRef,
    *,
    db: VulnDB,
    only: str = "fixable",
    archives: Archives = Archives(),
    progress: Progress | None = None,
) -> PatchResult:
    """What `patch_image` would do to `src`, a local image (oci:…), without writing it.

    The result's `digest` is "" and each platform's `layer` is "".
    """
    import tempfile

    from hardbase.oci.transports.open import open_source

    src_ref = src if isinstance(src, ImageRef) else parse_reference(src)
    if only not in ONLY:
        raise UsageError(f"--only {only!r} is not one of {', '.join(ONLY)}")
    progress = progress or NullProgress()
    platforms = []
    with open_source(src_ref) as source, tempfile.TemporaryDirectory() as tmp:
        top = source.top()
        for image in source.resolve_all():
            _, result = _plan_platform(
                source, image, src_ref, db, None, only=only, archives=archives,
                cache=Path(tmp), progress=progress,
            )  # fmt: skip
            platforms.append(result)
    return PatchResult("", top.digest, platforms)


def _plan_platform(
    source: ImageSource,
    image: ResolvedImage,
    src_ref: ImageRef,
    db: VulnDB | None,
    report: Path | None,
    *,
    only: str,
    archives: Archives,
    cache: Path,
    progress: Progress,
) -> tuple[list[Entry], PlatformPatch]:
    where = f"{src_ref} ({image.platform})"
    progress.start(f"reading the packages of {where}", 0)
    tree = walk_layers(source, image, lambda p: inv.wants(p) or dpkgdb.wants(p))
    progress.finish()
    database = dpkgdb.read_database(tree, where)
    release_of(tree, where)
    wanted = _findings(tree, image, src_ref, db, report, where)
    return plan_layer(
        tree, image, database, wanted, only=only, archives=archives, where=where,
        cache=cache / "debs", progress=progress,
    )  # fmt: skip


def _findings(
    tree: FileTreeResult,
    image: ResolvedImage,
    ref: ImageRef,
    db: VulnDB | None,
    report: Path | None,
    where: str,
) -> list[Wanted]:
    if report is not None:
        return read_report(report, image, where)
    from hardbase.vuln.scan import scan

    if db is None:  # patch_image checks that one of the two is given
        raise UsageError("patch-image needs either a vulnerability database or --report FILE")
    inventory = inv.inventory_from_tree(
        tree, reference=str(ref), digest=image.manifest.digest,
        architecture=str(image.config.get("architecture", "")),
    )  # fmt: skip
    return [
        Wanted(f.id, f.package.name, f.fixed_version)
        for f in scan(inventory, db).findings
        if f.package.type == "deb" and f.status == "fixable" and f.fixed_version
    ]


def read_report(path: Path, image: ResolvedImage, where: str) -> list[Wanted]:
    """The fixable Debian findings of a Trivy or hardbase JSON report of `image`."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the report {path}: it is not a JSON file ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path} is neither a Trivy nor a hardbase JSON report")
    if "Results" in doc:
        meta = doc.get("Metadata") or {}
        names = {meta.get("ImageID"), *(meta.get("RepoDigests") or [])}
        diff_ids = meta.get("DiffIDs") or []
        ours = {image.manifest.digest, (image.manifest_json.get("config") or {}).get("digest")}
        if not any(str(n).rsplit("@", 1)[-1] in ours for n in names if n) and diff_ids != _diff_ids(
            image
        ):
            raise UsageError(
                f"the Trivy report {path} is of another image (neither its ImageID, RepoDigests "
                f"nor DiffIDs match {where}); scan this image or drop --report"
            )
        out = []
        for result in doc.get("Results") or []:
            if result.get("Class") != "os-pkgs":
                continue
            for v in result.get("Vulnerabilities") or []:
                if v.get("FixedVersion") and v.get("PkgName"):
                    fixed = str(v["FixedVersion"]).split(",")[0].strip()
                    out.append(Wanted(str(v.get("VulnerabilityID", "")), v["PkgName"], fixed))
        return out
    if "findings" in doc and isinstance(doc.get("image"), dict):
        if doc["image"].get("digest") != image.manifest.digest:
            raise UsageError(
                f"the hardbase report {path} is of {doc['image'].get('digest') or 'another image'}"
                f", not {where} ({image.manifest.digest}); scan this image or drop --report"
            )
        return [
            Wanted(f["id"], f["package"]["name"], f["fixed_version"])
            for f in doc["findings"]
            if f.get("status") == "fixable"
            and f.get("fixed_version")
            and f.get("package", {}).get("type") == "deb"
        ]
    raise UsageError(f"{path} is neither a Trivy nor a hardbase JSON report")


def _diff_ids(image: ResolvedImage) -> list[str]:
    return list((image.config.get("rootfs") or {}).get("diff_ids") or [])


def plan_layer(
    tree: FileTreeResult,
    image: ResolvedImage,
    db: dpkgdb.Database,
    wanted: list[Wanted],
    *,
    only: str,
    archives: Archives,
    where: str,
    cache: Path,
    progress: Progress,
) -> tuple[list[Entry], PlatformPatch]:
    """The entries of the patch layer of one platform image, and what they change."""
    by_package: dict[str, list[Wanted]] = {}
    for w in wanted:
        if w.package in db.packages:
            by_package.setdefault(w.package, []).append(w)
    platform = image.platform
    if not by_package:
        return [], PlatformPatch(platform)
    unmerged = [d for d in ("bin", "sbin", "lib") if (tree.files.get(d) or _NO_DIR).kind == "dir"]
    if unmerged:
        raise ImageError(
            f"{where} is not merged-/usr (/{unmerged[0]} is a directory, not a link to "
            f"/usr/{unmerged[0]}); patch-image writes package files under /usr only"
        )
    index = _load_index(tree, image, only, archives, where, progress)
    chosen: dict[str, BinaryPackage] = {}
    skipped: list[Skipped] = []
    for name, found in sorted(by_package.items()):
        pkg = db.packages[name]
        newer = [
            c for c in index.candidates(name, pkg.arch or "all")
            if compare_debian(c.version, pkg.version) > 0
            and (only != "security" or c.suite.endswith("-security"))
        ]  # fmt: skip
        best = next(iter(newer), None)
        if best is None or not _fixes(best.version, found):
            skipped.append(
                Skipped(name, "", "no version that fixes it is in the archive", _ids(found))
            )
            continue
        chosen[name] = best
    debs = _download(list(chosen.values()), cache, progress)
    contents = {name: _read(debs[p.sha256], name) for name, p in chosen.items()}
    arch = str(image.config.get("architecture", "")) or "amd64"

    def fetch(p: BinaryPackage) -> relations.Contents:
        return _read(_download([p], cache, progress)[p.sha256], p.name)

    pulled = relations.PulledUpgrades(
        db, tree, index, chosen, contents, only=only, arch=arch, fetch=fetch
    ).resolve()
    deps = relations.NewDependencies(
        db, tree, index, chosen, contents, only=only, arch=arch, fetch=fetch
    )
    deps.resolve()
    dropped = deps.blocked()
    kept = {n: p for n, p in chosen.items() if n not in dropped}
    dropped |= relations.needs_rebuild(db, tree, kept, contents, deps.needed, pulled)
    skipped = _left_out(skipped, dropped, chosen, by_package, pulled)
    for name in dropped:
        del chosen[name]
    added = deps.needed(chosen)
    mtime = layer_mtime(image)
    os_release = inv.inventory_from_tree(tree, reference=where).os
    upgrades = []
    layer: list[Entry] = []
    db_upgrades = []
    listed_elsewhere = relations.listed_paths(db, tree, set(chosen))
    for name, new in sorted(chosen.items()):
        old = db.packages[name]
        pc, files, listed = contents[name]
        payload = [e for e in pc.entries]
        conffiles = _conffiles(files, payload)
        layer += [_clamped(e, mtime) for e in payload]
        new_real = {relations.real_path(tree, p.lstrip("/")) for p in listed}
        for path in db.lists.get(old.info_name, []):
            real = relations.real_path(tree, path.lstrip("/"))
            info = tree.files.get(real)
            if info is None or info.kind == "dir" or real in new_real or real in listed_elsewhere:
                continue
            layer.append(_whiteout(real, mtime))
        db_upgrades.append((old, pc.control, files, listed, conffiles))
        fixes = tuple(w.id for w in by_package.get(name, []) if _fixes(new.version, [w]))
        purl = inv.deb_purl(name, new.version, new.arch, os_release)
        needed_by = "" if name in by_package else pulled[name][0]
        upgrades.append(
            Upgrade(name, old.version, new.version, new.suite, fixes, new.url, new.sha256,
                    purl, new.arch, needed_by)
        )  # fmt: skip
    if not upgrades:
        return [], PlatformPatch(platform, (), tuple(skipped))
    for name, (new, needed_by) in sorted(added.items()):
        pc, files, listed = deps.contents[name]
        payload = list(pc.entries)
        layer += [_clamped(e, mtime) for e in payload]
        db_upgrades.append(
            (dpkgdb.new_package(db, pc.control), pc.control, files, listed,
             _conffiles(files, payload))
        )  # fmt: skip
        purl = inv.deb_purl(name, new.version, new.arch, os_release)
        upgrades.append(
            Upgrade(name, "", new.version, new.suite, (), new.url, new.sha256, purl, new.arch,
                    needed_by)
        )  # fmt: skip
    db_entries, gone = dpkgdb.database_entries(db, tree, db_upgrades, mtime)
    layer += db_entries
    layer += [_whiteout(p, mtime) for p in sorted(gone)]
    layer = with_parents(tree, _unique(layer), mtime, where)
    return layer, PlatformPatch(platform, tuple(upgrades), tuple(skipped))


def _left_out(
    skipped: list[Skipped],
    dropped: dict[str, str],
    chosen: dict[str, BinaryPackage],
    by_package: dict[str, list[Wanted]],
    pulled: dict[str, list[str]],
) -> list[Skipped]:
    """`skipped` and the upgrades `dropped` (name -> reason) as needing a rebuild.

    An upgrade pulled in only for others fixes nothing: rather than listed, it is named
    in the reason of each upgrade left out that needed it. A package whose fix is not in
    the archive but that another upgrade pulled in (and was kept) is not listed either.
    """
    reasons = dict(dropped)
    for name, needers in pulled.items():
        why = dropped.get(name)
        if why is None or why == relations.ORPHAN or name in by_package:
            continue
        for n in needers:
            if n in reasons:
                reasons[n] += (f" (it needs {name} upgraded to {chosen[name].version} too, "
                               f"and {name} needs a rebuild: {why})")  # fmt: skip
    kept = {n for n in chosen if n not in dropped}
    out = [s for s in skipped if s.name not in kept]
    for name, why in reasons.items():
        if name in by_package:
            out.append(Skipped(name, chosen[name].version, why, _ids(by_package[name])))
    return out


class _NoDir:
    kind = ""


_NO_DIR = _NoDir()


def release_of(tree: FileTreeResult, where: str) -> tuple[str, str]:
    """(debian | ubuntu, codename) from the image's os-release; ImageError for another."""
    os_release = inv.inventory_from_tree(tree, reference=where).os
    family = os_release.id if os_release.id in MIRRORS else ""
    codename = os_release.version_codename
    if not family or not codename:
        raise ImageError(
            f"{where} is not a Debian or Ubuntu release hardbase knows (its os-release says "
            f"ID={os_release.id or '?'} VERSION_CODENAME={codename or '?'}); patch-image "
            "needs a release whose suites it can read"
        )
    if codename not in RELEASES[family]:
        raise ImageError(
            f"{where} is {family} {codename!r} (VERSION_CODENAME in its os-release), a release "
            f"patch-image does not know: it reads the suites of {', '.join(RELEASES[family])}"
        )
    return family, codename


def _fixes(version: str, found: list[Wanted]) -> bool:
    return any(compare_debian(version, w.fixed_version) >= 0 for w in found)


def _ids(found: list[Wanted]) -> tuple[str, ...]:
    return tuple(sorted({w.id for w in found}))


def _load_index(
    tree: FileTreeResult,
    image: ResolvedImage,
    only: str,
    archives: Archives,
    where: str,
    progress: Progress,
) -> Any:
    from hardbase.debian.archive import Archive
    from hardbase.util.paths import cache_dir

    family, codename = release_of(tree, where)
    mirror, security = MIRRORS[family]
    keyring = archives.keyring or KEYRINGS[family]
    components = COMPONENTS[family]
    entries = [
        SourceEntry(
            (archives.security_mirror or security,), (f"{codename}-security",), components,
            keyring,
        )
    ]  # fmt: skip
    if only != "security":
        entries.insert(
            0,
            SourceEntry(
                (archives.mirror or mirror,), (codename, f"{codename}-updates"), components, keyring
            ),
        )
    arch = str(image.config.get("architecture", "")) or "amd64"
    archive = Archive(entries, cache_dir=cache_dir() / "archive", progress=progress)
    index, _ = archive.load([arch])
    return index


def _download(packages: list[BinaryPackage], cache: Path, progress: Progress) -> dict[str, Path]:
    from hardbase.build.fetch import fetch_packages
    from hardbase.build.lock import LockedPackage

    locked = [
        LockedPackage(p.name, p.version, p.arch, p.source, p.source_version, p.url, p.sha256,
                      p.size, "patch", p.suite)
        for p in packages
    ]  # fmt: skip
    return fetch_packages(locked, progress=progress)


def _read(deb: Path, name: str) -> tuple[Any, dict[str, bytes], list[str]]:
    """The package's payload (build checks, nothing pruned), control files, and dpkg's list."""
    from hardbase.build.assemble import read_package
    from hardbase.build.prune import Pruner
    from hardbase.build.spec import PruneSettings
    from hardbase.debian.deb import open_data_tar, read_control_files

    keep_all = Pruner(
        PruneSettings(
            docs=False, man=False, locales=False, lintian=False, headers=False,
            static_libs=False, gconv=False, python_extras=False, tools=False,
        )
    )  # fmt: skip
    contents = read_package(deb, name, keep_all)
    files = read_control_files(deb)
    listed = ["/."]
    with open_data_tar(deb) as tar:
        for member in tar:
            clean = "/".join(p for p in member.name.split("/") if p not in ("", "."))
            if clean:
                listed.append("/" + clean)
    return contents, files, listed


def _conffiles(files: dict[str, bytes], payload: list[Entry]) -> list[tuple[str, str]]:
    """(path, md5) of the package's conffiles, as the status file records them."""
    by_path = {"/" + e.path: e for e in payload if e.kind == REG}
    out = []
    for line in files.get("conffiles", b"").decode("utf-8", "replace").splitlines():
        path = line.strip().split(" ")[0]
        entry = by_path.get(path)
        if entry is not None:
            out.append((path, dpkgdb.md5(entry.content())))
    return out


def _whiteout(path: str, mtime: int) -> Entry:
    head, _, name = path.rpartition("/")
    return Entry(f"{head}/{WHITEOUT}{name}" if head else f"{WHITEOUT}{name}", REG, 0o644,
                 mtime=mtime, owner=dpkgdb.OWNER)  # fmt: skip


def _clamped(entry: Entry, mtime: int) -> Entry:
    from dataclasses import replace

    return replace(entry, mtime=min(entry.mtime, mtime)) if mtime else entry


def _unique(entries: list[Entry]) -> list[Entry]:
    out: dict[str, Entry] = {}
    for e in entries:
        out[e.path] = e  # the database files come last and win
    return list(out.values())
