#!/usr/bin/env bash
# Extracts Fashion-MNIST from Debian's dataset-fashion-mnist into .cache/datasets for the
# engine's accuracy test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/apt-ensure.sh dataset-fashion-mnist
out=.cache/datasets/fashion-mnist
mkdir -p "$out"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -s "$out/$f" ] || gunzip -c "/usr/share/datasets/fashion-mnist/$f.gz" > "$out/$f"
done
