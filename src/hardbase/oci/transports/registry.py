"""The `docker://HOST/REPO[:TAG|@DIGEST]` transport: an image in an OCI registry."""

from hardbase.oci.registry import RegistryClient, RegistryError, RegistrySource

__all__ = ["RegistryClient", "RegistryError", "RegistrySource"]
