#!/usr/bin/env bash
# `make test` from a clean clone of the committed tree, as CI runs it:
#   scripts/clean-clone-test.sh 1        (clones into ../clean-1, logs to ../clean-1.log)
# Caches allowed, as on CI: apt's, pip's (~/.cache/pip) and the model weights and dataset
# downloads, copied from this checkout. The clone sits beside this one so that ../shared
# is where the golden tests look for it. Prints the phase times and the total.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:?run number}
dir=$(dirname "$here")/clean-$n
log=$dir.log
rm -rf "$dir"
git clone -q "$here" "$dir"
mkdir -p "$dir/.cache"
for cache in weights downloads; do
  [ -d "$here/.cache/$cache" ] && cp -r "$here/.cache/$cache" "$dir/.cache/$cache"
done
cd "$dir"
start=$(date +%s)
make test > "$log" 2>&1
rc=$?
echo "rc=$rc total=$(( $(date +%s) - start )) s" >> "$log"
sed -n '/== phase times/,$p' "$log"
exit $rc
