#!/usr/bin/env bash
# Runs the Chromium flows N times in a row on one database, stopping at the first failure:
#   scripts/chromium-repeat.sh 10 sqlite
#   scripts/chromium-repeat.sh 10 postgresql -k images     (extra arguments go to pytest)
# Two modules at a time, as `make test` runs them. A flow that fails once in ten is a
# defect, not bad luck.
set -euo pipefail
cd "$(dirname "$0")/.."
self=scripts/chromium-repeat.sh
runs=${1:?how many runs}; db=${2:?sqlite or postgresql}; shift 2
if [ "$db" = postgresql ] && [ -z "${TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-postgres.sh "$self" "$runs" "$db" "$@"
fi
[ "$db" = postgresql ] || unset TEST_DATABASE_URL
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile "$@" Tests/Interop/test_portal_chromium.py Tests/Interop/test_portal_*_chromium.py \
    "Tests/Interop/test_hardening.py::test_a_script_in_a_project_name_renders_as_text_and_runs_nothing" \
    "Tests/Interop/test_import_customvision.py::test_portal_import_from_custom_vision" > /tmp/chromium-repeat.log 2>&1 \
    || { cat /tmp/chromium-repeat.log; echo "run $i of $runs on $db FAILED"; exit 1; }
  tail -n 1 /tmp/chromium-repeat.log
  echo "run $i of $runs on $db passed in $(( $(date +%s) - start )) s"
done
