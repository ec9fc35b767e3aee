# `make run`: serve the portal on http://localhost:8080 (SQLite under ./data).
# `make test`: the whole suite, SQLite and a throw-away PostgreSQL, plus interop checks.
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8080
CONFIGURATION ?= debug
RUN_PACKAGES := libargon2-dev libvips-dev libopenblas-dev libdnnl-dev pkg-config
TEST_PACKAGES := postgresql chromium chromium-driver python3-venv

.PHONY: run test build deps test-deps bench clean fuzz

deps:
	@scripts/apt-ensure.sh $(RUN_PACKAGES)
	@scripts/weights-ensure.sh

build: deps
	swift build -c $(CONFIGURATION)

run: build
	mkdir -p data
	DATA_DIR=$${DATA_DIR:-./data} .build/$(CONFIGURATION)/sightline serve --hostname $(HOST) --port $(PORT)

test-deps: deps
	@scripts/apt-ensure.sh $(TEST_PACKAGES)
	@command -v java >/dev/null || scripts/apt-ensure.sh default-jre-headless  # the Nu HTML checker
	@scripts/venv-ensure.sh
	@scripts/datasets-ensure.sh

test: test-deps
	swift build --build-tests
	scripts/test-all.sh

# The request fuzzer, long (`make test` runs it short); FUZZ_SEED replays a run.
fuzz: deps
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

clean:
	rm -rf .build .venv
