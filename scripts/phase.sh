#!/usr/bin/env bash
# Runs one phase of `make test` and records how long it took (and whether it failed) in
# $SIGHTLINE_PHASES, which scripts/test-all.sh prints at the end.
set -uo pipefail
name=$1; shift
echo "== $name"
start=$(date +%s)
"$@"
rc=$?
took=$(( $(date +%s) - start ))
line=$(printf '%-48s %4d s (%dm%02ds)%s' "$name" "$took" $((took / 60)) $((took % 60)) "$([ $rc -eq 0 ] || echo "  FAILED ($rc)")")
[ -n "${SIGHTLINE_PHASES:-}" ] && echo "$line" >> "$SIGHTLINE_PHASES"
echo "-- $line"
exit $rc
