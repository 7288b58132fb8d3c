"""The plain-data CycloneDX writer gives, byte for byte, what cyclonedx-python-lib gave.

Each input is rendered by hardbase.sbom.cyclonedx and by the old library-built writer
(cyclonedx_oracle.py, the test's oracle); the bytes must be equal. The inputs cover
what changes the document's shape: the fixture image, no OS, a dir: image without a
digest, hashes, layers, a non-UTF-8 path, malformed and missing purls, an empty
version, a registry image, no packages, a repeated package, and rebuilds with
pedigrees (several patches, a missing diff, issues that are a prefix of another's).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import cyclonedx_oracle
import pytest
from sbom_support import DIGEST, FILES, PACKAGES, TRIXIE, Validate, deb, make_inventory

from hardbase.debian.pedigree import PatchInfo, Pedigree, control_fields
from hardbase.sbom.cyclonedx import CycloneDxJson
from hardbase.sbom.generate import build_input
from hardbase.sbom.interface import SbomInput
from hardbase.vuln.model import InstalledPackage, OSRelease

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
DIFF = "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-bad\n+good (fixture patch)\n"


def rebuilt(name: str, patches: tuple[PatchInfo, ...], fixes: tuple[str, ...]) -> InstalledPackage:
    """A fixture package rebuilt by hardbase: its control fields carry the pedigree."""
    pedigree = Pedigree(name, "1.0-1", fixes, patches)
    fields = {
        k: v.strip() if k != "Hardbase-Patches" else v for k, v in control_fields(pedigree).items()
    }
    package = deb(name, "1.0-1+b2+hb1", name, "1.0-1+hb1")
    return dataclasses.replace(package, extra=fields)


def patch(name: str, kind: str, resolves: tuple[str, ...], diff: str) -> PatchInfo:
    import hashlib

    return PatchInfo(name, hashlib.sha256(diff.encode()).hexdigest(), kind, resolves, diff)


PEDIGREES = (
    rebuilt(
        "fixture-one",
        (patch("01-fix.patch", "cherry-pick", ("CVE-2099-0001",), DIFF),),
        ("CVE-2099-0001",),
    ),
    rebuilt(
        "fixture-many",
        (
            patch("10-b.patch", "cherry-pick", ("CVE-2099-0003", "CVE-2099-0002"), DIFF),
            patch("11-a.patch", "backport", ("CVE-2099-0009",), DIFF + "+more\n"),
            patch("12-c.patch", "unofficial", ("CVE-bogus",), "+x\n"),
        ),
        ("CVE-2099-0002", "CVE-2099-0003", "CVE-2099-0009"),
    ),
)


def _inputs() -> dict[str, SbomInput]:
    base = build_input(make_inventory(), FILES.get)
    hashed = dataclasses.replace(
        PACKAGES[0],
        layer="sha256:" + "cd" * 32,
        extra={"sha256": "AB" * 32, "md5": "0f" * 16, "sha1": "not hex", "sha512": "12" * 64},
    )
    odd = (
        hashed,
        dataclasses.replace(PACKAGES[1], path="usr/lib/b\udcffad%name/METADATA", purl="not a purl"),
        InstalledPackage(type="pypi", name="noversion", version="", path="x/METADATA"),
        InstalledPackage(type="npm", name="nopurl", version="1.0"),
        InstalledPackage(
            type="pypi", name="requests", version="2.32.3", purl="pkg:pypi/requests@2.32.3"
        ),
        InstalledPackage(
            type="pypi", name="requests", version="2.32.3", purl="pkg:pypi/requests@2.32.3"
        ),
        deb("zlib1g", "1:1.3.dfsg-3.1"),
        *PACKAGES[2:],
    )
    # unmatched fields on a package whose source has no patches: no pedigree, no crash
    broken = dataclasses.replace(deb("broken", "1"), extra={"Hardbase-Patched-From": "garbage"})
    # a missing diff, and issues of one patch a prefix of another's (the library's order)
    nodiff = rebuilt(
        "fixture-nodiff",
        (
            PatchInfo("20-a.patch", "0" * 64, "backport", ("CVE-2099-0005", "CVE-2099-0006"), ""),
            PatchInfo("21-b.patch", "1" * 64, "backport", ("CVE-2099-0005",), ""),
            PatchInfo("22-c.patch", "2" * 64, "backport", ("CVE-2099-0004",), ""),
        ),
        ("CVE-2099-0004", "CVE-2099-0005", "CVE-2099-0006"),
    )
    inventory = make_inventory(PACKAGES + PEDIGREES + (broken, nodiff))
    return {
        "fixture": base,
        "no-os": dataclasses.replace(base, os=OSRelease()),
        "os-codename-only": dataclasses.replace(
            base, os=OSRelease(id="debian", version_codename="trixie")
        ),
        "dir-no-digest": dataclasses.replace(base, digest="", tag="", reference="dir:/tmp/rootfs"),
        "registry": dataclasses.replace(
            base, repository_url="registry.example:5000/team/py", tag="v1"
        ),
        "odd-packages": build_input(make_inventory(odd), FILES.get),
        "no-packages": build_input(make_inventory(()), FILES.get),
        "no-packages-no-os": dataclasses.replace(
            build_input(make_inventory(()), FILES.get), os=OSRelease()
        ),
        "pedigrees": build_input(inventory, FILES.get),
        "pedigrees-bookworm": dataclasses.replace(
            build_input(inventory, FILES.get),
            os=OSRelease(
                id="debian", version_id="12", pretty_name="Debian GNU/Linux 12 (bookworm)"
            ),
        ),
    }


INPUTS = _inputs()


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_plain_writer_gives_the_library_writers_bytes(name: str, cdx_errors: Validate) -> None:
    sbom = INPUTS[name]
    new = CycloneDxJson().render(sbom, created=WHEN)
    old = cyclonedx_oracle.CycloneDxJson().render(sbom, created=WHEN)
    assert new.decode() == old.decode()
    import json

    assert cdx_errors(json.loads(new)) == []


def test_the_inputs_reach_every_part_of_the_document() -> None:
    """The cases above are not vacuous: they write pedigrees, hashes, ids and expressions."""
    text = CycloneDxJson().render(INPUTS["pedigrees"], created=WHEN).decode()
    assert text.count('"ancestors"') == 3 and '"diff"' in text and "unofficial" in text
    odd = CycloneDxJson().render(INPUTS["odd-packages"], created=WHEN).decode()
    assert '"MD5"' in odd and '"SHA-512"' in odd and "path-percent-encoded" in odd
    assert '"id": "MIT"' in text and '"expression"' in text
    assert DIGEST[7:] in text and TRIXIE.pretty_name in text
