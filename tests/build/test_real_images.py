"""Images built from the real Debian archive, checked with real peers.

Marked `archive` (they need deb.debian.org); CI runs them. One python3 build
is shared by the module; peers: skopeo, umoci, runc, podman.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.cli.main import main
from peers import need, podman_run, runc_run, skopeo_config, unpack

pytestmark = [pytest.mark.archive, pytest.mark.slow]

REPO = Path(__file__).parents[2]
SMOKE = (
    "import ssl, sqlite3, zoneinfo, urllib.request, ctypes;"
    "print(ssl.create_default_context().cert_store_stats())"
)


def build(tmp: Path, spec_name: str, *extra: str, text: str | None = None) -> tuple[Path, str]:
    spec = tmp / f"{spec_name}.yaml"
    if text is None:
        shutil.copy(REPO / "images" / f"{spec_name}.yaml", spec)
    else:
        spec.write_text(text)
    out = tmp / spec_name
    code = main(["-q", "build", str(spec), "--output", str(out), *extra])
    assert code == 0
    index = json.loads((out / "index.json").read_text())
    return out, index["manifests"][0]["digest"]


@pytest.fixture(scope="module")
def python3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build(tmp_path_factory.mktemp("py"), "python3")


@pytest.fixture(scope="module")
def python3_rootfs(python3: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("bundle") / "b"
    unpack(python3[0], "latest", bundle)
    return bundle


def test_skopeo_sees_nonroot_user(python3: tuple[Path, str]) -> None:
    config = skopeo_config(f"oci:{python3[0]}:latest")
    assert config["config"]["User"].split(":")[0] == "65532"  # type: ignore[index]
    assert config["architecture"] == "amd64"


def test_no_shell_package_manager_or_perl(python3_rootfs: Path) -> None:
    rootfs = python3_rootfs / "rootfs"
    for path in (
        "usr/bin/sh",
        "usr/bin/bash",
        "usr/bin/dash",
        "usr/bin/dpkg",
        "usr/bin/apt",
        "usr/bin/apt-get",
        "usr/bin/perl",
    ):
        assert not (rootfs / path).exists(), path
    assert (rootfs / "bin").is_symlink()
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    status_d = rootfs / "var/lib/dpkg/status.d"
    assert (status_d / "libc6").is_file() and (status_d / "libc6.md5sums").is_file()
    assert "Status: install ok installed" in (status_d / "libc6").read_text()
    assert (rootfs / "etc/os-release").exists()
    assert (rootfs / "usr/share/doc/libc6/copyright").is_file()
    assert not list((rootfs / "usr/share/doc/libc6").glob("changelog*"))


def test_python_runs_under_runc_as_nonroot(python3_rootfs: Path) -> None:
    result = runc_run(
        python3_rootfs, ["/usr/bin/python3", "-c", SMOKE + ";import os;print(os.getuid())"]
    )
    assert result.returncode == 0, result.stderr
    stats, uid = result.stdout.strip().splitlines()
    assert uid == "65532"
    x509 = int(re.search(r"'x509': (\d+)", stats).group(1))  # type: ignore[union-attr]
    assert x509 > 100


def test_python_runs_under_podman(python3: tuple[Path, str]) -> None:
    result = podman_run(f"oci:{python3[0]}:latest", ["-c", SMOKE])
    assert result.returncode == 0, result.stderr
    assert "x509" in result.stdout


def test_reproducible_with_empty_caches(python3: tuple[Path, str], tmp_path: Path) -> None:
    """Golden: the same lock, empty caches, another time → the same index digest."""
    layout, digest = python3
    spec_dir = layout.parent
    other = tmp_path / "again"
    env = os.environ.copy()
    env["HARDBASE_CACHE"] = str(tmp_path / "empty-cache")
    proc = subprocess.run(
        ["hardbase", "-q", "build", str(spec_dir / "python3.yaml"), "--output", str(other)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == digest


def test_debug_variant_has_busybox_shell(tmp_path: Path) -> None:
    out, _ = build(tmp_path, "python3-debug")
    bundle = tmp_path / "bundle"
    unpack(out, "latest", bundle)
    assert os.readlink(bundle / "rootfs/usr/bin/sh") == "busybox"
    result = runc_run(bundle, ["/bin/sh", "-c", "echo hello from $(id -u)"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from 65532"


@pytest.mark.parametrize(
    ("name", "args", "expect"),
    [
        ("static", None, None),
        ("base", None, None),
        ("cc", None, None),
        ("nodejs", ["/usr/bin/node", "-e", "console.log(process.versions.openssl)"], r"^3\."),
        ("java", ["/usr/bin/java", "-version"], r"openjdk version"),
    ],
)
def test_other_presets_build_and_run(
    tmp_path: Path, name: str, args: list[str] | None, expect: str | None
) -> None:
    out, _ = build(tmp_path, name)
    bundle = tmp_path / "bundle"
    rootfs = unpack(out, "latest", bundle)
    assert not (rootfs / "usr/bin/sh").exists()
    if name == "static":
        # what distroless/static holds: CA bundle, tzdata, accounts, /tmp, netbase, media types
        for path in (
            "etc/ssl/certs/ca-certificates.crt",
            "usr/share/zoneinfo/UTC",
            "etc/passwd",
            "etc/group",
            "etc/services",
            "etc/mime.types",
            "etc/os-release",
        ):
            assert (rootfs / path).exists(), path
        assert not (rootfs / "usr/lib/x86_64-linux-gnu/libc.so.6").exists()
        return
    if args is None:
        # base and cc hold no program of their own; the dynamic loader is one, so run it
        args = ["/lib64/ld-linux-x86-64.so.2", "--version"]
        expect = r"^ld\.so \(Debian GLIBC"
    result = runc_run(bundle, args)
    assert result.returncode == 0, result.stderr
    assert re.search(expect or "", result.stdout + result.stderr, re.MULTILINE)


def test_multiarch_index_with_arm64_elf(tmp_path: Path) -> None:
    out, _ = build(tmp_path, "python3-multiarch")
    index_digest = json.loads((out / "index.json").read_text())["manifests"][0]["digest"]
    index = json.loads((out / "blobs/sha256" / index_digest[7:]).read_text())
    archs = sorted(m["platform"]["architecture"] for m in index["manifests"])
    assert archs == ["amd64", "arm64"]
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    manifest = json.loads((out / "blobs/sha256" / arm["digest"][7:]).read_text())
    import io
    import tarfile

    from isal import igzip

    machines = set()
    for layer in manifest["layers"]:
        data = igzip.decompress((out / "blobs/sha256" / layer["digest"][7:]).read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                if member.isreg() and member.name.startswith("usr/bin/python3."):
                    head = tar.extractfile(member).read(20)  # type: ignore[union-attr]
                    if head[:4] == b"\x7fELF":
                        machines.add(int.from_bytes(head[18:20], "little"))
    assert machines == {183}  # EM_AARCH64


def test_images_share_their_common_layers(python3: tuple[Path, str], tmp_path: Path) -> None:
    """cc's layers are python3's lower layers, byte for byte (shared in registries)."""

    def layers(layout: Path) -> list[str]:
        index = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
        image = json.loads((layout / "blobs/sha256" / index[7:]).read_text())
        manifest = json.loads(
            (layout / "blobs/sha256" / image["manifests"][0]["digest"][7:]).read_text()
        )
        return [layer["digest"] for layer in manifest["layers"]]

    cc, _ = build(tmp_path, "cc")
    assert layers(cc) == layers(python3[0])[: len(layers(cc))]
    assert len(layers(python3[0])) == len(layers(cc)) + 1


def test_docker_archive_loads_in_podman(python3: tuple[Path, str], tmp_path: Path) -> None:
    need("podman")
    spec = python3[0].parent / "python3.yaml"
    archive = tmp_path / "py.tar"
    assert (
        main(["-q", "build", str(spec), "--output", str(archive), "--format", "docker-archive"])
        == 0
    )
    from peers import PODMAN

    loaded = subprocess.run([*PODMAN, "load", "-i", str(archive)], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    name = re.search(r"Loaded image(?:\(s\))?: (\S+)", loaded.stdout + loaded.stderr)
    assert name, loaded.stdout
    result = podman_run(name.group(1), ["-c", "print(40 + 2)"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"
