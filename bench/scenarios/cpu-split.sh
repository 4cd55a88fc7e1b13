#!/usr/bin/env bash
# cpu-split: CPU per delivery of each server process at a sustained rate
# (issue 18). For ROUNDS rounds, each TARGET in turn (lib.sh's set-ups:
# floor-mt, floor-mt-uring, notifier, link, nchan, ...): N clients read by
# READERS herald-bench processes, EVENTS broadcasts of 100 bytes at RATE/s;
# over SECONDS in the middle of the phase, each server process's utime +
# stime from /proc (a gateway's workers and a notifier's loops one by one)
# divided by the deliveries of that window (N x RATE x SECONDS). herald-bench's
# own line follows: p50 / p99 of the phase and its servers' and readers' CPU
# per delivery. The JSON lines go to OUT.
# Environment (and lib.sh's: HERALD_BIN, PORT_BASE, BENCH_NICE):
#   TARGETS [floor-mt-uring notifier link nchan]  ROUNDS [3]  N [10000]
#   RATE [10]  EVENTS [300]  SECONDS_ [20]  READERS [2]
#   OUT [bench/results/cpu-split.jsonl]
source "$(dirname "$0")/lib.sh"
TARGETS=${TARGETS:-"floor-mt-uring notifier link nchan"}
ROUNDS=${ROUNDS:-3}
N=${N:-10000}
RATE=${RATE:-10}
EVENTS=${EVENTS:-300}
SECONDS_=${SECONDS_:-20}
OUT=${OUT:-$ROOT/bench/results/cpu-split.jsonl}
HZ=$(getconf CLK_TCK)

# "pid name ticks" for every server process and its children.
ticks() {
  for p in $1; do
    [ -r "/proc/$p/stat" ] || continue
    # the name is in parentheses and may hold spaces: read after the last ')'
    awk -v p="$p" '{ s = $0; sub(/.*\) /, "", s); split(s, f, " ");
                     n = $0; sub(/^[0-9]+ \(/, "", n); sub(/\) .*/, "", n);
                     print p, n, f[12] + f[13] }' "/proc/$p/stat"
  done
}

for r in $(seq 1 "$ROUNDS"); do
  for t in $TARGETS; do
    RUN_WORKERS=2
    case $t in notifier|notifier-libuv|floor*) RUN_WORKERS=1 ;; esac
    start_target "$t"
    procs=""
    for p in $(echo "$PIDSPEC" | tr ',' '\n' | cut -d= -f2); do
      procs="$procs $p $(pgrep -P "$p" | tr '\n' ' ' || true)"
    done
    procs=$(echo $procs | tr ' ' '\n' | sort -un | tr '\n' ' ')
    "$BIN/herald-bench" --url "$URL" --protocol "$PROTO" --publish "$PUBLISH" --clients "$N" \
      --connect-rate 5000 --phases "$EVENTS@$RATE" --size 100 --idle 3 --gap 1 --drain 90 \
      --timeout 500 --pids "$PIDSPEC" --workers "${READERS:-2}" \
      --label "cpu-split:$t:$N" --json "$OUT" >/dev/null &
    bench=$!
    # connect (N / 5000 s), idle 3 s, gap 1 s, then a quarter of the phase
    sleep $((N / 5000 + 4 + EVENTS / RATE / 4))
    before=$(ticks "$procs")
    sleep "$SECONDS_"
    after=$(ticks "$procs")
    wait "$bench" || true
    stop_servers
    deliveries=$((N * RATE * SECONDS_))
    echo "== round $r, $t"
    join <(echo "$before" | sort) <(echo "$after" | sort) |
      awk -v hz="$HZ" -v d="$deliveries" '{ s = ($5 - $3) / hz;
        if (s > 0) printf "  %-8s %-16s %6.2f s  %5.2f us per delivery\n", $1, $2, s, s / d * 1e6 }'
    node -e '
      const ls = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
      const r = JSON.parse(ls[ls.length - 1]);
      for (const x of r.phases || [])
        console.log(`  herald-bench ${x.name}: p50 ${x.lat_p50_ms.toFixed(1)} ms, p99 ${x.lat_p99_ms.toFixed(1)} ms,` +
          ` servers ${(x.server_cpu_s * 1e6 / x.delivered).toFixed(2)} / readers ${(x.client_cpu_s * 1e6 / x.delivered).toFixed(2)} us per delivery,` +
          ` ${r.delivered === r.expected ? "every event delivered" : "LOSS"}`);
    ' "$OUT"
  done
done
