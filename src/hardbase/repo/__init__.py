"""hardbase's own Debian archive: an OpenPGP archive key, publishing, and a static server."""
