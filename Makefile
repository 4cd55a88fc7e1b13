# Herald: `make` builds, `make test` runs every suite, `make run` starts the demo.
# CMake does the building; this file installs what is missing and wraps it.

BUILD      ?= build
TEST_BUILD ?= build/sanitize
JOBS       ?= $(shell nproc)

.PHONY: all deps test unit e2e tsan run fuzz clean format

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

run: all
	@scripts/deps.sh run
	scripts/run.sh $(abspath $(BUILD))/bin

# Long fuzzing runs with libFuzzer: make fuzz TARGET=fuzz_ws_reader SECONDS=600
fuzz:
	CC=clang cmake -S . -B build/fuzz -DHERALD_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build/fuzz -j $(JOBS) --target $(TARGET)
	build/fuzz/fuzz/$(TARGET) -max_total_time=$(SECONDS) fuzz/corpus/$(patsubst fuzz_%,%,$(TARGET))

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
