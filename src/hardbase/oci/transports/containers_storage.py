"""The `containers-storage:NAME[:TAG]` transport: podman's (and buildah's) local image store.

The store's own format (layers as directories of a storage driver, locks shared
with podman) is only safe to read through containers/image, so hardbase asks
skopeo, which is that library's command line, to copy the image into an OCI
layout in a private temp directory under the cache, then reads that layout as
it reads any `oci:` image, digests checked. The temp copy is removed when the
source is closed. The manifest digest hardbase reports is the copy's (the store
keeps layers uncompressed, so a registry's manifest digest cannot survive the
copy); the config digest is podman's image ID.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import IO

from hardbase.oci.layout import Descriptor
from hardbase.oci.reference import ImageRef
from hardbase.oci.transports.interface import ImageSource, TransportError
from hardbase.oci.transports.oci_layout import OCILayoutSource
from hardbase.util.paths import cache_dir
from hardbase.util.tools import last_error_line, run_tool

TAG = "image"


class ContainersStorageSource(ImageSource):
    """An image of the local containers storage, read through a private OCI copy."""

    def __init__(self, ref: ImageRef) -> None:
        super().__init__(ref)
        where = cache_dir() / "tmp"
        where.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(dir=where, prefix="containers-storage."))
        try:
            self._copy()
            self._layout = OCILayoutSource(ImageRef("oci", path=self._tmp / "layout", tag=TAG))
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise

    def _copy(self) -> None:
        done = run_tool(
            ["skopeo", "copy", "--quiet", str(self.ref), f"oci:{self._tmp / 'layout'}:{TAG}"],
            package="skopeo",
            what=f"read {self.ref}",
            error=TransportError,
        )
        if done.returncode != 0:
            why = last_error_line(done.stderr)
            if any(x in why for x in ("does not resolve to an image", "image not known")):
                raise TransportError(
                    f"{self.ref} is not in the local containers storage "
                    "(`podman images` lists what is there)"
                )
            raise TransportError(f"skopeo could not read {self.ref}: {why}")

    def top(self) -> Descriptor:
        return self._layout.top()

    def open_blob(self, descriptor: Descriptor) -> IO[bytes]:
        return self._layout.open_blob(descriptor)

    def close(self) -> None:
        self._layout.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
