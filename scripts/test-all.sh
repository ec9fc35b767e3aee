#!/usr/bin/env bash
# The whole suite: Swift tests on SQLite, then on PostgreSQL, then the interop checks
# (Azure SDK, Chromium, two server processes) against both databases.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== swift test on SQLite"
swift test --skip-build
echo "== swift test (AppTests) on PostgreSQL, then interop checks"
scripts/with-postgres.sh bash -c '
  set -euo pipefail
  # The database tests again; the engine tests do not touch a database.
  swift test --skip-build --filter AppTests
  echo "== interop checks (Python SDK, Chromium, two processes)"
  .venv/bin/python -m pytest -q Tests/Interop
  echo "== SDK 0.4.0 (the v2 API)"
  .venv-sdk04/bin/python -m pytest -q Tests/InteropSDK04
'
