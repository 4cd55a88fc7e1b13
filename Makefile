# Herald: `make` builds, `make test` runs every suite, `make run` starts the demo.
# CMake does the building; this file installs what is missing and wraps it.

BUILD      ?= build
TEST_BUILD ?= build/sanitize
JOBS       ?= $(shell nproc)

.PHONY: all deps test unit e2e tsan run fuzz clean format format-all

all: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh build

# The whole suite runs under ASan + UBSan in its own build tree.
test:
	@scripts/deps.sh test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHERALD_SANITIZE=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)
	HERALD_BIN=$(abspath $(TEST_BUILD))/bin scripts/e2e.sh

unit:
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHERALD_SANITIZE=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

e2e: all
	@scripts/deps.sh test
	HERALD_BIN=$(abspath $(BUILD))/bin scripts/e2e.sh

# ThreadSanitizer over the notifier's event-loop threads (own build tree).
tsan:
	@scripts/deps.sh test
	JOBS=$(JOBS) scripts/tsan.sh

# Quiet: the build's output goes to $(BUILD)/build.log, shown when it fails.
run:
	@scripts/deps.sh run
	@mkdir -p $(BUILD)
	@echo "herald: building into $(BUILD)/bin (log: $(BUILD)/build.log)"
	@{ cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo && \
	  cmake --build $(BUILD) -j $(JOBS); } >$(BUILD)/build.log 2>&1 || \
	  { tail -n 40 $(BUILD)/build.log >&2; echo "herald: the build failed; whole log: $(BUILD)/build.log" >&2; exit 1; }
	@scripts/run.sh $(abspath $(BUILD))/bin

# Long fuzzing runs with libFuzzer: make fuzz TARGET=fuzz_ws_reader SECONDS=600
SECONDS ?= 600
FUZZ_TARGETS = $(sort $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c)))
fuzz:
	@if [ -z "$(TARGET)" ]; then \
	  echo "usage: make fuzz TARGET=<target> [SECONDS=600]; targets: $(FUZZ_TARGETS)" >&2; exit 2; fi
	CC=clang cmake -S . -B build/fuzz -DHERALD_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build/fuzz -j $(JOBS) --target $(TARGET)
	build/fuzz/fuzz/$(TARGET) -max_total_time=$(SECONDS) fuzz/corpus/$(patsubst fuzz_%,%,$(TARGET))

# Formats the lines that differ from FORMAT_BASE (your uncommitted changes by
# default; FORMAT_BASE=main: the whole branch). Only changed lines: other
# clang-format versions than the one the tree was written with (Debian 12
# ships 14) would otherwise re-align comments all over the tree.
# format-all reformats every file.
FORMAT_BASE ?= HEAD
format:
	@command -v git-clang-format >/dev/null || \
	  { echo "herald: make format needs clang-format (apt-get install clang-format)" >&2; exit 1; }
	git clang-format --force --extensions c,h $(FORMAT_BASE)

format-all:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
