"""Application images: an app and its PyPI or npm dependencies over a runtime image.

The spec's `app:` section names a pinned requirements file or an npm lockfile
and the app's own files. Dependencies are installed by the ecosystem's own
tool (pip, npm) inside a throwaway build root assembled from the image's lock
plus the tool's Debian packages, run with runc; the result becomes layers over
the unchanged runtime layers. See docs/apps.md.
"""
