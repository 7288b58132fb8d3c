"""Fix a CVE the Debian release left open by rebuilding its source package with a patch.

`hardbase patch find SOURCE CVE --release R [--patch FILE]...` lists the candidate
fixes, most trustworthy first: a patch in debian/patches of the same source in a
newer Debian suite (the next release, then sid), matched by the CVE id in its file
name, its DEP-3 header or the changelog entry naming it; then each --patch FILE
whose DEP-3 header names the CVE and its Origin. For each it says where it came
from and whether it applies to the release's source (patch -p1, no fuzz).
It exits 0 when one applies, 1 when none does.

`hardbase patch build SOURCE --release R --cve CVE... [--patch FILE]... --repo REPO
--key KEY` rebuilds the release's source with one fix per CVE (your --patch that
names it, else the best Debian candidate that applies): the patch refreshed into
debian/patches and the series, version <version>+hb<N>, a changelog entry naming
every CVE fixed; `dpkg-buildpackage -B` in a hermetic build root (no network,
non-root, SOURCE_DATE_EPOCH from the changelog, tests on); the .debs and the
source published to REPO's <R>-hardbase suite, signed with KEY. The build root comes
from the source's archive, or with --root-mirror from that Debian mirror. When REPO
already serves a rebuild of the same version with the same patches, nothing is built
or published (a re-run after a crash makes no second version). A patch that does
not apply, a failed build (its log is kept and named) or a missing key: exit 2,
nothing published.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from hardbase.cli.progress import TerminalProgress
from hardbase.errors import GateFailed, UsageError


def _archive_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--release", required=True, metavar="CODENAME", help="e.g. bookworm")
    parser.add_argument(
        "--patch", action="append", default=[], type=Path, metavar="FILE",
        help="a patch of your own (repeatable); its DEP-3 header must name the CVE "
        "(Description:) and where the fix comes from (Origin:)",
    )  # fmt: skip
    parser.add_argument(
        "--mirror", metavar="URL", help="the Debian mirror (default: http://deb.debian.org/debian)"
    )
    parser.add_argument(
        "--security-mirror", metavar="URL", help="the mirror of the -security suites"
    )
    parser.add_argument(
        "--keyring", type=Path, metavar="FILE",
        help="the keyring the suites' InRelease must verify with (default: Debian's)",
    )  # fmt: skip


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="patch_command", metavar="ACTION")
    find = sub.add_parser("find", help="list the candidate fixes of a CVE", description=__doc__)
    find.add_argument("source", metavar="SOURCE", help="a source (or binary) package name")
    find.add_argument("cve", metavar="CVE", help="the CVE id, e.g. CVE-2026-11822")
    _archive_options(find)
    find.add_argument("--json", action="store_true", help="print the candidates as JSON")
    build = sub.add_parser(
        "build", help="rebuild a source package with CVE fixes into REPO", description=__doc__
    )
    build.add_argument("source", metavar="SOURCE", help="a source (or binary) package name")
    build.add_argument(
        "--cve", action="append", default=[], required=True, metavar="CVE",
        help="a CVE to fix (repeatable)",
    )  # fmt: skip
    _archive_options(build)
    build.add_argument(
        "--root-mirror", metavar="URL",
        help="build the root from this Debian mirror's signed binaries instead of the source's "
        "archive (--mirror); e.g. http://deb.debian.org/debian when the source comes from "
        "another archive",
    )  # fmt: skip
    build.add_argument(
        "--root-security-mirror", metavar="URL",
        help="the mirror of the build root's -security suite (default: derived from "
        "--root-mirror as --security-mirror is from --mirror)",
    )  # fmt: skip
    build.add_argument(
        "--root-keyring", type=Path, metavar="FILE",
        help="the keyring the build root's suites must verify with (default: Debian's)",
    )  # fmt: skip
    build.add_argument(
        "--repo", type=Path, metavar="REPO",
        help="hardbase's archive to publish to (see `hardbase repo`); without it nothing "
        "is published",
    )  # fmt: skip
    build.add_argument(
        "--key",
        type=Path,
        metavar="KEY",
        help="the archive's secret key (`hardbase repo keygen`; its passphrase from "
        "$HARDBASE_ARCHIVE_KEY_PASSWORD)",
    )
    build.add_argument(
        "--revision", type=int, metavar="N",
        help="the N of +hbN (default: one more than REPO's highest for this version, else 1)",
    )  # fmt: skip
    build.add_argument(
        "--work", type=Path, metavar="DIR",
        help="keep the trees, the patched source and the built files in DIR (must not exist "
        "or be empty; default: a temporary directory)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.patch_command == "find":
        return _find(args)
    if args.patch_command == "build":
        return _build(args)
    raise UsageError(
        "say what to do: `hardbase patch find SOURCE CVE --release R` or "
        "`hardbase patch build SOURCE --release R --cve CVE --repo REPO --key KEY`"
    )


def _build(args: argparse.Namespace) -> int:
    from hardbase.patch.build import AlreadyPublished, build_patched, scratch_dir
    from hardbase.repo.keys import password_from_env
    from hardbase.util.paths import cache_dir

    for path in args.patch:
        if not path.is_file():
            raise UsageError(f"the patch {path} does not exist")
    if args.revision is not None and args.revision < 1:
        raise UsageError(f"--revision must be 1 or more, not {args.revision}")
    progress = TerminalProgress(enabled=not args.quiet)
    cache = cache_dir()
    with scratch_dir() as scratch:
        work = args.work or scratch / "work"
        try:
            built = build_patched(
                args.source, args.release, args.cve, repo=args.repo, key=args.key, work=work,
                log_dir=cache / "patch-logs", archives=_archives(args), cache_dir=cache,
                patches=args.patch, revision=args.revision, password=password_from_env(),
                progress=progress,
            )  # fmt: skip
        except AlreadyPublished as done:
            print(done.diagnostics())
            return 0
        print(f"{built.source} {built.version} ({built.release}): fixes {', '.join(built.cves)}")
        for applied in built.patches:
            print(f"  patch debian/patches/{applied.name}: {applied.candidate.origin}")
        state = "cached" if built.root.cached else "created"
        print(f"  build root {built.root.plan.key[:16]} ({state}, {len(built.root.plan.packages)} "
              f"packages); build {built.result.seconds:.0f} s; log {built.result.log}")  # fmt: skip
        for deb in built.result.debs:
            print(f"  built {deb.name}")
        if built.published is not None:
            print(f"  published to {args.repo} suite {built.published.suite}")
        else:
            print("  not published (no --repo)")
        if args.work:
            print(f"  record {built.record}")
    return 0


def _archives(args: argparse.Namespace) -> Any:
    from hardbase.debian.model import DEFAULT_KEYRING
    from hardbase.patch.trees import Archives

    root_keyring = getattr(args, "root_keyring", None)
    if root_keyring is not None and not root_keyring.is_file():
        raise UsageError(f"the --root-keyring {root_keyring} does not exist (nothing was built)")
    return Archives(
        args.mirror, args.security_mirror, args.keyring or DEFAULT_KEYRING,
        root_mirror=getattr(args, "root_mirror", None),
        root_security_mirror=getattr(args, "root_security_mirror", None),
        root_keyring=root_keyring,
    )  # fmt: skip


def _find(args: argparse.Namespace) -> int:
    from hardbase.patch.trees import check_cve, search
    from hardbase.util.paths import cache_dir

    cve = check_cve(args.cve)
    for path in args.patch:
        if not path.is_file():
            raise UsageError(f"the patch {path} does not exist")
    progress = TerminalProgress(enabled=not args.quiet and not args.json)
    with tempfile.TemporaryDirectory(prefix="hardbase-patch-find-") as work:
        found = search(
            args.source, cve, args.release, Path(work), archives=_archives(args),
            cache_dir=cache_dir(), patches=args.patch, progress=progress,
        )  # fmt: skip
    base = found.base
    rows = [
        {
            "rank": i,
            "kind": c.kind,
            "patch": c.name,
            "origin": c.origin,
            "from": {"source": c.source, "version": c.version, "suite": c.suite}
            if c.source
            else {"file": str(c.path)},
            "upstream": c.header.origin,
            "matched_by": list(c.matched_by),
            "fixes": list(c.cves),
            "sha256": c.sha256,
            "applies": c.check.clean,
            "result": c.check.summary(),
        }
        for i, c in enumerate(found.candidates, 1)
    ]
    if args.json:
        doc = {
            "cve": cve,
            "source": base.name,
            "version": base.version,
            "suite": base.suite,
            "searched": [f"{n.name} {n.version} ({n.suite})" for n in found.newer],
            "not_searched": [{"suite": s, "reason": why} for s, why in found.skipped],
            "candidates": rows,
        }
        print(json.dumps(doc, indent=2))
    else:
        searched = ", ".join(f"{n.version} ({n.suite})" for n in found.newer) or "none"
        print(f"{cve} in {base.name} {base.version} ({base.suite}); newer sources read: {searched}")
        for label, why in found.skipped:
            print(f"not searched: {label}: {why}")
        for i, c in enumerate(found.candidates, 1):
            print(f"{i}. {c.origin}")
            print(f"   matched by {', '.join(c.matched_by)}; fixes {', '.join(c.cves)}")
            print(f"   sha256 {c.sha256}")
            print(f"   {c.check.summary()} to {base.name} {base.version}")
        if not found.candidates:
            print(
                "no candidate fix: no newer suite's debian/patches names it; give one with --patch"
            )
    if not any(c.check.clean for c in found.candidates):
        raise GateFailed(f"no candidate fix for {cve} applies to {base.name} {base.version}")
    return 0
