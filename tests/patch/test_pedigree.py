"""The truth travels with the image: pedigree, PATCH_FOR and OpenVEX from a rebuild's own .deb.

A **fixture** rebuild: a made-up source `fixture-tool` (binary libfixture-tool1) and a
made-up `CVE-2099-4242`, none of it a real package or advisory. Its tree gets the
`Hardbase-*` control fields `hardbase patch build` writes (hardbase.debian.pedigree);
dpkg-buildpackage (dpkg-gencontrol) and dpkg-source -b make a real .deb and source
package, published to a signed REPO. Debian's original, 1.0-1, is in a fixture
archive. The image built from both picks the rebuild; its SBOMs (checked against the
official schemas) name Debian's package as the ancestor with the patch and the CVE,
`build --sign-key` attaches an OpenVEX `fixed` attestation that `verify` checks, and
the scanner, whose database learnt the fix from REPO's changelog, reports the CVE in
the Debian image (fixed in our version) and not in ours.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from archive_fixture import FixtureArchive
from hardbase.attest.names import OPENVEX_V020
from hardbase.attest.store import existing_layers, open_store
from hardbase.cli.main import main
from hardbase.debian.pedigree import PatchInfo, Pedigree, add_to_control, read
from hardbase.repo.keys import write_archive_key
from hardbase.repo.publish import publish
from hardbase.repo.serve import RepoServer
from hardbase.sbom.cyclonedx import CycloneDxJson
from hardbase.sbom.generate import collect
from hardbase.util.digest import Digest
from sbom.cyclonedx_oracle import CycloneDxJson as LibraryCycloneDxJson
from sbom.sbom_support import cdx_errors, spdx_errors  # noqa: F401 (session fixtures)

VERSION = "1.0-1+deb12u0+hb1"
CVE = "CVE-2099-4242"
DIFF = (
    "Description: fixture fix for CVE-2099-4242 (not a real advisory)\n"
    "Origin: upstream, https://example.invalid/fixture-tool/commit/0123abcd\n"
    "--- a/tool.c\n+++ b/tool.c\n@@ -1 +1 @@\n-return n + 7;\n+return n;\n"
)
PEDIGREE = Pedigree(
    source="fixture-tool",
    version="1.0-1",
    fixes=(CVE,),
    patches=(
        PatchInfo(
            "fix-CVE-2099-4242.patch",
            hashlib.sha256(DIFF.encode()).hexdigest(),
            "cherry-pick",
            (CVE,),
            DIFF,
        ),
    ),  # fmt: skip
)
CHANGELOG = (
    f"fixture-tool ({VERSION}) bookworm; urgency=medium\n\n"
    f"  * Fixture rebuild: fix {CVE}: debian/patches/fix-CVE-2099-4242.patch.\n\n"
    " -- hardbase <rebuilds@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000\n\n"
    "fixture-tool (1.0-1) bookworm; urgency=medium\n\n"
    "  * Fixture entry written for hardbase's tests, not a real upload.\n\n"
    " -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2025 10:00:00 +0000\n"
)
RULES = (
    "#!/usr/bin/make -f\nclean:\n\trm -rf debian/tmp\nbuild build-arch build-indep:\n"
    "binary binary-arch:\n"
    "\tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/doc/libfixture-tool1\n"
    "\techo 'fixture, not a real package' > debian/tmp/usr/share/doc/libfixture-tool1/copyright\n"
    "\tdpkg-gencontrol -plibfixture-tool1 -Pdebian/tmp\n"
    "\tdpkg-deb --root-owner-group --build debian/tmp ..\n"
    "binary-indep:\n"
)
OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Fixture 12"\n'


def rebuild(work: Path) -> tuple[Path, Path]:
    """The fixture rebuild's .deb and .dsc, made by dpkg from a tree with the fields."""
    tree = work / "fixture-tool-1.0"
    (tree / "debian" / "source").mkdir(parents=True)
    (tree / "tool.c").write_text("return n;\n")
    subprocess.run(["tar", "--exclude=debian", "-czf", "fixture-tool_1.0.orig.tar.gz",
                    tree.name], cwd=work, check=True)  # fmt: skip
    (tree / "debian" / "source" / "format").write_text("3.0 (quilt)\n")
    (tree / "debian" / "changelog").write_text(CHANGELOG)
    (tree / "debian" / "control").write_text(
        "Source: fixture-tool\nMaintainer: hardbase tests <tests@hardbase.invalid>\n\n"
        "Package: libfixture-tool1\nArchitecture: any\n"
        "Description: fixture library for hardbase's tests\n not a real package\n"
    )
    add_to_control(tree / "debian" / "control", PEDIGREE)
    (tree / "debian" / "rules").write_text(RULES)
    (tree / "debian" / "rules").chmod(0o755)
    subprocess.run(["dpkg-buildpackage", "-B", "-us", "-uc", "-d"], cwd=tree, check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run(["dpkg-source", "-b", tree.name], cwd=work, check=True, capture_output=True)
    return work / f"libfixture-tool1_{VERSION}_amd64.deb", work / f"fixture-tool_{VERSION}.dsc"


def attestations(layout: Path, digest: str) -> dict[str, dict[str, Any]]:
    """predicate type -> in-toto statement, of the attestations in an OCI layout."""
    out: dict[str, dict[str, Any]] = {}
    with open_store(f"oci:{layout}") as store:
        for layer in existing_layers(store, Digest(digest).cosign_tag("att"),
                                     "application/vnd.dsse.envelope.v1+json"):  # fmt: skip
            envelope = json.loads(store.read_blob(layer))
            statement = json.loads(base64.b64decode(envelope["payload"]))
            out[statement["predicateType"]] = statement
    return out


def test_the_carrier_round_trips_and_refuses_a_diff_that_does_not_match(tmp_path: Path) -> None:
    control = tmp_path / "control"
    control.write_text("Source: x\nXB-Hardbase-Fixes: CVE-1999-0001\n\nPackage: x\n")
    add_to_control(control, PEDIGREE)
    text = control.read_text()
    assert text.count("XB-Hardbase-Fixes:") == 1 and "CVE-1999-0001" not in text
    assert text.endswith("\n\nPackage: x\n")
    deb, _ = rebuild(tmp_path / "build")
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    from hardbase.vuln.inventory import parse_control

    paragraph = parse_control(fields)[0]
    assert paragraph["Hardbase-Patched-From"] == "fixture-tool (= 1.0-1)"
    assert read(paragraph) == PEDIGREE
    tampered = dict(paragraph, **{"Hardbase-Patches": paragraph["Hardbase-Patches"].replace(
        PEDIGREE.patches[0].sha256, "0" * 64)})  # fmt: skip
    found = read(tampered)
    assert found is not None and found.patches[0].diff == ""  # not taken on trust
    assert read({"Hardbase-Patched-From": "garbage", "Hardbase-Fixes": CVE}) is None


@pytest.fixture
def world(tmp_path: Path) -> Any:
    key = write_archive_key(tmp_path / "archive", unencrypted=True)
    deb, dsc = rebuild(tmp_path / "build")
    repo = tmp_path / "repo"
    publish(repo, "bookworm", [deb, dsc], key.secret)
    with FixtureArchive(tmp_path / "fixture") as archive:
        archive.add_package("fixture-os", "12", files={"etc/os-release": OS_RELEASE,
                            "usr/share/doc/fixture-os/copyright": "fixture\n"})  # fmt: skip
        archive.add_package("libfixture-tool1", "1.0-1", source="fixture-tool")
        archive.publish("stable")
        with RepoServer(repo) as server:
            yield tmp_path, archive, server, key


def _spec(tmp: Path, name: str, sources: list[dict[str, Any]]) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "release": "bookworm", "sources": sources,
                                    "packages": ["fixture-os", "libfixture-tool1"]}))  # fmt: skip
    return path


