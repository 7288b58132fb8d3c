"""The fleet's source-patching settings: `patch:`, `patches: DIR` and per-image `patch: false`.

The patches written here are **fixtures** (made-up `CVE-2099-*` ids and origins).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.cli.main import main
from hardbase.errors import SpecError
from hardbase.lifecycle.fleet import load_fleet
from hardbase.vuln.severity import Severity

FLEET = """
registry: {url: "127.0.0.1:5000", insecure: true}
sign_key: keys/cosign.key
patch: {min_severity: medium, sources: [patches-dir, newer-debian], repo: repo,
        archive_key: keys/archive.key, max_builds: 2, url: "http://127.0.0.1:8080"}
patches: patches
images:
  - {spec: a.yaml, repository: hb/a, tags: [latest]}
  - {spec: b.yaml, repository: hb/b, tags: [latest], patch: false}
"""

DIFF = "--- a/calc.c\n+++ b/calc.c\n@@ -1 +1 @@\n-return n;\n+return n + 1;\n"


def _world(tmp_path: Path, text: str = FLEET) -> Path:
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "archive.key").write_text("fixture key file\n")
    (tmp_path / "keys" / "archive.gpg").write_text("fixture public key file\n")
    (tmp_path / "patches").mkdir(exist_ok=True)
    (tmp_path / "patches" / "fix.patch").write_text(
        "Description: fixture fix of CVE-2099-0001 and CVE-2099-0002\n"
        "Origin: vendor, https://fixture.invalid/fix\n---\n" + DIFF
    )
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_patch_settings_resolve_and_images_opt_out(tmp_path: Path) -> None:
    fleet = load_fleet(_world(tmp_path))
    assert fleet.patch is not None
    assert fleet.patch.min_severity == Severity.MEDIUM
    assert fleet.patch.sources == ("patches-dir", "newer-debian")
    assert fleet.patch.repo == tmp_path / "repo"
    assert fleet.patch.archive_key == tmp_path / "keys" / "archive.key"
    assert fleet.patch.public_key == tmp_path / "keys" / "archive.gpg"
    assert fleet.patch.url == "http://127.0.0.1:8080/" and fleet.patch.mirror is None
    assert fleet.patch.max_builds == 2
    [mine] = fleet.patch.patches
    assert mine.path == tmp_path / "patches" / "fix.patch"
    assert mine.cves == ("CVE-2099-0001", "CVE-2099-0002")
    assert mine.origin == "vendor, https://fixture.invalid/fix"
    assert [i.patch for i in fleet.images] == [True, False]


def test_defaults_and_no_patch_section(tmp_path: Path) -> None:
    text = FLEET.replace("min_severity: medium, sources: [patches-dir, newer-debian], ", "")
    text = text.replace(", max_builds: 2", "").replace("patches: patches\n", "")
    fleet = load_fleet(_world(tmp_path, text))
    assert fleet.patch is not None
    assert fleet.patch.min_severity == Severity.HIGH
    assert fleet.patch.sources == ("newer-debian", "patches-dir")
    assert fleet.patch.max_builds == 1 and fleet.patch.patches == ()
    without = FLEET.split("patch: {")[0] + "images:" + FLEET.split("images:")[1]
    assert load_fleet(_world(tmp_path, without)).patch is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("min_severity: medium", "min_severity: dire"), "'patch.min_severity': 'dire' is not"),
        (("[patches-dir, newer-debian]", "[ubuntu]"), r"patch.sources.0"),
        (("[patches-dir, newer-debian]", "[]"), r"patch.sources"),
        (("[patches-dir, newer-debian]", "[newer-debian, newer-debian]"), "sources repeat"),
        (("max_builds: 2", "max_builds: 0"), r"patch.max_builds"),
        (("repo: repo,", ""), r"patch.repo"),
        (("patch: false", "patch: sometimes"), r"images.1.patch"),
        (("archive_key: keys/archive.key", "archive_key: keys/none.key"), "does not exist"),
        (("patches: patches", "patches: nowhere"), "is not a directory"),
        (("[patches-dir, newer-debian]", "[newer-debian]"), "leaves out patches-dir"),
        ((', url: "http://127.0.0.1:8080"', ""), r"patch.url"),
        (("http://127.0.0.1:8080", "ftp://127.0.0.1"), "is not an http"),
        (("max_builds: 2,", "max_builds: 2, public_key: keys/none.gpg,"), "public_key .* does"),
    ],
)
def test_bad_patch_settings_name_the_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        load_fleet(_world(tmp_path, FLEET.replace(*change)))


def test_patches_dir_named_in_sources_needs_the_directory(tmp_path: Path) -> None:
    text = FLEET.replace("patches: patches\n", "")
    with pytest.raises(SpecError, match="names patches-dir but there is no patches: DIR"):
        load_fleet(_world(tmp_path, text))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("nocve.patch", "Description: make it faster\nOrigin: vendor, https://x.invalid\n---\n",
         "nocve.patch names no CVE in its DEP-3 header"),
        ("noorigin.patch", "Description: fix CVE-2099-0003\n---\n",
         "noorigin.patch has no 'Origin:' field"),
        ("README", "these are our patches\n", "is not a patch: it has no unified diff"),
    ],
)  # fmt: skip
def test_a_patch_without_a_dep3_cve_header_is_rejected_with_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    fleet = _world(tmp_path)
    bad = tmp_path / "patches" / name
    bad.write_text(text + (DIFF if name != "README" else ""))
    with pytest.raises(SpecError, match=message):
        load_fleet(fleet)
    # through the CLI: exit 2, one sentence naming the file, nothing written
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert name in line and message in line
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_patch_false_and_in_place_share_the_image_field(tmp_path: Path) -> None:
    text = FLEET.replace(
        "  - {spec: b.yaml, repository: hb/b, tags: [latest], patch: false}\n",
        "  - {spec: b.yaml, repository: hb/b, tags: [latest], patch: false}\n"
        "  - {image: 'oci:up:latest', patch: in-place, repository: hb/c, tags: [latest]}\n"
        "  - {spec: d.yaml, repository: hb/d, tags: [latest], patch: true}\n",
    )
    fleet = load_fleet(_world(tmp_path, text))
    assert [(i.name, i.patch, i.inplace is not None) for i in fleet.images] == [
        ("hb/a", True, False), ("hb/b", False, False), ("hb/c", False, True), ("hb/d", True, False)
    ]  # fmt: skip
    with pytest.raises(SpecError, match="give either spec: FILE, or image: REF"):
        load_fleet(_world(tmp_path, text.replace("patch: in-place", "patch: false")))
