#!/usr/bin/env bash
# Runs a command with scripts/machine-pins.env exported (values already set win).
set -euo pipefail
while IFS='=' read -r name value; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  [ "$name" != OPENBLAS_CORETYPE ] || grep -qw avx2 /proc/cpuinfo 2>/dev/null || continue
  [ -n "${!name:-}" ] || export "$name=$value"
done < "$(dirname "$0")/machine-pins.env"
exec "$@"
