#!/usr/bin/env bash
# ThreadSanitizer run of the notifier's event-loop threads: builds a TSan
# tree (build/tsan, or $TSAN_BUILD), runs the loop and hand-off unit tests and the
# herald-link, direct-loops, SSE and Pusher e2e suites (notifier with --loops 2; Pusher:
# presence records crossing loops and instances) against it, and fails if
# any process reported a race. Not part of `make test` (it needs its own
# build, about 3 minutes on 2 cores); `make tsan` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TSAN_BUILD:-build/tsan}
jobs=${JOBS:-2}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DHERALD_TSAN=ON >/dev/null
cmake --build "$build" -j "$jobs"
reports=$(mktemp -d)
export TSAN_OPTIONS="log_path=$reports/tsan second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
status=0
"$build/tests/test_nf_loops" || status=1
"$build/tests/test_net_handoff" || status=1
# HERALD_E2E_TSAN=1 skips the two never-reading-client cases that are
# timing-bound under TSan's slowdown (see link.test.mjs); make test runs them.
HERALD_BIN=$(pwd)/$build/bin HERALD_E2E_TSAN=1 ASAN_OPTIONS= scripts/e2e.sh link loops sse pusher || status=1
if compgen -G "$reports/tsan*" >/dev/null; then
  echo "tsan: reports in $reports:" >&2
  head -60 "$reports"/tsan* >&2
  status=1
else
  rm -rf "$reports"
  echo "tsan: no data race reported"
fi
exit $status
