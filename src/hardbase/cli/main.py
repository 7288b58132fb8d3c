"""`hardbase` entry point: builds the parser, dispatches, turns errors into exit codes.

Only the module of the command being run is imported (`hardbase --version` and
`hardbase --help` import none), and each module keeps its heavy imports inside
`run`, so start-up stays under 100 ms.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hardbase import __version__
from hardbase.errors import HardbaseError

# command name -> (module under hardbase.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "lock": ("lock", "resolve a spec's packages and write its lock file"),
    "build": ("build", "build an OCI image from a spec (and its lock)"),
    "scan": ("scan", "scan an image for known vulnerabilities"),
    "db": ("db", "build, refresh or inspect the vulnerability database"),
    "sbom": ("sbom", "write the SBOM of any image"),
    "push": ("push", "copy an image between transports"),
    "keygen": ("keygen", "generate a cosign-compatible signing key pair"),
    "sign": ("sign", "sign an image (cosign-compatible)"),
    "verify": ("verify", "verify an image's signature and attestations"),
    "certs": ("certs", "add CA certificates to any image (bundle, hash links, Java keystores)"),
    "patch-image": ("patch_image", "install the fixed Debian packages into any image as one layer"),
    "policy": ("policy", "check an image against a policy"),
    "vex": ("vex", "create and merge OpenVEX documents"),
    "compare": ("compare", "score images on the six dimensions"),
    "watch": ("watch", "run the continuous patching controller"),
    "status": ("status", "show the state of a managed fleet"),
    "worker": ("worker", "run a Celery worker that runs the controller's jobs"),
    "serve": ("serve", "HTTP API and dashboard"),
    "source": ("source", "fetch, verify and unpack a Debian source package"),
    "repo": ("repo", "hardbase's own signed archive: keygen, publish, serve"),
    "patch": ("patch", "find a CVE fix and rebuild a Debian source package with it"),
    "cache": ("cache", "remove what the cache has not used lately"),
    "completion": ("completion", "print a shell completion script (bash, zsh or fish)"),
}


def _available() -> dict[str, tuple[str, str]]:
    """Commands whose module is installed (the project grows one command at a time)."""
    here = os.path.dirname(__file__)
    return {
        name: spec
        for name, spec in COMMANDS.items()
        if os.path.exists(os.path.join(here, f"{spec[0]}.py"))
    }


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `only` set, full options for that command alone

    (`only=""`: none; the others are listed by name and help).
    """
    parser = argparse.ArgumentParser(
        prog="hardbase",
        description="Build minimal, hardened container images from Debian packages, "
        "and scan, sign, publish and score images.",
    )
    parser.add_argument("--version", action="version", version=f"hardbase {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument("--cache-dir", metavar="DIR", help=_CACHE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _available().items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        mod = importlib.import_module(f"hardbase.cli.{module}")
        cmd = sub.add_parser(name, help=help_text, description=mod.__doc__)
        mod.register(cmd)
        _accept_global_options(cmd)
        cmd.set_defaults(_run=mod.run)
    return parser


_CACHE_HELP = (
    "cache root for downloads and the default database DIR/vuln.db "
    "(overrides $HARDBASE_CACHE and $HARDBASE_DB)"
)


def _accept_global_options(parser: argparse.ArgumentParser) -> None:
    """Let `--debug` and `-q` follow a subcommand too (`hardbase scan REF -q`).

    SUPPRESS as the default leaves the top-level value alone unless the option is given.
    """
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output"
    )
    parser.add_argument("--cache-dir", metavar="DIR", default=argparse.SUPPRESS, help=_CACHE_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _accept_global_options(child)


def _command_in(args: list[str]) -> str:
    """The subcommand named in `args`, or "" when none is (`--version`, `--help`, a typo)."""
    words = iter(args)
    for word in words:
        if word == "--cache-dir":
            next(words, None)
        elif not word.startswith("-"):
            return word if word in _available() else ""
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(args_list))
    args = parser.parse_args(args_list)
    root = logging.getLogger()
    stale = [h for h in root.handlers if getattr(h, "hardbase", False)]
    for handler in stale:  # a previous command's cli/logs.configure in this process
        root.removeHandler(handler)
    if stale:
        root.setLevel(logging.WARNING)  # and its level: basicConfig sets none when handlers exist
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="hardbase: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    from hardbase.util.paths import set_cache_root

    set_cache_root(Path(args.cache_dir).expanduser() if args.cache_dir else None)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args._run(args)
        return code
    except HardbaseError as exc:
        if args.debug:
            raise
        print(f"hardbase: error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hardbase: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
