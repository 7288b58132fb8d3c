"""Language packages inside files: Go and Rust binaries, Java archives."""
