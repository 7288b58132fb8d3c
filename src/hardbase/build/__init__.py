"""Building images: specs and presets, lock files, fetching, assembly, layers."""
