#!/usr/bin/env bash
# cpu-split: CPU per delivery of each server process at a sustained rate
# (issue 18). For ROUNDS rounds, each TARGET in turn (lib.sh's set-ups:
# floor-mt, floor-mt-uring, notifier, link, nchan, ...): N clients read by
# READERS herald-bench processes, EVENTS broadcasts of 100 bytes at RATE/s.
# herald-bench accounts each --pids process's CPU over the phase
# (server_cpu_by_proc: a gateway's workers and the notifier apart); this
# prints it per delivery, with the phase's p50 / p99 and the readers' CPU.
# The JSON lines go to OUT.
# Environment (and lib.sh's: HERALD_BIN, PORT_BASE, BENCH_NICE):
#   TARGETS [floor-mt-uring notifier link nchan]  ROUNDS [3]  N [10000]
#   RATE [10]  EVENTS [300]  READERS [2]  OUT [bench/results/cpu-split.jsonl]
source "$(dirname "$0")/lib.sh"
TARGETS=${TARGETS:-"floor-mt-uring notifier link nchan"}
ROUNDS=${ROUNDS:-3}
N=${N:-10000}
RATE=${RATE:-10}
EVENTS=${EVENTS:-300}
OUT=${OUT:-$ROOT/bench/results/cpu-split.jsonl}

for r in $(seq 1 "$ROUNDS"); do
  for t in $TARGETS; do
    RUN_WORKERS=2
    case $t in notifier|notifier-libuv|floor*) RUN_WORKERS=1 ;; esac
    start_target "$t"
    "$BIN/herald-bench" --url "$URL" --protocol "$PROTO" --publish "$PUBLISH" --clients "$N" \
      --connect-rate 5000 --phases "$EVENTS@$RATE" --size 100 --idle 3 --gap 1 --drain 90 \
      --timeout 500 --pids "$PIDSPEC" --workers "${READERS:-2}" \
      --label "cpu-split:$t:$N" --json "$OUT" >/dev/null || true
    stop_servers
    echo "== round $r, $t"
    node -e '
      const ls = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
      const r = JSON.parse(ls[ls.length - 1]);
      const us = (s, n) => (s * 1e6 / n).toFixed(2);
      for (const x of r.phases || []) {
        for (const [name, s] of Object.entries(x.server_cpu_by_proc || {}))
          if (s > 0) console.log(`  ${name.padEnd(10)} ${s.toFixed(2)} s  ${us(s, x.delivered)} us per delivery`);
        console.log(`  herald-bench ${x.name}: p50 ${x.lat_p50_ms.toFixed(1)} ms, p99 ${x.lat_p99_ms.toFixed(1)} ms,` +
          ` servers ${us(x.server_cpu_s, x.delivered)} / readers ${us(x.client_cpu_s, x.delivered)} us per delivery,` +
          ` ${r.delivered === r.expected ? "every event delivered" : "LOSS"}`);
      }
    ' "$OUT"
  done
done
