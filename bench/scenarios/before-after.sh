#!/usr/bin/env bash
# before-after: one change measured against the commit it started from, with
# nginx + nchan in the same run: herald-link through the gateway built from
# two trees, then nchan, alternating, ROUNDS times, at N clients (scale.sh's
# scale-latency and scale-fanout runs). Used for issue 17's rows in
# docs/BENCHMARKS.md. Environment:
#   BEFORE_BIN  folder with the old herald-notifier and herald-gateway (and a
#               herald-bench: copy the new one in, so both sides use one load
#               generator)
#   AFTER_BIN   folder with the new binaries [build-bench/bin]
#   N [10000]  ROUNDS [3]  PER_WORKER (scale.sh: gateway workers and nginx
#   worker_processes = ceil(N / PER_WORKER); 5000 gives 2 at 10,000, 18000
#   gives 3 at 50,000)  TAG [before-after]: results go to
#   bench/results/$TAG-{before,after,nchan}.jsonl (appended)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${BEFORE_BIN:?folder with the old binaries}"
AFTER_BIN=${AFTER_BIN:-$ROOT/build-bench/bin}
N=${N:-10000}; ROUNDS=${ROUNDS:-3}; TAG=${TAG:-before-after}
for r in $(seq 1 "$ROUNDS"); do
  for side in before after nchan; do
    case $side in
      before) bin=$BEFORE_BIN; t=link ;;
      after) bin=$AFTER_BIN; t=link ;;
      nchan) bin=$AFTER_BIN; t=nchan ;;
    esac
    echo "### round $r $side N=$N $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    HERALD_BIN=$bin NS=$N TARGETS=$t REPEAT=1 APPEND=1 \
      OUT=$ROOT/bench/results/$TAG-$side.jsonl bash "$ROOT/bench/scenarios/scale.sh" >/dev/null
  done
done
