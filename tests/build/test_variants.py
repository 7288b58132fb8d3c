"""`build --variants`, `push --variants` and `variants:` in a fleet: distroless's tag convention.

The fixture archive (signed, real .debs) holds packages named as the static
preset's and busybox, so a spec that extends `static` builds offline; the
four variants land in one layout, pushed to a real registry under the
convention.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from archive_fixture import FixtureArchive
from hardbase.build.variants import variant_tag, variant_tags
from hardbase.cli.main import main
from hardbase.errors import SpecError
from hardbase.lifecycle.fleet import parse_fleet
from hardbase.oci.filetree import walk_layers
from hardbase.oci.transports.open import open_source
from registry_fixture import running_registry

STATIC = ("base-files", "netbase", "tzdata", "media-types", "ca-certificates")


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    """FIXTURE packages with the static preset's names, and a busybox."""
    arch = FixtureArchive(tmp_path / "fixture")
    for name in STATIC:
        arch.add_package(name, "1.0-1", files={f"usr/share/doc/{name}/copyright": "Format: x\n"})
    arch.add_package("busybox", "1.0-1", files={"usr/bin/busybox": b"FIXTURE"}, modes={
        "usr/bin/busybox": 0o755})  # fmt: skip
    arch.publish("stable")
    with contextlib.closing(arch):
        yield arch


def write_spec(tmp: Path, archive: FixtureArchive, **extra: object) -> Path:
    """st.yaml: the static preset from the fixture archive, with `extra` fields."""
    source = {"uris": [archive.url], "suites": ["stable"], "signed-by": str(archive.keyring)}
    spec = tmp / "st.yaml"
    spec.write_text(
        yaml.safe_dump({"name": "st", "extends": "static", "sources": [source], **extra})
    )
    return spec


def test_the_tag_convention() -> None:
    assert variant_tags(None) == {v: v for v in ("latest", "nonroot", "debug", "debug-nonroot")}
    assert variant_tags("3.13") == {
        "latest": "3.13",
        "nonroot": "3.13-nonroot",
        "debug": "3.13-debug",
        "debug-nonroot": "3.13-debug-nonroot",
    }
    assert variant_tag("latest", "debug") == "debug"


def _image(ref: str) -> tuple[dict[str, object], set[str]]:
    with open_source(ref) as source:
        img = source.resolve()
        return img.config, set(walk_layers(source, img, lambda p: False).files)


def test_build_variants_writes_the_four_images_and_push_keeps_the_convention(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, archive)
    out = tmp_path / "out"
    assert main(["-q", "build", str(spec), "--output", str(out), "--variants"]) == 0
    lines = capsys.readouterr().out.split("\n")[:-1]
    built = dict(reversed(line.split(" ")) for line in lines)
    assert list(built) == ["latest", "nonroot", "debug", "debug-nonroot"]
    users = {}
    for tag, digest in built.items():
        with open_source(f"oci:{out}:{tag}") as source:
            assert source.top().digest == digest
        config, files = _image(f"oci:{out}:{tag}")
        users[tag] = config["config"]["User"]  # type: ignore[index]
        assert ("usr/bin/busybox" in files) == tag.startswith("debug"), tag
        assert ("usr/bin/sh" in files or "bin/sh" in files) == tag.startswith("debug"), tag
    assert users["latest"] == users["debug"] and users["latest"].startswith("0")
    assert users["nonroot"] == users["debug-nonroot"] == "65532:65532"
    assert (tmp_path / "st.lock.json").is_file() and (tmp_path / "st.debug.lock.json").is_file()
    for stem in ("out", "out.nonroot", "out.debug", "out.debug-nonroot"):  # beside --output
        assert (tmp_path / f"{stem}.spdx.json").is_file(), stem
        assert (tmp_path / f"{stem}.cdx.json").is_file(), stem

    with running_registry(tmp_path / "registry") as registry:
        dest = f"docker://{registry.host}/st:1.0"
        assert main(["-q", "push", f"oci:{out}", dest, "--insecure", "--variants"]) == 0
        pushed = dict(
            reversed(line.split(" ")) for line in capsys.readouterr().out.split("\n")[:-1]
        )
        assert list(pushed) == ["1.0", "1.0-nonroot", "1.0-debug", "1.0-debug-nonroot"]
        assert list(pushed.values()) == list(built.values())
        with urllib.request.urlopen(f"http://{registry.host}/v2/st/tags/list") as response:
            tags = json.loads(response.read())["tags"]
        assert sorted(tags) == sorted(pushed)


@pytest.mark.parametrize("case", ["debug-preset", "no-preset", "archive-format"])
def test_variants_refuse_what_they_cannot_build(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    extra: dict[str, object] = {}
    args = ["--variants"]
    if case == "debug-preset":
        extra = {"extends": "static-debug"}
    elif case == "no-preset":
        extra = {"extends": None, "packages": ["base-files"]}
    else:
        args += ["--format", "oci-archive"]
    spec = write_spec(tmp_path, archive, **extra)
    out = tmp_path / "out"
    assert main(["-q", "build", str(spec), "--output", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and ("variants" in err or "--variants" in err), err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
    assert not (tmp_path / "st.lock.json").exists()


def test_push_variants_refuses_a_layout_without_them(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, archive)
    out = tmp_path / "out"
    assert main(["-q", "build", str(spec), "--output", str(out)]) == 0  # latest only
    capsys.readouterr()
    dest = tmp_path / "dest"
    assert main(["-q", "push", f"oci:{out}", f"oci:{dest}", "--variants"]) == 2
    err = capsys.readouterr().err
    assert "nonroot" in err and "--variants" in err and len(err.strip().splitlines()) == 1
    assert not dest.exists()


def fleet(tmp: Path, images: list[dict[str, object]]) -> Path:
    path = tmp / "fleet.yaml"
    doc = {"registry": {"url": "127.0.0.1:5000"}, "sign_key": "k.key", "images": images}
    path.write_text(json.dumps(doc))
    return path


def test_fleet_variants_publish_each_variant_under_the_convention(tmp_path: Path) -> None:
    path = fleet(
        tmp_path,
        [{"spec": "py.yaml", "repository": "py", "tags": ["3.13", "latest"], "variants": True}],
    )
    images = parse_fleet(yaml.safe_load(path.read_text()), path).images
    assert {i.name: i.tags for i in images} == {
        "py:latest": ("3.13", "latest"),
        "py:nonroot": ("3.13-nonroot", "nonroot"),
        "py:debug": ("3.13-debug", "debug"),
        "py:debug-nonroot": ("3.13-debug-nonroot", "debug-nonroot"),
    }
    assert [i.variant for i in images] == ["latest", "nonroot", "debug", "debug-nonroot"]
    one = fleet(tmp_path, [{"spec": "py.yaml", "repository": "py", "tags": ["1"],
                            "variants": ["nonroot"]}])  # fmt: skip
    assert [i.tags for i in parse_fleet(yaml.safe_load(one.read_text()), one).images] == [
        ("1-nonroot",)
    ]
    clash = fleet(
        tmp_path,
        [
            {"spec": "py.yaml", "repository": "py", "tags": ["latest"], "variants": True},
            {"spec": "py.yaml", "repository": "py", "tags": ["nonroot"]},
        ],
    )
    with pytest.raises(SpecError, match=r"same repository and tag \(py:nonroot\)"):
        parse_fleet(yaml.safe_load(clash.read_text()), clash)
