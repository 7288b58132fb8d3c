"""Building images: specs and presets, lock files, fetching, assembly, layers.

`OutputFormat` names what `hardbase build --format` writes: an OCI layout
directory, or an oci-archive or docker-archive file (`pipeline._finish_output`,
with `oci/write.py`). It lives here so the command-line parser reads it without
importing the build.
"""

from typing import Literal

OutputFormat = Literal["oci", "oci-archive", "docker-archive"]
