"""hardbase: minimal, hardened, reproducible container images from Debian packages."""

__version__ = "0.1.0"
