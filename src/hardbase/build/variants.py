"""The distroless family of an image: `latest`, `nonroot`, `debug` and `debug-nonroot`.

distroless publishes every image four ways under one repository: `latest`
(user root), `nonroot` (uid 65532), `debug` (with busybox, as root) and
`debug-nonroot`. `hardbase build --variants` builds the four from one spec
that extends a preset, `push --variants` and the controller (`variants:` in
a fleet) publish them under the same convention. With a base tag other than
`latest`, `T` names the `latest` variant and the others are `T-nonroot`,
`T-debug` and `T-debug-nonroot` (distroless's `:3.13-debug` style).

The debug variants resolve one more package (busybox), so they have their
own lock file beside the spec (`NAME.debug.lock.json`); the user does not
change what is resolved, so `latest` and `nonroot` share the spec's lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbase.build.spec import DEBUG_SUFFIX, ImageSpec, load_spec, parse_spec
from hardbase.errors import SpecError, UsageError
from hardbase.util.progress import Progress

if TYPE_CHECKING:
    from hardbase.build.pipeline import BuildResult

VARIANTS = ("latest", "nonroot", "debug", "debug-nonroot")
USERS = {"latest": "root", "nonroot": "nonroot", "debug": "root", "debug-nonroot": "nonroot"}
LATEST = "latest"


def variant_tag(base: str | None, variant: str) -> str:
    """The tag `variant` is published under, for the base tag `base` (default `latest`)."""
    if variant not in VARIANTS:
        raise UsageError(f"'{variant}' is not a variant; choose one of {', '.join(VARIANTS)}")
    if not base or base == LATEST:
        return variant
    return base if variant == LATEST else f"{base}-{variant}"


def variant_tags(base: str | None) -> dict[str, str]:
    """Variant -> tag, for every variant."""
    return {v: variant_tag(base, v) for v in VARIANTS}


def load_variants(path: Path, only: tuple[str, ...] = VARIANTS) -> dict[str, ImageSpec]:
    """The specs of the variants `only` of the spec at `path` (which must extend a preset)."""
    spec = load_spec(path)  # every field validated, with the same errors as a plain build
    extends = spec.model.extends
    if not extends or extends.endswith(DEBUG_SUFFIX):
        raise UsageError(
            f"{path}: variants are made from a spec that extends a preset without "
            f"{DEBUG_SUFFIX} (the debug variants add it); it has "
            + (f"extends: {extends}" if extends else "no extends")
        )
    import yaml

    data: dict[str, Any] = yaml.safe_load(path.read_text())
    out: dict[str, ImageSpec] = {}
    for variant in only:
        variant_tag(None, variant)  # a known variant
        out[variant] = variant_spec(spec, data, variant)
    return out


def load_variant(path: Path, variant: str | None) -> ImageSpec:
    """The spec at `path`, as `variant` when one is named (the controller's fleet images)."""
    if variant is None:
        return load_spec(path)
    return load_variants(path, (variant,))[variant]


def variant_spec(spec: ImageSpec, data: dict[str, Any], variant: str) -> ImageSpec:
    """`spec` (read from `data`) as `variant`: the user set, `-debug` added for debug."""
    changed = dict(data)
    changed["user"] = USERS[variant]
    where = spec.path
    if variant.startswith("debug"):
        changed["extends"] = f"{data['extends']}{DEBUG_SUFFIX}"
        where = spec.path.with_name(f"{_stem(spec.path)}.debug{spec.path.suffix}")
    try:
        return parse_spec(changed, where)
    except SpecError as exc:
        raise SpecError(f"the {variant} variant of {spec.path}: {exc.diagnostics()}") from None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name


def build_variants(
    path: Path,
    output: Path,
    *,
    tag: str = LATEST,
    relock: bool = False,
    progress: Progress | None = None,
) -> list[tuple[str, ImageSpec, BuildResult]]:
    """Build every variant of the spec at `path` into one OCI layout at `output`.

    Each variant is built as `hardbase build` builds it, into a staging layout
    beside `output`; the four are then copied into one layout (shared layers
    stored once), tagged by the convention, which replaces `output` whole.
    """
    import dataclasses
    import shutil
    import tempfile

    from hardbase.build.pipeline import build, replace_output
    from hardbase.oci.copy import copy

    specs = load_variants(path)
    tags = variant_tags(tag)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.variants."))
    built = []
    try:
        merged = staging / "layout"
        for variant, spec in specs.items():
            one = build(spec, staging / variant, tag=tags[variant], relock=relock,
                        progress=progress)  # fmt: skip
            copy(f"oci:{one.output}:{tags[variant]}", f"oci:{merged}:{tags[variant]}")
            built.append((variant, spec, one))
        replace_output(merged, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    stem = output.name
    return [
        (variant, spec, dataclasses.replace(
            one, output=output, sbom_stem=stem if variant == LATEST else f"{stem}.{variant}"
        ))
        for variant, spec, one in built
    ]  # fmt: skip
