"""File-level slicing: what is cut from the assembled tree, and why.

Every rule is switchable in the spec's `prune:` section. `copyright` files
always stay (licences travel with the code). What each rule cuts and why it
is harmless for a runtime image is documented in docs/prune.md, and the run
tests prove the images still work (ssl, sqlite3, zoneinfo, CA bundle).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from fnmatch import translate

from hardbase.build.spec import PruneSettings

# rule name -> globs (relative paths, fnmatch syntax; `*` also crosses `/`)
RULES: dict[str, tuple[str, ...]] = {
    "docs": ("usr/share/doc/*", "usr/share/doc-base/*", "usr/share/bug/*"),
    "man": ("usr/share/man/*", "usr/share/info/*", "usr/share/groff/*"),
    "locales": ("usr/share/locale/*",),
    "lintian": ("usr/share/lintian/*",),
    "headers": ("usr/include/*",),
    "static_libs": ("usr/lib/*.a",),
    # glibc's iconv charset modules: UTF-8, ASCII and Latin-1 are built into libc.
    "gconv": ("usr/lib/*/gconv/*",),
    # Python's self-tests, GUI and tooling data a runtime never imports.
    "python_extras": (
        "usr/lib/python3.*/test/*",
        "usr/lib/python3.*/idlelib/*",
        "usr/lib/python3.*/tkinter/*",
        "usr/lib/python3.*/turtledemo/*",
        "usr/lib/python3.*/turtle.py",
        "usr/lib/python3.*/ensurepip/*",
        "usr/lib/python3.*/lib2to3/*",
        "usr/lib/python3.*/pydoc_data/*",
        "usr/lib/python3.*/config-3.*/*",
        "usr/lib/python3.*/lib-dynload/_test*.so",
        "usr/lib/python3.*/lib-dynload/_ctypes_test*.so",
        "usr/lib/python3.*/lib-dynload/xxlimited*.so",
        "usr/lib/python3.*/lib-dynload/_xxtestfuzz*.so",
        "usr/bin/pydoc3*",
        "usr/bin/pygettext3*",
        "usr/bin/idle*",
        "usr/share/python3/*",
        "usr/share/pixmaps/*",
        "usr/share/applications/*",
    ),
    # Tools only maintainer scripts or an administrator call.
    "tools": (
        "usr/sbin/update-ca-certificates",
        "usr/sbin/tzconfig",
        "usr/bin/tzselect",
        "usr/sbin/zic",
        "usr/sbin/zdump",
        "etc/cron.daily/*",
        "etc/update-motd.d/*",
        "usr/share/base-files/*",
        "usr/share/debconf/*",
        # the certificates are concatenated into /etc/ssl/certs/ca-certificates.crt
        "usr/share/ca-certificates/*",
        # gdb pretty-printers shipped by libstdc++6 and glibc
        "usr/share/gcc/*",
        "usr/share/gdb/*",
    ),
}
ALWAYS_KEEP = ("usr/share/doc/*/copyright",)
_DOC_LINK = re.compile(r"^usr/share/doc/[^/]+$")


class Pruner:
    """Decides, path by path, what stays in the image."""

    def __init__(self, config: PruneSettings) -> None:
        globs: list[str] = []
        for rule, patterns in RULES.items():
            if getattr(config, rule):
                globs.extend(patterns)
        globs.extend(p.lstrip("/") for p in config.paths)
        keep = list(ALWAYS_KEEP) + [p.lstrip("/") for p in config.keep]
        self._cut = _compile(globs)
        # Layer cache keys include this, so a change to the rules rebuilds layers.
        self.fingerprint = hashlib.sha256(
            json.dumps([globs, keep], sort_keys=True).encode()
        ).hexdigest()
        self._keep = _compile(keep)

    def cuts(self, path: str, symlink: bool = False) -> bool:
        if self._cut is None or not self._cut.match(path):
            return False
        if symlink and _DOC_LINK.match(path):
            return False  # a doc dir linked to another package's keeps its copyright
        return not (self._keep is not None and self._keep.match(path))


def _compile(globs: Iterable[str]) -> re.Pattern[str] | None:
    parts = [translate(g) for g in globs]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None
