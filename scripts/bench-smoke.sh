#!/usr/bin/env bash
# Every benchmark in its smoke mode (Benchmarks/bench_mode.py): the debug build, tiny
# sizes, seconds each, numbers thrown away. A benchmark that no longer runs fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_SMOKE=1
py=.venv/bin/python
for bench in run.py service_bench.py detection_bench.py flood_bench.py classification_quality.py scale_bench.py training_scale_bench.py; do
  echo "-- Benchmarks/$bench (smoke)"
  start=$(date +%s)
  "$py" "Benchmarks/$bench" > /tmp/sightline-bench-smoke.out 2>&1 || { cat /tmp/sightline-bench-smoke.out; exit 1; }
  tail -n 3 /tmp/sightline-bench-smoke.out
  echo "   $(( $(date +%s) - start )) s"
done
