#!/usr/bin/env bash
# issue18: the fan-out latency table of issue 18 in one command: the floor
# (herald-floor), Herald direct (notifier, default --loops = one per core),
# Herald through the gateway (herald-link) and nginx + nchan, alternating in
# each round, plus issue 12's scripted link set-ups (link-id, link-4v).
# Each run opens N clients once and on the same connections:
#   idle        IDLE s hold, then the memory sample (user B per idle client)
#   1/s         20 events at 1/s: publish->receive p50/p90/p99 and each
#               isolated broadcast's first->last
#   10/s        100 events at a sustained 10/s (sent on schedule, whether
#               or not the last one was acknowledged)
#   burst       100 events written back to back without waiting for any
#               acknowledgement: the last delivery, and each event's
#               first->last spread under the burst
#   max         20 events, each after the last is acknowledged: delivered/s
# (herald-bench --phases; every phase drained, then GAP s, before the next).
# Server processes (bench/scenarios/lib.sh):
#   10,000  floor: herald-floor, one writer thread; floor-mt: one per core;
#           notifier: one process, --loops default; link, link-id, link-4v:
#           gateway --workers W10; nchan: nginx worker_processes W10
#   50,000  floor: herald-floor --procs W50 (one writer each, 20,000 files
#           per process); link: gateway --workers W50; nchan: W50 workers
#           (direct is out of reach: one process, 20,000 files)
# Environment (and lib.sh's: HERALD_BIN, PORT_BASE, BENCH_NICE):
#   NS [10000 50000]   REPEAT [3]   IDLE [5]   GAP [1]   DRAIN [90]
#   TARGETS_10000 [floor floor-mt notifier link nchan link-id link-4v]
#   TARGETS_50000 [floor link nchan]
#   (also: floor-uring, floor-mt-uring: herald-floor's sends through io_uring,
#   64 per submission; notifier-libuv, link-libuv: the servers with
#   --io-uring=false, i.e. one libuv write per connection)
#   W10 [2: one per core]   W50 [3: ceil(50,000 / 18,000)]
#   PHASES [20@1,100@10,100@burst,20@max]; PHASES_<N> for one N only:
#   PHASES_50000 [20@1,100@burst,20@max]: the issue's 10/s target is at
#               10,000; 10/s to 50,000 is 500,000 deliveries/s, past what
#               one write per delivery gets from 2 cores (the floor), so a
#               per-event writer only queues there, for about a minute
#               per run (the whole table takes about 26 min on a quiet box)
#   PHASES_SCRIPTED [100@10,100@burst,20@max]: link-id and link-4v (issue 12
#               compares their delivered/s with link's)
#   READERS_10000 [2]   READERS_<N> [0: herald-bench's default, one per
#               15,000 clients, 4 at 50,000]: herald-bench's client worker
#               processes (--workers), the reading side. With one reader at
#               10,000 the reader saturates at 10/s (ratios.mjs prints its CPU
#               per delivery): its epoll, reads and the ACK each read sends,
#               whose TCP processing on the server's socket loopback bills to
#               the reader, cost about 6 us per delivery, so every set-up,
#               the floor included, waits on one reading core. Two readers,
#               one per core like the writers, let the servers differ.
#   CONNECT_RATE [5000]   OUT [bench/results/issue18.jsonl] (APPEND=1 keeps it)
# Prints the tables (node bench/ratios.mjs OUT --md) at the end.
NS=${NS:-"10000 50000"}
REPEAT=${REPEAT:-3}
source "$(dirname "$0")/lib.sh"
IDLE=${IDLE:-5}
GAP=${GAP:-1}
DRAIN=${DRAIN:-90}
W10=${W10:-2}
W50=${W50:-3}
PHASES=${PHASES:-20@1,100@10,100@burst,20@max}
PHASES_SCRIPTED=${PHASES_SCRIPTED:-100@10,100@burst,20@max}
PHASES_50000=${PHASES_50000:-20@1,100@burst,20@max}
CONNECT_RATE=${CONNECT_RATE:-5000}
OUT=${OUT:-$ROOT/bench/results/issue18.jsonl}
mkdir -p "$(dirname "$OUT")"
[ "$APPEND" = 1 ] || : >"$OUT"

targets_for() { # n: the set-ups at n clients
  case $1 in
    10000) echo "${TARGETS_10000:-floor floor-mt notifier link nchan link-id link-4v}" ;;
    50000) echo "${TARGETS_50000:-floor link nchan}" ;;
    *) local v="TARGETS_$1"; echo "${!v:-floor floor-mt notifier link nchan}" ;;
  esac
}

workers_for() { # target n: server processes (herald-floor --procs, gateway
  # --workers, nginx worker_processes); the notifier runs one process
  local w=$W10
  [ "$2" -gt 19000 ] && w=$W50
  case $1 in floor|floor-mt|floor-uring|floor-mt-uring) [ "$2" -le 19000 ] && w=1 ;; notifier|notifier-libuv) w=1 ;; esac
  echo "$w"
}

START=$(date +%s)
echo "# issue18: $(date -u +%FT%TZ) commit $(git -C "$ROOT" rev-parse --short HEAD) NS=$NS REPEAT=$REPEAT PHASES=$PHASES PHASES_50000=$PHASES_50000 PHASES_SCRIPTED=$PHASES_SCRIPTED nproc $(nproc) kernel $(uname -r)" >&2
# Round by round, every N in each round: a run cut short still holds whole
# rounds of every set-up.
for r in $(seq 1 "$REPEAT"); do
  for n in $NS; do
    for t in $(targets_for "$n"); do
      if [ "${t%-libuv}" = notifier ] && [ "$n" -gt 19000 ]; then
        echo "# skip notifier N=$n: one process would hold $n client descriptors (20,000 cap)" >&2
        continue
      fi
      RUN_WORKERS=$(workers_for "$t" "$n")
      readers=0; [ "$n" = 10000 ] && readers=2 # 0: herald-bench's own default
      rv="READERS_$n"; readers=${!rv:-$readers}
      v="PHASES_$n"; ph=${!v:-$PHASES}
      case $t in link-id|link-4v) ph=$PHASES_SCRIPTED ;; esac
      echo "# round $r $t N=$n workers $RUN_WORKERS readers $readers $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
      RUN_LABEL="issue18:$t:$n:w$RUN_WORKERS" \
        run_bench issue18 "$t" "$n" --phases "$ph" --size 100 --idle "$IDLE" --gap "$GAP" \
        --drain "$DRAIN" --connect-rate "$CONNECT_RATE" --timeout 500 --workers "$readers"
    done
  done
done
echo "# issue18: done in $(($(date +%s) - START)) s, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
node "$ROOT/bench/ratios.mjs" "$OUT" --md
