#!/usr/bin/env bash
# protocols: one fan-out, three client protocols (issue 15). N clients of
# one channel on Herald through the gateway, as WebSocket (/ws over
# herald-link, the shipped default), Server-Sent Events (GET /sse, STREAM
# sessions over herald-link like /ws: one BCAST of the SSE block per link per
# event) and Pusher protocol 7 (/app/bench-key, over herald-link like /ws), as
# config/gateway.yaml routes them, and nginx + nchan with WebSocket and
# EventSource clients on the same /sub/<channel> location, alternating in
# the same run. For each N, round and set-up, two runs (as scale.sh):
#   proto-latency  connect, hold IDLE s (memory sample: RSS growth of the
#                  servers, kernel TCP buffers + slab growth, per client),
#                  then EVENTS broadcasts of 100 bytes at 1/s:
#                  publish-to-receive p50/p90/p99 and one broadcast's
#                  first-to-last delivery
#   proto-fanout   connect, 1 s idle, EVENTS broadcasts of 100 bytes at max
#                  rate (each after the last is acknowledged): delivered/s
# Set-ups: ws sse pusher (Herald) nchan-ws nchan-sse; sse-direct and
# pusher-direct are the same clients straight to the notifier (no gateway);
# sse-plain (not in the default list) the SSE clients through the gateway
# with plain proxying (one upstream connection per stream, hproxy.c), to
# compare with sse over the link. Environment (and lib.sh's):
#   NS [10000]  REPEAT [3]
#   SETUPS [ws nchan-ws sse nchan-sse pusher sse-direct pusher-direct]
#   WORKERS  herald-gateway --workers = nginx worker_processes [2: one per core]
#   EVENTS [20]  IDLE [5]  CONNECT_RATE [5000]
#   OUT [bench/results/protocols.jsonl]
# Every run's line on stderr gives the load average before it.
# Tables: node bench/protocols.mjs bench/results/protocols.jsonl
NS=${NS:-10000}
REPEAT=${REPEAT:-3}
WORKERS=${WORKERS:-2}
TARGETS=link # lib.sh checks the binaries; the set-ups below pick the targets
source "$(dirname "$0")/lib.sh"
SETUPS=${SETUPS:-"ws nchan-ws sse nchan-sse pusher sse-direct pusher-direct"}
EVENTS=${EVENTS:-20}
IDLE=${IDLE:-5}
CONNECT_RATE=${CONNECT_RATE:-5000}
OUT=${OUT:-$ROOT/bench/results/protocols.jsonl}
mkdir -p "$(dirname "$OUT")"
[ "$APPEND" = 1 ] || : >"$OUT"

# start_setup NAME: starts the servers; sets URL, PROTO, PUBLISH, PUBRAW, PIDSPEC.
start_setup() {
  case $1 in
    ws) start_target link ;;
    sse) start_target link; URL="http://127.0.0.1:$GW_PORT/sse?channels={ch}"; PROTO=sse ;;
    pusher) start_target link; URL="ws://127.0.0.1:$GW_PORT/app/bench-key?protocol=7"; PROTO=pusher ;;
    sse-plain) start_target gateway; URL="http://127.0.0.1:$GW_PORT/sse?channels={ch}"; PROTO=sse ;;
    sse-direct) start_target notifier; URL="http://127.0.0.1:$NF_PORT/sse?channels={ch}"; PROTO=sse ;;
    pusher-direct) start_target notifier; URL="ws://127.0.0.1:$NF_PORT/app/bench-key?protocol=7"; PROTO=pusher ;;
    nchan-ws) start_target nchan ;;
    nchan-sse) start_target nchan; URL="http://127.0.0.1:$NG_PORT/sub/{ch}"; PROTO=sse-none ;;
    # Not in the default list: Pusher through the gateway with plain
    # proxying (one upstream WebSocket per client), to compare with pusher
    # over the link.
    pusher-plain) start_target gateway; URL="ws://127.0.0.1:$GW_PORT/app/bench-key?protocol=7"; PROTO=pusher ;;
    *) echo "unknown set-up $1" >&2; exit 2 ;;
  esac
}

one() { # scenario setup n flags...: one bounded run on fresh servers
  local scenario=$1 setup=$2 n=$3; shift 3
  echo "# $(date -u +%T) $scenario $setup N=$n workers $WORKERS, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  start_setup "$setup"
  local raw=()
  [ "$PUBRAW" = true ] && raw=(--publish-raw)
  timeout 600 "$BIN/herald-bench" --url "$URL" --protocol "$PROTO" --publish "$PUBLISH" \
    "${raw[@]+"${raw[@]}"}" --clients "$n" --pids "$PIDSPEC" --connect-rate "$CONNECT_RATE" \
    --timeout 400 --label "$scenario:$setup:$n:w$WORKERS" --json "$OUT" "$@" | grep -v '^{'
  stop_servers
  sleep 1 # let TIME_WAIT and the kernel settle between set-ups
}

echo "# protocols: $(date -u +%FT%TZ) commit $(git -C "$ROOT" rev-parse --short HEAD) NS=$NS SETUPS=$SETUPS REPEAT=$REPEAT WORKERS=$WORKERS" >&2
for n in $NS; do
  for r in $(seq 1 "$REPEAT"); do
    for s in $SETUPS; do
      one proto-latency "$s" "$n" --events "$EVENTS" --size 100 --rate 1 --idle "$IDLE" --drain 60
      one proto-fanout "$s" "$n" --events "$EVENTS" --size 100 --rate 0 --idle 1 --drain 60
    done
  done
done
node "$ROOT/bench/protocols.mjs" "$OUT"
