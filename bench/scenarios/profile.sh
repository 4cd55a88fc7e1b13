#!/usr/bin/env bash
# profile: where a fan-out's CPU goes, per server process (issue 18).
# For each TARGET (lib.sh's set-ups: notifier, notifier-libuv, link, ...):
# N clients, EVENTS broadcasts of 100 bytes at RATE/s, and `perf record -g`
# on the server processes only, for SECONDS in the middle of the run. Prints
# the split kernel / own code / libraries and the top symbols; keeps
# OUTDIR/TARGET.data for `perf report -i`.
# Environment (and lib.sh's: HERALD_BIN, PORT_BASE, BENCH_NICE):
#   TARGETS [notifier notifier-libuv]  N [10000]  EVENTS [240]  RATE [20]
#   SECONDS_ [8]  OUTDIR [bench/results/profile]
#   READERS [2]: herald-bench's client processes (as issue18.sh at 10,000)
source "$(dirname "$0")/lib.sh"
set +o pipefail # perf report | head: a closed pipe is not a failure
TARGETS=${TARGETS:-"notifier notifier-libuv"}
N=${N:-10000}
EVENTS=${EVENTS:-240}
RATE=${RATE:-20}
SECONDS_=${SECONDS_:-8}
OUTDIR=${OUTDIR:-$ROOT/bench/results/profile}
OUT=${OUT:-$OUTDIR/profile.jsonl}
mkdir -p "$OUTDIR"
command -v perf >/dev/null || { echo "profile.sh needs perf (apt-get install linux-perf)" >&2; exit 1; }
for t in $TARGETS; do
  RUN_WORKERS=2
  case $t in notifier|notifier-libuv) RUN_WORKERS=1 ;; esac
  start_target "$t"
  pids=$(echo "$PIDSPEC" | tr ',' '\n' | cut -d= -f2 | paste -sd,)
  "$BIN/herald-bench" --url "$URL" --protocol "$PROTO" --publish "$PUBLISH" --clients "$N" \
    --connect-rate 5000 --events "$EVENTS" --rate "$RATE" --size 100 --idle 1 --pids "$PIDSPEC" --workers "${READERS:-2}" \
    --label "profile:$t:$N" --json "$OUT" | grep -v '^{' &
  bench=$!
  # connect (N / 5000 s) + idle 1 s, then a third of the publishing
  sleep $((N / 5000 + 1 + EVENTS / RATE / 3))
  perf record -F 999 -g -o "$OUTDIR/$t.data" -p "$pids" -- sleep "$SECONDS_" 2>/dev/null >/dev/null
  wait "$bench" || true
  stop_servers
  echo "== $t: samples by process and object"
  perf report -i "$OUTDIR/$t.data" --no-children --sort comm,dso --stdio -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -12
  echo "== $t: top symbols (self)"
  perf report -i "$OUTDIR/$t.data" --no-children --sort sym --stdio -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -25
  sleep 1
done
