"""The `oci:DIR[:TAG]` transport: an OCI image layout directory."""

from __future__ import annotations

from typing import IO

from hardbase.errors import ImageError
from hardbase.oci.layout import Descriptor, Layout
from hardbase.oci.reference import ImageRef
from hardbase.oci.transports.interface import ImageSource


class OCILayoutSource(ImageSource):
    def __init__(self, ref: ImageRef) -> None:
        super().__init__(ref)
        self.layout = Layout.open(ref.local_path)
        self.layout.entries()  # a bad index.json fails here, before any destination is made

    def top(self) -> Descriptor:
        return self.layout.find(self.ref.tag)

    def open_blob(self, descriptor: Descriptor) -> IO[bytes]:
        try:
            return self.layout.blob_path(descriptor.digest).open("rb")
        except FileNotFoundError:
            raise ImageError(f"blob {descriptor.digest} is missing from {self.ref.path}") from None
