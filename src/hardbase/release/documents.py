"""The documents `hardbase sbom` and `hardbase vex` write about any image: its SBOM,
an OpenVEX statement about it, or several OpenVEX documents merged into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hardbase.sbom import SbomFormatName  # the names only: `hardbase sbom --format` offers them

__all__ = [
    "SbomFormatName",
    "image_product",
    "image_sbom",
    "merge_vex_files",
    "vex_statement_document",
]


def image_sbom(
    ref: str,
    format_name: SbomFormatName,
    *,
    insecure: bool = False,
    arch: str | None = None,
    name: str | None = None,
    layer_cache: bool = True,
) -> bytes:
    """The SBOM of the image `ref` names, in `format_name` (spdx-json or cyclonedx-json)."""
    from hardbase.sbom.generate import collect, render

    sbom = collect(ref, insecure=insecure, arch=arch, name=name, layer_cache=layer_cache)
    return render(sbom, format_name)


def vex_statement_document(
    vuln: str,
    status: str,
    product: str,
    *,
    subcomponents: Sequence[str] = (),
    justification: str = "",
    impact: str = "",
    action: str = "",
    author: str,
) -> dict[str, Any]:
    """An OpenVEX document with one statement about `product` (a purl)."""
    from hardbase.policy import openvex

    st = openvex.statement(
        vuln, status, product, subcomponents=subcomponents, justification=justification,
        impact=impact, action=action,
    )  # fmt: skip
    return openvex.document([st], author=author)


def image_product(ref: str, *, insecure: bool = False) -> str:
    """The purl an OpenVEX statement names the image `ref` by: its name and digest."""
    from hardbase.oci.reference import parse_reference
    from hardbase.oci.transports.open import open_source
    from hardbase.policy.openvex import image_purl

    image = parse_reference(ref)
    with open_source(image, insecure=insecure) as source:
        resolved = source.resolve()
    name = image.repository or (image.path.name if image.path else "image")
    repo = f"{image.registry}/{image.repository}" if image.registry else ""
    return image_purl(name.rsplit("/", 1)[-1], resolved.manifest.digest, repo)


def merge_vex_files(paths: Sequence[Path], *, author: str) -> dict[str, Any]:
    """The OpenVEX documents in `paths` as one: the latest statement per vulnerability
    and product wins."""
    from hardbase.policy import openvex
    from hardbase.vuln.vex import read_vex_document

    return openvex.merge([read_vex_document(p) for p in paths], author=author)
