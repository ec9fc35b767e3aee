#!/usr/bin/env bash
# Runs a command beside a throw-away S3 server on loopback (scripts/s3_server.py: moto with
# Signature V4 and IAM checked) and exports TEST_S3_ENDPOINT, TEST_S3_ACCESS_KEY_ID,
# TEST_S3_SECRET_ACCESS_KEY and TEST_S3_REGION; tests create their own buckets. The server
# stops on exit, also when the command fails.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/sightline-s3.XXXXXX)
.venv/bin/python scripts/s3_server.py "$dir/env" >"$dir/log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 300); do
  [ -f "$dir/env" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/log"; echo "the S3 server did not start"; exit 1; }
  sleep 0.1
done
[ -f "$dir/env" ] || { cat "$dir/log"; echo "the S3 server did not start in 30 s"; exit 1; }
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
echo "S3 server (moto, signatures checked) on $TEST_S3_ENDPOINT"
"$@"
