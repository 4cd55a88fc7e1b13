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
# proxying (`proxy`). HERALD_E2E_MODES picks the modes ("direct link proxy"
# by default); HERALD_E2E_UPSTREAM=MODE runs that one mode only.
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

modes=${HERALD_E2E_UPSTREAM:-${HERALD_E2E_MODES:-direct link proxy}}

# The files of the list above that run in a gateway mode.
gateway_files() {
  local f s
  for f in "${files[@]}"; do
    for s in "${GATEWAY_SUITES[@]}"; do
      if [ "$f" = "$s.test.mjs" ]; then echo "$f"; fi
    done
  done
}

# A test that hangs fails after 5 minutes instead of stalling `make test`.
# Node 18 (Debian 12's nodejs) has no --test-timeout: there the harness's
# per-test timeout (lib/harness.mjs test(), 120 s) is the guard.
timeout_flag=()
if node --test-timeout=1 -e '' 2>/dev/null; then timeout_flag=(--test-timeout=300000); fi

rc=0
for mode in $modes; do
  if [ "$mode" = direct ]; then
    run=("${files[@]}")
  else
    mapfile -t run < <(gateway_files)
  fi
  [ ${#run[@]} -gt 0 ] || continue
  echo "=== e2e upstream mode: $mode (${run[*]})"
  HERALD_E2E_UPSTREAM=$mode node --test --test-concurrency=1 "${timeout_flag[@]}" \
    --test-reporter=spec "${run[@]}" || rc=1
done
exit $rc
