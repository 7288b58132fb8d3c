"""`open_source()`: the ImageSource for a reference, picked by its transport."""

from __future__ import annotations

import importlib

from hardbase.errors import UsageError
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.oci.transports.interface import ImageSource


def open_source(ref: ImageRef | str, *, insecure: bool = False) -> ImageSource:
    """Open `ref` for reading; `insecure` allows plain HTTP to a registry.

    `dir:` is refused: a root filesystem is not an image; read it with
    `hardbase.oci.filetree.walk_dir`.
    """
    if isinstance(ref, str):
        ref = parse_reference(ref)
    if ref.transport == "oci":
        from hardbase.oci.transports.oci_layout import OCILayoutSource

        return OCILayoutSource(ref)
    if ref.transport == "oci-archive":
        from hardbase.oci.transports.oci_archive import OCIArchiveSource

        return OCIArchiveSource(ref)
    if ref.transport == "docker-archive":
        from hardbase.oci.transports.docker_archive import DockerArchiveSource

        return DockerArchiveSource(ref)
    if ref.transport == "docker":
        return _registry_source(ref, insecure)
    if ref.transport == "containers-storage":
        from hardbase.oci.transports.containers_storage import ContainersStorageSource

        return ContainersStorageSource(ref)
    if ref.transport == "dir":
        raise UsageError(
            f"{ref} is a root filesystem, not an image; it has no manifest or layers "
            "to read (scan it, or build an image from it, instead)"
        )
    raise UsageError(f"'{ref}' uses the unknown transport {ref.transport}")


def _registry_source(ref: ImageRef, insecure: bool) -> ImageSource:
    try:
        registry = importlib.import_module("hardbase.oci.registry")
    except ModuleNotFoundError as exc:
        if exc.name != "hardbase.oci.registry":
            raise
        raise UsageError(
            f"cannot read {ref}: this hardbase has no registry client; "
            "copy the image to an oci-archive: or docker-archive: file first"
        ) from None
    source_class = getattr(registry, "RegistrySource", None)
    if source_class is None:
        raise UsageError(f"cannot read {ref}: hardbase.oci.registry has no RegistrySource")
    source = source_class(ref, insecure=insecure)
    if not isinstance(source, ImageSource):
        raise UsageError(f"cannot read {ref}: RegistrySource is not an ImageSource")
    return source
