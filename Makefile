# Mallard's two commands:  `make demo`  and  `make test`  (see README.md).
# Everything else here is a building block of those two.
SHELL := /bin/bash
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
PY         := .venv/bin/python
FUZZ_SECONDS ?= 60

.PHONY: all deps build asan fuzz-build demo test unit unit-asan integration fuzz format format-check clean bench

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) | grep -v '^\[' || true
	@test -x $(BUILD)/mallard

# Debug build with ASan+UBSan, compiled with clang (the release build uses gcc: both must be warning-free).
$(BUILD_ASAN)/build.ninja:
	CC=clang cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMALLARD_SANITIZE=ON >/dev/null

asan: deps $(BUILD_ASAN)/build.ninja
	@ninja -C $(BUILD_ASAN) | grep -v '^\[' || true
	@test -x $(BUILD_ASAN)/mallard

$(BUILD_FUZZ)/build.ninja:
	CC=clang cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMALLARD_SANITIZE=ON -DMALLARD_FUZZ=ON >/dev/null

fuzz-build: deps $(BUILD_FUZZ)/build.ninja
	@ninja -C $(BUILD_FUZZ) | grep -v '^\[' || true

# The first command: install what is missing, build, start both servers, run the walkthrough.
demo: build
	@bash scripts/demo.sh

# The second command: every test (unit tests in release and sanitizer builds, integration
# tests against real servers, a bounded fuzz run).
test: build asan fuzz-build
	@bash scripts/test.sh

unit: build
	ctest --test-dir $(BUILD) --output-on-failure

unit-asan: asan
	ctest --test-dir $(BUILD_ASAN) --output-on-failure

integration: build
	MALLARD_BIN=$(BUILD)/mallard $(PY) -m pytest tests/integration -q

fuzz: fuzz-build
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	$(PY) bench/run.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
