#!/usr/bin/env bash
# `make test`: the whole suite, each phase timed (the times are printed at the end, pass or
# fail). Swift tests in full on SQLite; the database-sensitive suites again on a throw-away
# PostgreSQL; the interop checks once, on PostgreSQL (those whose point is SQLite start their
# own), two modules at a time (most of a check's time is a server training on one engine
# thread, so the other core runs another module); every benchmark in its smoke mode. Swift tests and test servers run with
# scripts/machine-pins.env (threads, oneDNN's and OpenBLAS's kernels) so that no result
# depends on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
phases=$(mktemp /tmp/sightline-phases.XXXXXX)
export SIGHTLINE_PHASES="$phases"
summary() {
  echo
  echo "== phase times"
  cat "$phases"
  rm -f "$phases"
}
trap summary EXIT

# Suites whose result can depend on the database: quotas and rates, isolation, the job
# queue (training, cancellation, retention, exports), training sets, transfers, throttles,
# faults, migrations, concurrent image writes, listings and suggestions paged in SQL,
# accounts and projects through the portal, the blob sweeper's references, readiness, blobs
# in the S3 server that scripts/with-s3.sh starts beside PostgreSQL.
export PG_SUITES='AppTests\.(QuotaLedgerTests|RateLimitTests|RequestLimitTests|CredentialTests|TenantIsolationTests|TrainingTests|CancellationTests|RetentionTests|SelectedTagsTests|ExportTests|TrainingSetTests|ProjectTransferTests|FaultTests|FeatureMigrationTests|ImageTests|ImageQueryTests|StoredPredictionQueryTests|TierVersionTests|LabelCounterTests|TrainingSetRecordTests|BlobRaceTests|S3BlobStoreTests|ImportRunLimitTests|SuggestionTests|PortalAccountTests|PortalProjectTests|PortalPageTests|HardeningTests|OperationsTests)'

scripts/phase.sh "install (apt, weights, venvs, datasets)" make -s test-deps
scripts/phase.sh "build (debug, with tests)" swift build --build-tests
scripts/phase.sh "Swift tests on SQLite" scripts/pinned.sh swift test --skip-build
scripts/phase.sh "benchmarks, smoke mode" scripts/bench-smoke.sh
scripts/with-postgres.sh scripts/with-s3.sh bash -c '
  set -euo pipefail
  scripts/phase.sh "Swift tests on PostgreSQL (database suites)" scripts/pinned.sh swift test --skip-build --filter "$PG_SUITES"
  scripts/phase.sh "interop checks (SDK, exports, Chromium)" .venv/bin/python -m pytest -q -p no:cacheprovider \
    -n 2 --dist loadfile --durations=8 Tests/Interop
  scripts/phase.sh "SDK 0.4.0 (the v2 API)" .venv-sdk04/bin/python -m pytest -q -p no:cacheprovider Tests/InteropSDK04
'
