"""The files of an image's trust store, and how added CAs change them.

Debian's layout, as `update-ca-certificates` and `ca-certificates-java` make it:

- `/etc/ssl/certs/ca-certificates.crt`: every trusted CA as PEM (the bundle
  OpenSSL, Python, Node and Go read; images set SSL_CERT_FILE to it);
- a local CA `NAME` at `/usr/local/share/ca-certificates/NAME.crt`, linked from
  `/etc/ssl/certs/NAME.pem`, and `/etc/ssl/certs/HASH.N` → `NAME.pem` for
  OpenSSL's directory lookup (HASH = `openssl x509 -hash`, N the first free
  number);
- `/etc/ssl/certs/java/cacerts`: a Java keystore (PKCS#12, password
  `changeit`) with one trusted entry per CA of the bundle, aliased
  `debian:NAME.pem`; the JVM's `lib/security/cacerts` links to it.

Debian's own CAs are only in the bundle and the keystore: hardbase prunes
`/usr/share/ca-certificates`, which their hash links would point into.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import PurePosixPath

from hardbase.build.tree import REG, SYMLINK, Entry
from hardbase.certs.x509 import Cert, label, pem_blocks, subject_hash

BUNDLE = "etc/ssl/certs/ca-certificates.crt"
CERTS_DIR = "etc/ssl/certs"
JAVA_KEYSTORE = "etc/ssl/certs/java/cacerts"
LOCAL_DIR = "usr/local/share/ca-certificates"
OWNER = "hardbase"


def unique(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3`, … : the first one not in `taken` (which it joins)."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


def named(ders: Iterable[bytes]) -> list[Cert]:
    """Certificates of a bundle, named after their subjects (unique names)."""
    taken: set[str] = set()
    return [Cert(d, unique(label(d), taken)) for d in ders]


def new_certs(extra: list[Cert], trusted: Iterable[bytes]) -> list[Cert]:
    """The certificates of `extra` not in `trusted` yet, each once."""
    seen = set(trusted)
    out = []
    for cert in extra:
        if cert.der not in seen:
            seen.add(cert.der)
            out.append(cert)
    return out


def merged_bundle(bundle: bytes, extra: list[Cert]) -> bytes:
    """The bundle with the PEM of every certificate of `extra` it lacks appended."""
    added = new_certs(extra, pem_blocks(bundle))
    if bundle and not bundle.endswith(b"\n"):
        bundle += b"\n"
    return bundle + b"".join(c.pem() for c in added)


def local_entries(
    extra: list[Cert], existing: Collection[str], mtime: int
) -> tuple[list[Entry], list[Cert]]:
    """The .crt files, NAME.pem links and hash links of `extra` as local CAs.

    `existing` are the paths already in the image (so names and hash numbers
    do not collide). Returns the entries and the certificates under the names
    they got.
    """
    in_certs = {PurePosixPath(p).name for p in existing if p.startswith(CERTS_DIR + "/")}
    names = {n.removesuffix(".pem") for n in in_certs} | {
        PurePosixPath(p).stem for p in existing if p.startswith(LOCAL_DIR + "/")
    }
    out: list[Entry] = []
    placed: list[Cert] = []
    for cert in extra:
        name = unique(cert.name, names)
        crt = f"{LOCAL_DIR}/{name}.crt"
        pem = f"{name}.pem"
        out.append(Entry(crt, REG, 0o644, mtime=mtime, data=cert.pem(), owner=OWNER))
        out.append(
            Entry(f"{CERTS_DIR}/{pem}", SYMLINK, 0o777, mtime=mtime, target=f"/{crt}", owner=OWNER)
        )
        digest = subject_hash(cert.der)
        n = 0
        while f"{digest}.{n}" in in_certs:
            n += 1
        in_certs.add(f"{digest}.{n}")
        out.append(
            Entry(f"{CERTS_DIR}/{digest}.{n}", SYMLINK, 0o777, mtime=mtime, target=pem, owner=OWNER)
        )
        placed.append(Cert(cert.der, name))
    return out, placed


def alias(cert: Cert) -> str:
    """The keystore alias ca-certificates-java gives a CA: `debian:NAME.pem`, lowercase."""
    return f"debian:{cert.name.lower()}.pem"


def keystore_entries(
    current: list[tuple[str, bytes]], extra: list[Cert]
) -> list[tuple[str, bytes]]:
    """A keystore's entries with the certificates of `extra` it lacks added."""
    bases = {a.removesuffix(".pem") for a, _ in current}
    out = list(current)
    for cert in new_certs(extra, (d for _, d in current)):
        out.append((unique(alias(cert).removesuffix(".pem"), bases) + ".pem", cert.der))
    return out
