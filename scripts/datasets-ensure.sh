#!/usr/bin/env bash
# Extracts Fashion-MNIST from Debian's dataset-fashion-mnist into .cache/datasets for the
# engine's accuracy test, then builds the object-detection sets (Tests/Fixtures/make_detection_set.py)
# and the real-photo set (Tests/Fixtures/make_photo_set.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/apt-ensure.sh dataset-fashion-mnist
out=.cache/datasets/fashion-mnist
mkdir -p "$out"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -s "$out/$f" ] || gunzip -c "/usr/share/datasets/fashion-mnist/$f.gz" > "$out/$f"
done
# Detection fixtures (DeepForest tiles from PyPI's deepforest wheel, and Fashion-MNIST objects
# composited onto them) for the detection interop checks and Benchmarks/detection_bench.py;
# needs the venv and the files above. A manifest from before the bench splits is rebuilt.
if [ ! -s .cache/datasets/deepforest-tiles/manifest.json ] || [ ! -s .cache/datasets/od-composites/manifest.json ] \
   || ! grep -q '"split": "benchtest"' .cache/datasets/od-composites/manifest.json; then
  .venv/bin/python Tests/Fixtures/make_detection_set.py
fi
# Real photographs from Debian packages (Tests/Fixtures/make_photo_set.py) for the
# fine-tuning test and the classification-quality benchmark.
[ -s .cache/datasets/photos/manifest.json ] || .venv/bin/python Tests/Fixtures/make_photo_set.py
