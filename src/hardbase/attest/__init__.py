"""Signatures and attestations, compatible with cosign's storage in OCI registries and layouts."""
