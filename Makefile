# `make run`: serve the portal on http://localhost:8080 (SQLite under ./data).
# `make test`: the whole suite, SQLite and a throw-away PostgreSQL, plus interop checks.
# `make check`: the fast loop while developing (no database server, browser or TensorFlow).
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8080
CONFIGURATION ?= debug
RUN_PACKAGES := libargon2-dev libvips-dev libopenblas-dev libdnnl-dev pkg-config
TEST_BUILD_PACKAGES := libxml2-dev  # the page-structure tests parse pages with libxml2's HTML parser
TEST_PACKAGES := $(TEST_BUILD_PACKAGES) postgresql chromium chromium-driver python3-venv nginx-light
CHECK_SKIPS := DetectionAccuracyTests|PhotoFineTuneTests|FashionMNISTTests|FuzzTests

.PHONY: run test check build deps test-build-deps test-deps bench bench-smoke clean fuzz

deps:
	@scripts/apt-ensure.sh $(RUN_PACKAGES)
	@scripts/weights-ensure.sh

build: deps
	swift build -c $(CONFIGURATION)

run: build
	mkdir -p data
	DATA_DIR=$${DATA_DIR:-./data} .build/$(CONFIGURATION)/sightline serve --hostname $(HOST) --port $(PORT)

test-build-deps: deps
	@scripts/apt-ensure.sh $(TEST_BUILD_PACKAGES)

test-deps: deps
	@scripts/apt-ensure.sh $(TEST_PACKAGES)
	@command -v java >/dev/null || scripts/apt-ensure.sh default-jre-headless  # the Nu HTML checker
	@scripts/venv-ensure.sh
	@scripts/datasets-ensure.sh

# Installs what it needs, builds, runs every phase and prints each phase's time.
test:
	scripts/test-all.sh

# Swift tests on SQLite without the long accuracy and fuzz runs: minutes, not a quarter hour.
check: test-build-deps
	swift build --build-tests
	scripts/pinned.sh swift test --skip-build --skip '$(CHECK_SKIPS)'

# Every benchmark at tiny sizes on the debug build (`make test` runs this too).
bench-smoke: test-deps
	swift build --build-tests
	scripts/bench-smoke.sh

# The request fuzzer, long (`make test` runs it short); FUZZ_SEED replays a run.
fuzz: test-build-deps
	swift build --build-tests
	FUZZ_ITERATIONS=$${FUZZ_ITERATIONS:-50000} swift test --skip-build --filter FuzzTests

# Benchmarks (release build, outside CI): the engine next to onnxruntime and NumPy.
bench: deps
	@scripts/venv-ensure.sh
	.venv/bin/pip install -q --disable-pip-version-check -r Benchmarks/requirements.txt
	@scripts/datasets-ensure.sh
	swift build -c release --product sightline-bench
	swift build -c release --product sightline
	.venv/bin/python Benchmarks/run.py
	.venv/bin/python Benchmarks/service_bench.py
	.venv/bin/python Benchmarks/detection_bench.py
	.venv/bin/python Benchmarks/flood_bench.py
	VICTIM_RATE=20 .venv/bin/python Benchmarks/flood_bench.py
	.venv/bin/python Benchmarks/classification_quality.py
	scripts/with-postgres.sh .venv/bin/python Benchmarks/scale_bench.py

clean:
	rm -rf .build .venv
