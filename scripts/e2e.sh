#!/usr/bin/env bash
# Runs the end-to-end suites (node's test runner) against the binaries in
# $HERALD_BIN. Each test file starts its own servers on free ports.
# Arguments, if any, pick suites by name: `scripts/e2e.sh auth resume` runs
# auth.test.mjs and resume.test.mjs only.
#
# Upstream modes (tests/e2e/lib/harness.mjs, HERALD_E2E_UPSTREAM): every
# suite runs with clients straight on herald-notifier (`direct`); the suites
# about client behaviour (docs/protocol.md; GATEWAY_SUITES) run again with clients
# behind herald-gateway, over herald-link (`link`) and with plain WebSocket
# proxying (`proxy`). The servers write to clients through io_uring (their
# default); mode `libuv` runs the fan-out suites (FANOUT_SUITES) direct and
# over herald-link again with --io-uring=false, so both write paths are
# tested. HERALD_E2E_MODES picks the modes ("direct link proxy libuv" by
# default); HERALD_E2E_UPSTREAM=MODE runs that one mode only.
#
# Direct only, on purpose: framing and echo test the RFC 6455 framing of the
# notifier's and herald-echo's own WebSocket server (through the gateway a
# raw client would meet the gateway's server side, which gateway.test.mjs
# checks with those frames against herald-echo); gateway, link, workers,
# subprotocol, browser, run_demo and bench start their own gateways; the
# notifier's flags, keepalive and broker authentication have no client path
# to vary (directOnly() in those suites says why, test by test).
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e"
: "${HERALD_BIN:?set HERALD_BIN to the folder holding herald-notifier}"
export HERALD_BIN
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
shopt -s nullglob

GATEWAY_SUITES=(subscribe resume auth tokens publish limits rate_limit lifecycle robustness brokers herald_js)
# The fan-out suites run once more, direct and over herald-link, with the
# servers writing to clients with libuv instead of io_uring
# (HERALD_E2E_IO_URING=0 adds --io-uring=false; docs/net.md): mode `libuv`.
FANOUT_SUITES=(subscribe publish resume limits loops link robustness sse)

if [ $# -gt 0 ]; then
  files=()
  for name in "$@"; do files+=("${name%.test.mjs}.test.mjs"); done
else
  files=(*.test.mjs)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "e2e: no test files" >&2
  exit 1
fi

modes=${HERALD_E2E_UPSTREAM:-${HERALD_E2E_MODES:-direct link proxy libuv}}

# The files of the list above that are also in the suites named after it
# (gateway_files GATEWAY_SUITES...).
picked_files() {
  local f s
  for f in "${files[@]}"; do
    for s in "$@"; do
      if [ "$f" = "$s.test.mjs" ]; then echo "$f"; fi
    done
  done
}

# A test that hangs fails after 5 minutes instead of stalling `make test`.
# Node 18 (Debian 12's nodejs) has no --test-timeout: there the harness's
# per-test timeout (lib/harness.mjs test(), 120 s) is the guard.
timeout_flag=()
if node --test-timeout=1 -e '' 2>/dev/null; then timeout_flag=(--test-timeout=300000); fi

suite_run() { # upstream io_uring(0, 1 or "": the default) files...
  local up=$1 uring=$2; shift 2
  HERALD_E2E_UPSTREAM=$up HERALD_E2E_IO_URING=$uring node --test --test-concurrency=1 \
    "${timeout_flag[@]}" --test-reporter=spec "$@"
}

rc=0
for mode in $modes; do
  case $mode in
    direct) run=("${files[@]}") ;;
    libuv) mapfile -t run < <(picked_files "${FANOUT_SUITES[@]}") ;;
    *) mapfile -t run < <(picked_files "${GATEWAY_SUITES[@]}") ;;
  esac
  [ ${#run[@]} -gt 0 ] || continue
  if [ "$mode" = libuv ]; then
    echo "=== e2e libuv writes (--io-uring=false), direct (${run[*]})"
    suite_run direct 0 "${run[@]}" || rc=1
    mapfile -t run < <(picked_files "${GATEWAY_SUITES[@]}" | grep -Fx -f <(printf '%s\n' "${run[@]}"))
    [ ${#run[@]} -gt 0 ] || continue
    echo "=== e2e libuv writes (--io-uring=false), over herald-link (${run[*]})"
    suite_run link 0 "${run[@]}" || rc=1
    continue
  fi
  echo "=== e2e upstream mode: $mode (${run[*]})"
  suite_run "$mode" "" "${run[@]}" || rc=1
done
exit $rc
