#!/usr/bin/env bash
# The main job, end to end, on a fresh machine (after `make setup`):
# build a signed python3 image from the Debian archive, write its SBOMs,
# build the vulnerability database for its packages, scan it, verify it,
# and score it against a debian:trixie-slim-style image.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${DEMO_DIR:-demo}
mkdir -p "$DEMO"
export HARDBASE_DB=${HARDBASE_DB:-$PWD/$DEMO/vuln.db}
export HARDBASE_KEY_PASSWORD=${HARDBASE_KEY_PASSWORD:-}
cp images/python3.yaml "$DEMO/python3.yaml"
t0=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }

step "signing key ($DEMO/cosign.key, password from HARDBASE_KEY_PASSWORD)"
# A demo key with no password is written unencrypted on purpose (--no-password);
# set HARDBASE_KEY_PASSWORD to get an encrypted one.
if [ ! -f "$DEMO/cosign.key" ]; then
  if [ -n "$HARDBASE_KEY_PASSWORD" ]; then
    hardbase keygen --output-prefix "$DEMO/cosign"
  else
    hardbase keygen --output-prefix "$DEMO/cosign" --no-password
  fi
fi

step "building the python3 image (Debian trixie, amd64) from the archive"
digest=$(hardbase build "$DEMO/python3.yaml" --output "$DEMO/python3" --relock \
  --sign-key "$DEMO/cosign.key" | tail -n 1)

step "reference image: debian:trixie-slim + apt-get install python3 (mmdebstrap --variant=minbase)"
[ -d "$DEMO/reference" ] || scripts/reference-image.sh "$DEMO/reference" trixie

step "vulnerability database: Debian changelogs of both images' source packages + security support"
sources=$(python3 - "$DEMO" <<'PY'
import sys
from hardbase.vuln.inventory import inventory
names = set()
for ref in (f"oci:{sys.argv[1]}/python3:latest", f"oci:{sys.argv[1]}/reference:latest"):
    names |= {p.source_name for p in inventory(ref).inventory.packages if p.type == "deb"}
print(",".join(sorted(names)))
PY
)
hardbase db update --source "debian-changelog=trixie:$sources" --source debian-security-support

step "scanning oci:$DEMO/python3:latest (gate: any fixable finding of high or critical severity)"
hardbase scan "oci:$DEMO/python3:latest" --format json --output "$DEMO/scan.json" --fail-on high
hardbase scan "oci:$DEMO/python3:latest" --fail-on high | tail -n 5

step "verifying the signature and attestations"
hardbase verify "oci:$DEMO/python3:latest" --key "$DEMO/cosign.pub" --require-attestations | tail -n 4

step "scorecard: hardbase python3 against the reference, on six dimensions"
hardbase compare "oci:$DEMO/python3:latest" "oci:$DEMO/reference:latest" \
  --html "$DEMO/scorecard.html" --json "$DEMO/scorecard.json" --markdown "$DEMO/scorecard.md" \
  --rebuild "oci:$DEMO/python3:latest=$DEMO/python3.yaml" \
  --smoke "python3 -c 'import ssl, sqlite3; print(ssl.OPENSSL_VERSION)'" --summary

step "summary"
python3 - "$DEMO" "$digest" "$t0" <<'PY'
import json, sys, time
from pathlib import Path
demo, digest, t0 = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
lock = json.loads((demo / "python3.lock.json").read_text())
pkgs = lock["archs"]["amd64"]["packages"]
layout = demo / "python3"
index = json.loads((layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_text())
manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
size = sum(layer["size"] for layer in manifest["layers"])
scan = json.loads((demo / "scan.json").read_text())
fixable = sum(1 for f in scan["findings"] if f["status"] == "fixable")
print(f"image:      oci:{layout}:latest")
print(f"digest:     {digest}")
print(f"size:       {size / 1e6:.1f} MB compressed, {len(manifest['layers'])} layers, "
      f"{len(pkgs)} Debian packages ({lock['release']})")
print(f"SBOMs:      {demo}/python3.spdx.json, {demo}/python3.cdx.json")
print(f"signature:  {demo}/cosign.pub verifies it (hardbase verify)")
print(f"scan:       {len(scan['findings'])} findings, {fixable} fixable ({demo}/scan.json)")
if (demo / "scorecard.html").exists():
    print(f"scorecard:  {demo}/scorecard.html")
print(f"total time: {time.time() - t0:.0f} s")
PY
