"""Go, Rust and Java inventories on real subjects, checked against Trivy on the same files.

Subjects (tests/lang_subjects.py): the trivy binary (Go modules), Debian's skopeo and
docker-registry (GOPATH builds: the toolchain only), bullseye's docker-registry (Go
1.15: the old pointer format), trixie's log4j2 and commons-lang3 jars, and a Rust
FIXTURE binary with a real-format cargo-auditable section. Bad input: corrupt Go build
information, a corrupt `.dep-v0`, a zip bomb and `..` names in a jar each give one
warning, and the rest of the image is still read.
"""

from __future__ import annotations

import io
import logging
import shutil
import zipfile
from pathlib import Path

import pytest

from hardbase.vuln.inventory import inventory
from hardbase.vuln.lang import golang
from hardbase.vuln.model import InstalledPackage
from lang_subjects import (
    debian_payload,
    normal_purl,
    rust_fixture,
    trivy_binary,
    trivy_purls,
)
from peers import need


def _packages(root: Path) -> list[InstalledPackage]:
    return list(inventory(f"dir:{root}").inventory.packages)


def _purls(root: Path) -> set[str]:
    return {normal_purl(p.purl) for p in _packages(root)}


@pytest.mark.peers
def test_go_module_binary_matches_trivy(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "opt/bin").mkdir(parents=True)
    shutil.copy(trivy_binary(), root / "opt/bin/trivy")
    found = [p for p in _packages(root) if p.type == "golang"]
    (main,) = [p for p in found if p.extra.get("main")]
    assert main.name == "github.com/aquasecurity/trivy" and main.version.startswith("v0.")
    assert main.purl == f"pkg:golang/github.com/aquasecurity/trivy@{main.version}"
    (stdlib,) = [p for p in found if p.name == "stdlib"]
    assert stdlib.version.startswith("v1.") and stdlib.path == "opt/bin/trivy"
    assert len(found) > 100  # its dependencies, each with the version it was built with
    assert _purls(root) == trivy_purls(root, tmp_path)


@pytest.mark.peers
def test_debian_gopath_binaries_give_the_toolchain(tmp_path: Path) -> None:
    need("skopeo", "docker-registry")
    root = tmp_path / "root"
    (root / "opt").mkdir(parents=True)
    for tool in ("skopeo", "docker-registry"):
        shutil.copy(shutil.which(tool) or "", root / "opt" / tool)
    found = [p for p in _packages(root) if p.type == "golang"]
    # dh-golang builds outside module mode: no `mod` line, so only the toolchain is known
    assert {p.name for p in found} == {"stdlib"}
    assert all(p.version.startswith("v1.") for p in found)
    assert _purls(root) == trivy_purls(root, tmp_path)


@pytest.mark.archive
@pytest.mark.peers
def test_go_1_15_pointer_format(tmp_path: Path) -> None:
    root = debian_payload("bullseye", "docker-registry")
    data = (root / "usr/bin/docker-registry").read_bytes()
    at = data.find(golang.MAGIC)
    assert data[at + 15] & 2 == 0  # the pre-1.18 header: pointers, not inline strings
    binary = golang.parse(data)
    assert binary is not None and binary.go_version == "go1.15.15"
    assert [(p.name, p.version) for p in _packages(root) if p.type == "golang"] == [
        ("stdlib", "v1.15.15")
    ]
    assert _purls(root) == trivy_purls(root, tmp_path)


@pytest.mark.peers
def test_corrupt_go_build_info_warns_and_the_rest_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    need("umoci", "skopeo")
    root = tmp_path / "root"
    (root / "opt").mkdir(parents=True)
    shutil.copy(shutil.which("skopeo") or "", root / "opt/good")
    data = bytearray(Path(shutil.which("umoci") or "").read_bytes())
    at = data.find(golang.MAGIC)
    assert data[at + 15] & 2  # inline format: a varint length follows the 32-byte header
    data[at + 32 : at + 36] = b"\xff\xff\xff\x7f"  # the version string's length: 256 MiB
    (root / "opt/bad-length").write_bytes(data)
    (root / "opt/bad-length").chmod(0o755)
    data = bytearray(Path(shutil.which("umoci") or "").read_bytes())
    line = data.find(b"\nbuild\t", at)
    data[line + 1 : line + 6] = b"bu!ld"  # the module text: a line of an unknown kind
    (root / "opt/bad-text").write_bytes(data)
    (root / "opt/bad-text").chmod(0o755)
    with caplog.at_level(logging.WARNING):
        found = _packages(root)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert any(
        "ignoring the Go build information of /opt/bad-length: a build information string "
        "runs past the end of the file; the rest of the image is scanned" == w
        for w in warnings
    ), warnings
    assert any("/opt/bad-text" in w and "'bu!ld'" in w for w in warnings), warnings
    assert [p.path for p in found if p.type == "golang"] == ["opt/good"]


