"""The error hierarchy: every failure a user can cause or meet is a HardbaseError.

`main()` catches only the root, prints `diagnostics()` to stderr and exits with
`exit_code` (2 for bad input or usage, 1 for a gate that failed).
"""

from __future__ import annotations


class HardbaseError(Exception):
    """Root of every error hardbase reports to a user."""

    exit_code = 2

    def diagnostics(self) -> str:
        """The one sentence a user should read: what failed, where, what to do."""
        text = str(self) or self.__class__.__name__
        cause = self.__cause__
        if cause is not None and not isinstance(cause, HardbaseError):
            detail = str(cause).strip().splitlines()
            if detail:
                text = f"{text}: {detail[0]}"
        return text


class UsageError(HardbaseError):
    """The command line or a configuration file is wrong."""


class SpecError(UsageError):
    """An image spec, fleet file or policy file does not validate."""


class ArchiveError(HardbaseError):
    """A Debian archive could not be read or did not verify."""


class SignatureError(ArchiveError):
    """A signature (InRelease, image signature) did not verify."""


class IntegrityError(HardbaseError):
    """Downloaded or stored content does not match its expected hash or size."""


class ResolveError(HardbaseError):
    """Packages could not be resolved to a consistent set."""


class FetchError(HardbaseError):
    """A download failed."""


class ImageError(HardbaseError):
    """An image could not be read, written, or is malformed or hostile."""


class GateFailed(HardbaseError):
    """A check the user asked to gate on has failed (scan, policy, verify)."""

    exit_code = 1


class BuildError(HardbaseError):
    """An image could not be assembled from its packages."""
