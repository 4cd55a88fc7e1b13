# Shared by bench/scenarios/*.sh: starts one server set-up at a time on
# 127.0.0.1, runs herald-bench against it, stops it. Set-ups:
#   gateway   client -> herald-gateway :17080 -> herald-notifier :17070
#   notifier  client -> herald-notifier :17070
#   nchan     client -> nginx + nchan :17100 (bench/nchan/nginx.conf)
# Publishing goes to the notifier's POST /publish (Herald) or nchan's
# POST /pub/<channel>. Each run gets fresh servers, so memory figures start
# from the same state. Environment:
#   HERALD_BIN   directory with herald-notifier, herald-gateway, herald-bench
#                [build-bench/bin: a Release tree]
#   NS           client counts [1000 5000]
#   TARGETS      set-ups, run alternating for each N [gateway notifier nchan]
#   REPEAT       rounds of (every target) per N; ratios use the median [2]
#   OUT          JSON lines file [bench/results/<scenario>.jsonl], rewritten
#                by each scenario script (APPEND=1 keeps older lines)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${HERALD_BIN:-$ROOT/build-bench/bin}
NS=${NS:-"1000 5000"}
TARGETS=${TARGETS:-"gateway notifier nchan"}
REPEAT=${REPEAT:-2}
APPEND=${APPEND:-0}
RUN_DIR=$(mktemp -d /tmp/herald-bench.XXXXXX)
PIDS=()

for b in herald-notifier herald-gateway herald-bench; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench --target herald-notifier herald-gateway herald-bench" >&2; exit 1; }
done

stop_servers() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_servers; rm -rf "$RUN_DIR"' EXIT

wait_port() { # host port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1:$2" >&2; return 1
}

# start_target NAME: starts the servers; sets URL, PROTO, PUBLISH, PUBRAW, PIDSPEC.
start_target() {
  case $1 in
    notifier|gateway)
      "$BIN/herald-notifier" --listen 127.0.0.1:17070 --log-level warn \
        --ping-interval 0 2>>"$RUN_DIR/notifier.log" & PIDS+=($!); local nf=$!
      wait_port 127.0.0.1 17070
      PUBLISH=http://127.0.0.1:17070/publish; PUBRAW=false; PROTO=herald
      if [ "$1" = gateway ]; then
        "$BIN/herald-gateway" --config "$ROOT/bench/gateway.yaml" --log-level warn \
          2>>"$RUN_DIR/gateway.log" & PIDS+=($!); local gw=$!
        wait_port 127.0.0.1 17080
        URL='ws://127.0.0.1:17080/ws?channels={ch}'; PIDSPEC="gateway=$gw,notifier=$nf"
      else
        URL='ws://127.0.0.1:17070/ws?channels={ch}'; PIDSPEC="notifier=$nf"
      fi ;;
    nchan)
      mkdir -p "$RUN_DIR/nginx/tmp"
      nginx -p "$RUN_DIR/nginx" -c "$ROOT/bench/nchan/nginx.conf" -e "$RUN_DIR/nginx/error.log" &
      PIDS+=($!); local ng=$!
      wait_port 127.0.0.1 17100
      local w; w=$(pgrep -P "$ng" | head -1)
      URL='ws://127.0.0.1:17100/sub/{ch}'; PROTO=none
      PUBLISH='http://127.0.0.1:17100/pub/{ch}'; PUBRAW=true; PIDSPEC="nginx=$w" ;;
    *) echo "unknown target $1" >&2; exit 2 ;;
  esac
  sleep 0.3
}

# run_bench SCENARIO TARGET N [herald-bench flags...]: one bounded run.
run_bench() {
  local scenario=$1 target=$2 n=$3; shift 3
  start_target "$target"
  local raw=()
  [ "$PUBRAW" = true ] && raw=(--publish-raw)
  timeout 600 "$BIN/herald-bench" --url "$URL" --protocol "$PROTO" --publish "$PUBLISH" \
    "${raw[@]+"${raw[@]}"}" --clients "$n" --pids "$PIDSPEC" \
    --label "$scenario:$target:$n" --json "$OUT" "$@" | grep -v '^{'
  stop_servers
  sleep 1 # let TIME_WAIT and the kernel settle between set-ups
}

# scenario NAME FLAGS...: every N, every target (alternating), then ratios.
scenario() {
  local name=$1; shift
  OUT=${OUT:-$ROOT/bench/results/$name.jsonl}
  mkdir -p "$(dirname "$OUT")"
  [ "$APPEND" = 1 ] || : >"$OUT"
  APPEND=1
  echo "# $name: load average $(cut -d' ' -f1-3 /proc/loadavg) before the run" >&2
  for n in $NS; do
    for _ in $(seq 1 "$REPEAT"); do
      for t in $TARGETS; do
        run_bench "$name" "$t" "$n" "$@"
      done
    done
  done
  node "$ROOT/bench/ratios.mjs" "$OUT" "$name"
}
