"""Debian source packages: fetched from the signed archive, verified and unpacked."""
