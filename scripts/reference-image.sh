#!/usr/bin/env bash
# Build the reference image `make demo` compares against: debian:RELEASE-slim with python3
# installed by apt (mmdebstrap --variant=minbase --include=python3), imported as a one-layer
# OCI image. Usage: scripts/reference-image.sh OUT_DIR [RELEASE]; prints oci:OUT_DIR:latest.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [RELEASE]}
release=${2:-trixie}
exec "${PYTHON:-python3}" - "$out" "$release" <<'PY'
import sys
from pathlib import Path

from hardbase.errors import HardbaseError
from hardbase.evaluate.reference import build_reference_image

try:
    print(build_reference_image(Path(sys.argv[1]), release=sys.argv[2]))
except HardbaseError as exc:
    print(f"reference-image: error: {exc.diagnostics()}", file=sys.stderr)
    sys.exit(exc.exit_code)
PY
