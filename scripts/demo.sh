#!/usr/bin/env bash
# The main job, end to end: build a python3 image from the Debian archive,
# then report where it is, its digest, size and package count.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${DEMO_DIR:-demo}
mkdir -p "$DEMO"
cp images/python3.yaml "$DEMO/python3.yaml"

echo "==> building the python3 image (Debian trixie, amd64)"
start=$(date +%s.%N)
digest=$(hardbase build "$DEMO/python3.yaml" --output "$DEMO/python3" --relock | tail -n 1)
end=$(date +%s.%N)
hardbase build "$DEMO/python3.yaml" --output "$DEMO/python3.tar" --format oci-archive -q >/dev/null

python3 - "$DEMO" "$digest" "$start" "$end" <<'PY'
import json, sys
from pathlib import Path
demo, digest, start, end = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
lock = json.loads((demo / "python3.lock.json").read_text())
pkgs = lock["archs"]["amd64"]["packages"]
layout = demo / "python3"
index = json.loads((layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_text())
manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
size = sum(layer["size"] for layer in manifest["layers"])
print(f"image:     oci:{layout}:latest  (also {demo}/python3.tar as oci-archive)")
print(f"digest:    {digest}")
print(f"size:      {size / 1e6:.1f} MB compressed, {len(manifest['layers'])} layers")
print(f"packages:  {len(pkgs)} Debian packages ({lock['release']})")
print(f"built in:  {end - start:.1f} s (including resolving and downloading)")
PY
