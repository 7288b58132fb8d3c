"""Score images side by side on six dimensions: security posture, minimality, operational
consistency, compliance, ecosystem compatibility, long-term maintainability.

Reads any image from any transport without unpacking it. Writes --json, --html
and --markdown files; with none of them, prints the Markdown summary. With
--from FILE, renders a scorecard written earlier by --json instead of measuring
(the file is checked against the scorecard schema first).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardbase.cli.dbopts import add_db_options, open_checked
from hardbase.cli.progress import TerminalProgress
from hardbase.errors import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("refs", metavar="REF", nargs="*", help="image references to compare")
    parser.add_argument(
        "--from",
        dest="from_json",
        metavar="FILE",
        help="render the scorecard FILE (written by --json) instead of measuring images",
    )
    parser.add_argument("--json", metavar="FILE", help="write the scorecard as JSON")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    parser.add_argument("--markdown", metavar="FILE", help="write the scorecard as Markdown")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="print a six-line summary (size, packages, findings, surface, verdicts, "
        "recommendation), each value after its image's name",
    )
    add_db_options(parser)
    parser.add_argument("--no-scan", action="store_true", help="skip the vulnerability scan")
    parser.add_argument(
        "--vex", nargs="+", action="extend", default=[], metavar="FILE", help="OpenVEX documents"
    )
    parser.add_argument(
        "--smoke",
        metavar="CMD",
        help="run CMD in each image with podman (no network), e.g. \"python3 -c 'print(1)'\"",
    )
    parser.add_argument(
        "--rebuild",
        action="append",
        default=[],
        metavar="REF=SPEC",
        help="check REF is reproducible by rebuilding SPEC from its lock",
    )
    parser.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")
    parser.add_argument("--arch", help="platform to score in multi-arch images (default amd64)")


def run(args: argparse.Namespace) -> int:
    if args.from_json:
        if args.refs:
            raise UsageError("give images to measure or --from FILE, not both")
        from hardbase.evaluate.model import Scorecard

        return _write(args, Scorecard.load(Path(args.from_json)).to_json())
    if not args.refs:
        raise UsageError("give the images to compare (REF …), or --from FILE")
    from hardbase.evaluate.scorecard import CompareOptions, compare
    from hardbase.vuln.vex import VexStatement, load_vex

    rebuild: dict[str, Path] = {}
    for item in args.rebuild:
        ref, sep, spec = item.rpartition("=")
        if not sep or ref not in args.refs:
            raise UsageError(f"--rebuild {item}: expected REF=SPEC with REF one of the images")
        rebuild[ref] = Path(spec)
    statements: list[VexStatement] = []
    for path in args.vex:
        statements.extend(load_vex(Path(path)))
    db = None if args.no_scan else open_checked(args)[0]
    try:
        options = CompareOptions(
            db=db,
            vex=statements,
            insecure=args.insecure,
            smoke=args.smoke,
            rebuild=rebuild,
            arch=args.arch,
        )
        doc = compare(args.refs, options, TerminalProgress(enabled=not args.quiet)).to_json()
    finally:
        if db is not None:
            db.close()
    return _write(args, doc)


def _write(args: argparse.Namespace, doc: dict[str, Any]) -> int:
    from hardbase.evaluate.render import render_html, render_markdown, render_summary
    from hardbase.util.fs import write_atomic

    outputs: dict[str | None, Callable[[], str]] = {
        args.json: lambda: json.dumps(doc, indent=2) + "\n",
        args.html: lambda: render_html(doc),
        args.markdown: lambda: render_markdown(doc),
    }
    for path, make in outputs.items():
        if path:
            write_atomic(Path(path), make().encode())
    if args.summary:
        sys.stdout.write("\n".join(render_summary(doc)) + "\n")
    elif not (args.json or args.html or args.markdown):
        sys.stdout.write(render_markdown(doc))
    sys.stdout.flush()
    return 0
