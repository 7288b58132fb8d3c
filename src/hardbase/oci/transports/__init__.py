"""Image transports: where images are read from and written to."""
