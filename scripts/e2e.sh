#!/usr/bin/env bash
# Runs the end-to-end suites (node's test runner) against the binaries in
# $HERALD_BIN. Each test file starts its own servers on free ports.
# Arguments, if any, pick suites by name: `scripts/e2e.sh auth resume` runs
# auth.test.mjs and resume.test.mjs only.
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e"
: "${HERALD_BIN:?set HERALD_BIN to the folder holding herald-notifier}"
export HERALD_BIN
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
shopt -s nullglob
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
# A test that hangs fails after 5 minutes instead of stalling `make test`.
exec node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec "${files[@]}"