def test_sboms_vex_and_scan_of_an_image_with_the_rebuild(
    world: Any,
    capsys: pytest.CaptureFixture[str],
    cdx_errors: Any,  # noqa: F811
    spdx_errors: Any,  # noqa: F811
) -> None:
    tmp, archive, server, key = world
    debian = {"uris": [archive.url], "suites": ["stable"], "signed-by": str(archive.keyring)}
    ours = {"uris": [server.url], "suites": ["bookworm-hardbase"], "signed-by": str(key.public)}
    assert main(["-q", "keygen", "--no-password", "--output-prefix", str(tmp / "cosign")]) == 0
    patched = _spec(tmp, "patched", [debian, ours])
    assert main(["-q", "build", str(patched), "-o", str(tmp / "img"),
                 "--sign-key", str(tmp / "cosign.key")]) == 0  # fmt: skip
    digest = capsys.readouterr().out.strip().splitlines()[-1]
    purl = "pkg:deb/debian/libfixture-tool1@1.0-1%2Bdeb12u0%2Bhb1?arch=amd64&distro=debian-12"
    debian_purl = "pkg:deb/debian/libfixture-tool1@1.0-1?arch=amd64&distro=debian-12"

    # CycloneDX: Debian's package as ancestor, the patch with its diff and the CVE
    cdx = json.loads((tmp / "img.cdx.json").read_text())
    assert cdx_errors(cdx) == []
    component = next(c for c in cdx["components"] if c["name"] == "libfixture-tool1")
    assert component["purl"] == purl
    pedigree = component["pedigree"]
    assert [(a["name"], a["version"], a["purl"]) for a in pedigree["ancestors"]] == [
        ("libfixture-tool1", "1.0-1", debian_purl)
    ]
    [patch] = pedigree["patches"]
    assert patch["type"] == "cherry-pick" and patch["diff"]["text"]["content"] == DIFF
    assert [(r["type"], r["id"]) for r in patch["resolves"]] == [("security", CVE)]
    other = next(c for c in cdx["components"] if c["name"] == "fixture-os")
    assert "pedigree" not in other
    # the plain-data writer gives the bytes the cyclonedx-python-lib writer gave
    image = collect(f"oci:{tmp / 'img'}:latest")
    when = datetime(2025, 1, 2, tzinfo=UTC)
    assert CycloneDxJson().render(image, created=when) == LibraryCycloneDxJson().render(
        image, created=when
    )

    # SPDX: a package for Debian's original, the patch PATCH_FOR it and applied to ours
    spdx = json.loads((tmp / "img.spdx.json").read_text())
    assert spdx_errors(spdx) == []
    ids = {p["SPDXID"]: p for p in spdx["packages"]}
    ours_id = next(i for i, p in ids.items() if p["name"] == "libfixture-tool1"
                   and p["versionInfo"] == VERSION)  # fmt: skip
    relations = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
                 for r in spdx["relationships"]}  # fmt: skip
    [(ancestor, _, _)] = [r for r in relations if r[1:] == ("ANCESTOR_OF", ours_id)]
    assert (ids[ancestor]["versionInfo"], ids[ancestor]["supplier"]) == (
        "1.0-1",
        "Organization: Debian",
    )
    [(patch_id, _, _)] = [r for r in relations if r[1:] == ("PATCH_FOR", ancestor)]
    assert (patch_id, "PATCH_APPLIED", ours_id) in relations
    assert ids[patch_id]["description"] == DIFF
    assert ids[patch_id]["checksums"] == [
        {"algorithm": "SHA256", "checksumValue": PEDIGREE.patches[0].sha256}
    ]
    assert [r["referenceLocator"] for r in ids[patch_id]["externalRefs"]] == [
        f"https://security-tracker.debian.org/tracker/{CVE}"
    ]

    # OpenVEX: a signed attestation saying `fixed` on the rebuild's purl; verify checks it
    attached = attestations(tmp / "img", digest)
    vex = attached[OPENVEX_V020]["predicate"]
    assert vex["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert [(s["vulnerability"]["name"], s["status"],
             [p["@id"] for p in s["products"][0]["subcomponents"]]) for s in vex["statements"]
            ] == [(CVE, "fixed", [purl])]  # fmt: skip
    assert vex["statements"][0]["products"][0]["@id"].startswith("pkg:oci/patched@sha256%3A")
    assert main(["-q", "verify", f"oci:{tmp / 'img'}:latest", "--key", str(tmp / "cosign.pub"),
                 "--require", "openvex", "--require", OPENVEX_V020]) == 0  # fmt: skip
    capsys.readouterr()

    # scan: the database learns the fix from REPO's changelog; Debian's image has the CVE,
    # fixed in our version, and ours does not
    db = str(tmp / "vuln.db")
    assert main(["-q", "--cache-dir", str(tmp / "cache"), "db", "update", "--db", db,
                 "--source", f"debian-changelog={server.url}",
                 "--source", "debian-changelog=archive=hardbase",
                 "--source", f"debian-changelog=signed-by={key.public}",
                 "--source", "debian-changelog=bookworm"]) == 0  # fmt: skip
    stock = _spec(tmp, "stock", [debian])
    assert main(["-q", "build", str(stock), "-o", str(tmp / "stock")]) == 0
    capsys.readouterr()

    def findings(layout: Path) -> list[tuple[str, str, str, str]]:
        assert main(["-q", "scan", f"oci:{layout}:latest", "--db", db, "--format", "json"]) in (
            0, 1)  # fmt: skip
        found = json.loads(capsys.readouterr().out)["findings"]
        return [(f["id"], f["package"]["name"], f["package"]["version"], f["fixed_version"])
                for f in found]  # fmt: skip

    assert findings(tmp / "stock") == [(CVE, "libfixture-tool1", "1.0-1", VERSION)]
    assert findings(tmp / "img") == []
