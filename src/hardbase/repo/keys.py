"""The archive key: an OpenPGP key made and used with gpg in batch mode.

`write_archive_key(PREFIX)` writes PREFIX.key, the armored secret key (mode 0600,
protected by the passphrase in HARDBASE_ARCHIVE_KEY_PASSWORD, or by none when the
caller asks for that; keep it off the served directory), and
PREFIX.gpg, the binary public keyring that `gpgv --keyring` and apt's
`Signed-By:` (or a spec's `signed-by:`) read. Neither file is ever overwritten.
Each use imports the secret key into a throwaway GNUPGHOME, so no keyring of the
user's is read or changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hardbase.errors import HardbaseError, SignatureError, UsageError
from hardbase.util.fs import write_new
from hardbase.util.tools import last_error_line, run_tool

MAX_KEY_FILE = 1 << 20
PASSWORD_ENV = "HARDBASE_ARCHIVE_KEY_PASSWORD"
S2K_COUNT = 65011712
ALGORITHM = "ed25519"  # accepted by gpgv and by apt (gpgv and sqv)


class ArchiveKeyError(SignatureError):
    """The archive key is missing, unreadable or not a usable OpenPGP secret key."""


@dataclass(frozen=True)
class ArchiveKey:
    secret: Path
    public: Path
    fingerprint: str


class _Gpg:
    """gpg in batch mode in its own short-lived home (the agent is stopped on close)."""

    def __init__(self, password: bytes = b"") -> None:
        # short: gpg-agent's socket path must stay under ~100 characters
        self.home = Path(tempfile.mkdtemp(prefix="hbrepo-", dir="/tmp"))
        os.chmod(self.home, 0o700)
        # a file in the private home, not an argument other users could read in ps
        self.passphrase = self.home / "passphrase"
        fd = os.open(self.passphrase, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(password)
        # A fixed passphrase work factor (the largest OpenPGP can encode): the agent's
        # own calibration took 9 s of a loaded 2-core machine on every fresh home.
        (self.home / "gpg-agent.conf").write_text(f"s2k-count {S2K_COUNT}\n")

    def run(self, *args: str, stdin: bytes | None = None, what: str) -> bytes:
        command = [
            "gpg", "--homedir", str(self.home), "--batch", "--yes", "--quiet",
            "--no-tty", "--pinentry-mode", "loopback", "--passphrase-file", str(self.passphrase),
            *args,
        ]  # fmt: skip
        result = run_tool(command, package="gpg", what=what, error=ArchiveKeyError, stdin=stdin,
                          timeout=120)  # fmt: skip
        if result.returncode != 0:
            raise ArchiveKeyError(f"gpg could not {what} ({last_error_line(result.stderr)})")
        return result.stdout

    def fingerprints(self, secret: bool = False) -> list[str]:
        listing = self.run(
            "--with-colons", "--list-secret-keys" if secret else "--list-keys", what="list keys"
        ).decode()
        out, primary = [], False
        for line in listing.splitlines():
            fields = line.split(":")
            if fields[0] in ("pub", "sec"):
                primary = True
            elif fields[0] in ("sub", "ssb"):
                primary = False
            elif fields[0] == "fpr" and primary:
                out.append(fields[9])
        return out

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
            capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(self.home, ignore_errors=True)


@contextlib.contextmanager
def _gpg(password: bytes = b"") -> Iterator[_Gpg]:
    gpg = _Gpg(password)
    try:
        yield gpg
    finally:
        gpg.close()


def password_from_env() -> bytes:
    """The archive key's passphrase from `HARDBASE_ARCHIVE_KEY_PASSWORD` (empty when unset)."""
    return os.environ.get(PASSWORD_ENV, "").encode()


def write_archive_key(
    prefix: Path,
    name: str = "hardbase archive",
    *,
    password: bytes = b"",
    unencrypted: bool = False,
) -> ArchiveKey:
    """Generate a signing key; write PREFIX.key (secret, 0600) and PREFIX.gpg (public).

    The secret key is protected with `password`; without one only when the caller
    asks for an `unencrypted` key.
    """
    if not password and not unencrypted:
        raise UsageError(
            f"set {PASSWORD_ENV} to protect the archive key, or pass --no-password "
            "for an unprotected one"
        )
    if password and unencrypted:
        raise UsageError(f"--no-password with {PASSWORD_ENV} set: unset it or drop --no-password")
    secret_path = prefix.with_name(prefix.name + ".key")
    public_path = prefix.with_name(prefix.name + ".gpg")
    for path in (secret_path, public_path):
        if path.exists() or path.is_symlink():
            raise UsageError(f"{path} exists; keygen never overwrites a key, pick another prefix")
    if "<" in name or ">" in name or "\n" in name:
        raise UsageError(f"the key name {name!r} may not hold '<', '>' or a newline")
    with _gpg(password) as gpg:
        gpg.run(
            "--quick-generate-key", f"{name} <archive@hardbase.invalid>", ALGORITHM, "sign",
            "never", what="generate the archive key",
        )  # fmt: skip
        (fingerprint,) = gpg.fingerprints(secret=True)
        secret = gpg.run("--armor", "--export-secret-keys", fingerprint, what="export the key")
        public = gpg.run("--export", fingerprint, what="export the public key")
    try:
        write_new(secret_path, secret, mode=0o600)
        try:
            write_new(public_path, public, mode=0o644)
        except BaseException:
            secret_path.unlink()
            raise
    except FileExistsError as exc:
        raise UsageError(f"{exc.filename} appeared while keygen ran; nothing overwritten") from None
    except OSError as exc:
        raise UsageError(f"cannot write the archive key next to {prefix}") from exc
    return ArchiveKey(secret_path, public_path, fingerprint)


def _read_secret(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE:
            raise ArchiveKeyError(f"the archive key {path} is larger than {MAX_KEY_FILE} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise ArchiveKeyError(
            f"the archive key {path} does not exist; make one with `hardbase repo keygen`"
        ) from None
    except OSError as exc:
        raise ArchiveKeyError(f"cannot read the archive key {path}") from exc


@dataclass(frozen=True)
class SignedRelease:
    inrelease: bytes  # the clearsigned Release
    release_gpg: bytes  # the detached armored signature, for clients that read Release.gpg
    keyring: bytes  # the binary public keyring of the key that signed, to check both


def sign_release(text: bytes, key: Path, password: bytes = b"") -> SignedRelease:
    """Sign a Release file's `text` with the archive key `key` (protected by `password`)."""
    data = _read_secret(key)
    with _gpg(password) as gpg:
        try:
            gpg.run("--import", stdin=data, what=f"import the archive key {key}")
        except HardbaseError:
            raise ArchiveKeyError(f"{key} is not an OpenPGP secret key gpg can import") from None
        keys = gpg.fingerprints(secret=True)
        if len(keys) != 1:
            raise ArchiveKeyError(f"{key} holds {len(keys)} secret keys, not one")
        common = ("--local-user", keys[0], "--digest-algo", "SHA512")
        try:
            signed = gpg.run(*common, "--clearsign", stdin=text, what="sign the Release")
        except ArchiveKeyError as exc:
            raise ArchiveKeyError(
                f"the archive key {key} cannot sign: {exc}; check {PASSWORD_ENV} "
                "(the key's passphrase)"
            ) from None
        detached = gpg.run(*common, "--armor", "--detach-sign", stdin=text, what="sign the Release")
        keyring = gpg.run("--export", keys[0], what="export the public key")
    return SignedRelease(signed, detached, keyring)