@pytest.mark.peers
def test_rust_auditable_fixture_matches_trivy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "root"
    rust_fixture(root / "opt/hello")
    found = sorted((p.name, p.version, p.purl) for p in _packages(root))
    assert found == [  # the build-only crate (cc) is not in the binary, so not reported
        ("hello", "0.1.0", "pkg:cargo/hello@0.1.0"),
        ("itoa", "1.0.9", "pkg:cargo/itoa@1.0.9"),
        ("smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0"),
    ]
    assert _purls(root) == trivy_purls(root, tmp_path)
    data = bytearray((root / "opt/hello").read_bytes())
    start = data.find(b"x\x9c")  # the section's zlib stream: make it undecodable
    data[start + 2 : start + 12] = bytes(10)
    (root / "opt/broken").write_bytes(data)
    (root / "opt/broken").chmod(0o755)
    with caplog.at_level(logging.WARNING):
        names = {p.name for p in _packages(root)}
    assert names == {"hello", "itoa", "smallvec"}  # from opt/hello, still read
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("ignoring the Rust dependency list of /opt/broken: ")


def _java_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for package in ("liblog4j2-java", "libcommons-lang3-java"):
        shutil.copytree(debian_payload("trixie", package), root, symlinks=True, dirs_exist_ok=True)
    return root


def _fat_jar(path: Path, members: dict[str, bytes]) -> None:
    """A FIXTURE application archive (Spring Boot layout) holding the given members."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: app.Main\n\n")
        for name, data in members.items():
            jar.writestr(name, data)


@pytest.mark.archive
@pytest.mark.peers
def test_debian_jars_and_a_nested_one_match_trivy(tmp_path: Path) -> None:
    root = _java_root(tmp_path)
    java = root / "usr/share/java"
    core = java / "log4j-core.jar"  # log4j-core-2.19.0.jar is a link to it
    lang3 = (java / "commons-lang3.jar").resolve()
    _fat_jar(
        root / "srv/app.jar",
        {"BOOT-INF/lib/log4j-core.jar": core.read_bytes(),
         "BOOT-INF/lib/commons-lang3.jar": lang3.read_bytes()},
    )  # fmt: skip
    found = [p for p in _packages(root) if p.type == "maven"]
    by_path = {(p.name, p.path, p.extra.get("archive", "")) for p in found}
    version = next(p.version for p in found if p.name.endswith(":log4j-core"))
    assert version.startswith("2.")
    assert ("org.apache.logging.log4j:log4j-core", "usr/share/java/log4j-core.jar", "") in by_path
    assert (
        "org.apache.logging.log4j:log4j-core",
        "srv/app.jar",
        "srv/app.jar/BOOT-INF/lib/log4j-core.jar",
    ) in by_path
    assert any(p.purl == f"pkg:maven/org.apache.logging.log4j/log4j-core@{version}" for p in found)
    # Trivy's jar analyzer offline: the same pom.properties packages; what hardbase takes
    # from MANIFEST.MF or a file name, Trivy would ask its Java DB about (docs/scan.md)
    ours = {normal_purl(p.purl) for p in found if p.extra.get("evidence") == "pom.properties"}
    theirs = {p for p in trivy_purls(root, tmp_path) if p.startswith("pkg:maven/")}
    assert ours == theirs


def test_zip_bomb_and_dotdot_jar_warn_and_the_rest_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "root"
    pom = b"groupId=org.example.fixture\nartifactId=app\nversion=1.2.3\n"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as inner:
        inner.writestr("zeros.bin", bytes(8 << 20))
    # FIXTURE archives: a nested "jar" that inflates to 100 MiB from ~100 KB, and
    # members named with `..` and an absolute path
    _fat_jar(
        root / "opt/bomb.jar",
        {"META-INF/maven/org.example.fixture/app/pom.properties": pom,
         "BOOT-INF/lib/bomb.jar": bytes(100 << 20)},
    )  # fmt: skip
    _fat_jar(
        root / "opt/dotdot.jar",
        {"../../etc/pom.properties": b"groupId=evil\nartifactId=evil\nversion=6.6.6\n",
         "/abs/pom.properties": b"x=y\n",
         "META-INF/maven/org.example.fixture/lib/pom.properties":
             pom.replace(b"artifactId=app", b"artifactId=lib")},
    )  # fmt: skip
    (root / "opt/not-a-zip.jar").write_bytes(b"PK\x03\x04 truncated")
    with caplog.at_level(logging.WARNING):
        found = sorted((p.name, p.version, p.path) for p in _packages(root))
    assert found == [
        ("org.example.fixture:app", "1.2.3", "opt/bomb.jar"),
        ("org.example.fixture:lib", "1.2.3", "opt/dotdot.jar"),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    assert any(
        w.startswith("ignoring the nested Java archive /opt/bomb.jar/BOOT-INF/lib/bomb.jar: ")
        and "expands past 67108864 bytes (a zip bomb?)" in w
        for w in warnings
    ), warnings
    assert any("/opt/dotdot.jar has members with '..'" in w for w in warnings), warnings
    assert any(w.startswith("ignoring the Java archive /opt/not-a-zip.jar: ") for w in warnings)
