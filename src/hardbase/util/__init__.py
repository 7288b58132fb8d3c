"""Small shared helpers: paths, atomic files, downloads, progress."""
