"""OCI images: references, layouts, deterministic layers, archives and registries."""
