"""Dependencies the resolver leaves out because only maintainer scripts use them.

hardbase unpacks packages and never runs their maintainer scripts (preinst,
postinst, config). A few packages that belong in every image declare
dependencies that exist only for those scripts; a strict Depends closure would
pull them (and with them a shell-script toolchain) into images that never use
them. Google's distroless leaves them out of its hand-written package lists
for the same reason. Each drop is one (package, dependency) edge, so the
dependency is still installed when anything else needs it or a spec asks for it.

Measured on trixie and bookworm (main, amd64); docs/drops.md explains each one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Drop:
    """Leave out `dependency` when `package` depends on it, for `reason`.

    `dependency` matches a name in any alternative of a relation group, so
    `debconf` drops the whole group `debconf (>= 0.5) | debconf-2.0`.
    """

    package: str
    dependency: str
    reason: str


DEFAULT_DROPS: tuple[Drop, ...] = (
    Drop(
        package="python3-minimal",
        dependency="dpkg",
        reason=(
            "dpkg is used only by py3compile, which Python packages' postinst scripts run "
            "to list their files (dpkg -L); it would pull dpkg, tar and their libraries"
        ),
    ),
    Drop(
        package="readline-common",
        dependency="dpkg",
        reason=(
            "bookworm's 'dpkg (>= 1.15.4) | install-info' lets dpkg's install-info trigger "
            "register the readline info manual; images have no info directory to update"
        ),
    ),
    Drop(
        package="base-files",
        dependency="awk",
        reason=(
            "Pre-Depends: awk serves only base-files' maintainer scripts, which the "
            "image never runs; it would pull mawk"
        ),
    ),
    Drop(
        package="tzdata",
        dependency="debconf",
        reason=(
            "debconf only asks for the local time zone in tzdata's config and postinst "
            "scripts; images use UTC or the TZ variable"
        ),
    ),
    Drop(
        package="ca-certificates",
        dependency="debconf",
        reason=(
            "debconf only asks which certificates to trust in ca-certificates' config "
            "script; hardbase builds the bundle itself"
        ),
    ),
    Drop(
        package="ca-certificates",
        dependency="openssl",
        reason=(
            "the openssl command is used only by update-ca-certificates (run from the "
            "postinst) to hash certificates; hardbase generates the CA bundle itself"
        ),
    ),
)
