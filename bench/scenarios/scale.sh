#!/usr/bin/env bash
# scale: idle memory, fan-out and latency at large N (issue 7), nginx + nchan
# beside Herald in the same run. For each N and set-up, alternating, two runs:
#   scale-latency  connect N clients, hold 5 s idle (memory sample: RSS growth
#                  of the servers, kernel TCP buffers + slab growth), then 20
#                  broadcasts of 100 bytes at 1/s: publish-to-receive
#                  percentiles and the completion (first to last delivery) of
#                  each isolated broadcast
#   scale-fanout   connect N clients, 1 s idle, 20 broadcasts of 100 bytes at
#                  max rate (each after the last is acknowledged): delivered/s
# Set-ups: plain (gateway, one upstream connection per client), link
# (gateway == herald-link ==> notifier) and nchan (bench/scenarios/lib.sh).
# Server processes are sized by N under the 20,000 open files per process:
#   link   herald-gateway --workers ceil(N / PER_WORKER) (one fd per client)
#   nchan  nginx worker_processes, the same count (listen ... reuseport)
#   plain  --workers ceil(N / (PER_WORKER / 2)) (two fds per client); skipped
#          above PLAIN_MAX clients: its single notifier holds one fd per client
#   floor, floor-mt  herald-floor --procs ceil(N / PER_WORKER) (one fd per
#          client), one writer thread per process or one per core: the floor
#          every latency is compared with (TARGETS="floor floor-mt link nchan")
#   plain-redis  the same gateway in front of ceil(N / PER_NOTIFIER) notifiers
#          reading one Redis stream (published with XADD): plain proxying at
#          any N; not in the default TARGETS (it takes long at 100,000)
# herald-bench forks a worker per 15,000 clients and spreads them over
# source addresses 127.0.0.10-209. Environment (and lib.sh's):
#   NS          [10000 50000 100000]     TARGETS  [plain link nchan]
#   REPEAT      [1]                      EVENTS   broadcasts per run [20]
#   PER_WORKER  clients per server process [18000]
#   PLAIN_MAX   [19000]                  CONNECT_RATE  [5000]
#   PER_NOTIFIER  clients per notifier in plain-redis [15000]
#   IDLE        idle hold before the memory sample, seconds [5]
#   OUT         [bench/results/scale.jsonl]
# Tables: node bench/ratios.mjs bench/results/scale.jsonl --md
NS=${NS:-"10000 50000 100000"}
TARGETS=${TARGETS:-"plain link nchan"}
REPEAT=${REPEAT:-1}
source "$(dirname "$0")/lib.sh"
EVENTS=${EVENTS:-20}
PER_WORKER=${PER_WORKER:-18000}
PLAIN_MAX=${PLAIN_MAX:-19000}
CONNECT_RATE=${CONNECT_RATE:-5000}
IDLE=${IDLE:-5}
PER_NOTIFIER=${PER_NOTIFIER:-15000}
OUT=${OUT:-$ROOT/bench/results/scale.jsonl}
mkdir -p "$(dirname "$OUT")"
[ "$APPEND" = 1 ] || : >"$OUT"

workers_for() { # target n: server worker processes for n clients
  local per=$PER_WORKER
  case $1 in plain|plain-redis) per=$((PER_WORKER / 2)) ;; esac
  echo $(((($2) + per - 1) / per))
}

one() { # scenario target n flags...: one run, servers sized for n
  local scenario=$1 target=$2 n=$3; shift 3
  RUN_WORKERS=$(workers_for "$target" "$n")
  RUN_NOTIFIERS=$(((n + PER_NOTIFIER - 1) / PER_NOTIFIER))
  echo "# $scenario $target N=$n server workers $RUN_WORKERS, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  local label="$scenario:$target:$n:w$RUN_WORKERS"
  [ "$target" = plain-redis ] && label+=":n$RUN_NOTIFIERS"
  RUN_LABEL=$label \
    run_bench "$scenario" "$target" "$n" --connect-rate "$CONNECT_RATE" --timeout 400 "$@"
}

echo "# scale: $(date -u +%FT%TZ) commit $(git -C "$ROOT" rev-parse --short HEAD) NS=$NS TARGETS=$TARGETS REPEAT=$REPEAT" >&2
for n in $NS; do
  for _ in $(seq 1 "$REPEAT"); do
    for t in $TARGETS; do
      if [ "$t" = plain ] && [ "$n" -gt "$PLAIN_MAX" ]; then
        echo "# skip plain N=$n: one notifier would hold $n client descriptors (open-file cap 20,000)" >&2
        continue
      fi
      one scale-latency "$t" "$n" --events "$EVENTS" --size 100 --rate 1 --idle "$IDLE" --drain 60
      one scale-fanout "$t" "$n" --events "$EVENTS" --size 100 --rate 0 --idle 1 --drain 60
    done
  done
done
node "$ROOT/bench/ratios.mjs" "$OUT"
