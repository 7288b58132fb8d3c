"""Debian archives: signed indexes, version ordering, dependency resolution, .deb files."""
