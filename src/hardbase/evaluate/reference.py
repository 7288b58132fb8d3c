"""A reference image to compare against: what `FROM debian:SUITE-slim` + `apt-get install
python3` leaves, built from the same archive with mmdebstrap and imported as one OCI layer.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from hardbase.errors import BuildError, UsageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, Layout
from hardbase.util import clock
from hardbase.util.digest import Digest

log = logging.getLogger(__name__)

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RELEASES = ("trixie", "bookworm")
_CHUNK = 1 << 20


def reference_sources(release: str, mirror: str = MIRROR, security: str = SECURITY) -> list[str]:
    """The sources.list lines a debian:RELEASE image uses."""
    return [
        f"deb {mirror} {release} main",
        f"deb {mirror} {release}-updates main",
        f"deb {security} {release}-security main",
    ]


def build_reference_image(
    out_dir: Path,
    *,
    release: str = "trixie",
    packages: tuple[str, ...] = ("python3",),
    tag: str = "latest",
    mirror: str = MIRROR,
    security: str = SECURITY,
    point_release: bool = False,
) -> str:
    """Build the reference image as an OCI layout at `out_dir`; returns `oci:OUT_DIR:TAG`.

    `point_release` takes the packages from the suite RELEASE alone (no -updates, no
    -security), as an image built on the day of the point release has them.
    """
    if release not in RELEASES:
        raise UsageError(f"release {release!r} is not one of {', '.join(RELEASES)}")
    if shutil.which("mmdebstrap") is None:
        raise BuildError(
            "mmdebstrap is not installed; run `make setup` (apt-get install mmdebstrap)"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as tmp:
        rootfs_tar = Path(tmp) / "rootfs.tar"
        cmd = [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            "--skip=output/dev",
            f"--include={','.join(packages)}",
            release,
            str(rootfs_tar),
            *(
                [f"deb {mirror} {release} main"]
                if point_release
                else reference_sources(release, mirror, security)
            ),
        ]
        log.info("running %s", " ".join(cmd))
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"mmdebstrap could not build the {release} reference") from exc
        if done.returncode != 0:
            errors = [
                line
                for line in done.stderr.splitlines()
                if line.startswith("E: ") and "mmdebstrap failed to run" not in line
            ]
            reason = errors[0][3:] if errors else "no error message"
            raise BuildError(f"mmdebstrap failed building the {release} reference: {reason}")
        staging = Path(tmp) / "layout"
        layout = Layout.create(staging)
        gz = Path(tmp) / "layer.tar.gz"
        digest, size, diff_id = _gzip_layer(rootfs_tar, gz)
        layer_desc = layout.put_file(gz, digest, size, mt.OCI_LAYER_GZIP)
        _write_image(layout, layer_desc, diff_id, release, packages, tag)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    return f"oci:{out_dir}:{tag}"


def _gzip_layer(src: Path, dest: Path) -> tuple[Digest, int, Digest]:
    """Gzip `src` to `dest` (no name, mtime 0); returns (digest, size, diff_id)."""
    raw = hashlib.sha256()
    with src.open("rb") as fin, dest.open("wb") as fout:
        with gzip.GzipFile(filename="", mode="wb", fileobj=fout, mtime=0, compresslevel=6) as gz:
            while chunk := fin.read(_CHUNK):
                raw.update(chunk)
                gz.write(chunk)
    packed = hashlib.sha256()
    with dest.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            packed.update(chunk)
    size = dest.stat().st_size
    return Digest.from_hex(packed.hexdigest()), size, Digest.from_hex(raw.hexdigest())


def _write_image(
    layout: Layout,
    layer: Descriptor,
    diff_id: str,
    release: str,
    packages: tuple[str, ...],
    tag: str,
) -> None:
    created = clock.now_rfc3339()
    # the config of a debian:RELEASE-slim image: no User (root), Cmd bash
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [f"PATH={PATH}"], "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {
                "created": created,
                "created_by": f"mmdebstrap --variant=minbase --include={','.join(packages)} "
                f"{release} (reference: debian:{release}-slim + apt-get install)",
            }
        ],
    }
    config_desc = layout.put_json(config, mt.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json()],
        "annotations": {
            "org.opencontainers.image.title": f"debian-{release}-slim-{'-'.join(packages)}",
            "org.opencontainers.image.description": (
                f"reference: debian:{release}-slim with {' '.join(packages)} installed by apt"
            ),
        },
    }
    desc = layout.put_json(
        manifest, mt.OCI_MANIFEST, platform={"architecture": "amd64", "os": "linux"}
    )
    layout.set_entry(desc, tag)
