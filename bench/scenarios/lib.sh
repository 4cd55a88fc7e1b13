# Shared by bench/scenarios/*.sh: starts one server set-up at a time on
# 127.0.0.1, runs herald-bench against it, stops it. Set-ups:
#   gateway   client -> herald-gateway :17080 -> herald-notifier :17070
#   plain     the same as gateway (plain proxying: one upstream connection
#             per client), named so in scale.sh beside link
#   notifier  client -> herald-notifier :17070
#   link      client -> herald-gateway :17080 == herald-link ==> notifier
#             (link listener :17071; docs/link.md)
#   link-id, link-4v  link with a gateway script on the route
#             (bench/transforms/): an identity on_event, and a JSON-field
#             rewrite in four views (docs/transform.md)
#   plain-redis  client -> herald-gateway :17080 -> RUN_NOTIFIERS notifiers
#             (:17110 and up, round robin), all reading one Redis stream
#             (redis-server :17075); published with XADD. Plain proxying past
#             one notifier's open-file cap (scale.sh)
#   nchan     client -> nginx + nchan :17100 (bench/nchan/nginx.conf)
#   floor     client -> herald-floor :17070, published on :17072 (issue 18):
#             writes the same event frame to every socket and nothing else,
#             from one thread; the kernel's cost of a broadcast
#   floor-mt  the same, one writer thread per core
#             (both run RUN_WORKERS processes, as scale.sh sizes them by N:
#             each its own SO_REUSEPORT listener, 20,000 files each)
# Publishing goes to the notifier's POST /publish (Herald) or nchan's
# (and herald-floor's) POST /pub/<channel>. Each run gets fresh servers, so memory figures start
# from the same state. Environment:
#   HERALD_BIN   directory with herald-notifier, herald-gateway, herald-bench
#                [build-bench/bin: a Release tree]
#   NS           client counts [1000 5000]
#   TARGETS      set-ups, run alternating for each N [gateway notifier nchan]
#   BENCH_NICE   niceness of the whole run when root [-10]: the servers and
#                herald-bench get the CPU before other work on a shared box
#   WORKERS      herald-gateway --workers and nginx worker_processes [1];
#                a script may set RUN_WORKERS per run (scale.sh sizes it by N).
#                With more than one nginx worker, nginx listens with
#                reuseport so the kernel spreads clients evenly over workers
#   PORT_BASE    notifier port; gateway +10, its admin +20, nginx +30,
#                redis +5, herald-floor's publish port +2, the notifiers of plain-redis +40..+63 [17070]
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
PB=${PORT_BASE:-17070}
# A port inside the ephemeral range can be held at any time by some other
# process's outgoing connection (or its TIME_WAIT), and then our listener
# cannot bind: keep the ports below it.
read -r EPH_LO _ </proc/sys/net/ipv4/ip_local_port_range
if [ $((PB + 63)) -ge "$EPH_LO" ]; then
  echo "PORT_BASE $PB: the ports must lie below the ephemeral range ($EPH_LO and up)" >&2; exit 2
fi
NF_PORT=$PB GW_PORT=$((PB + 10)) GW_ADMIN=$((PB + 20)) NG_PORT=$((PB + 30))
sed -e "s/127.0.0.1:17070/127.0.0.1:$NF_PORT/; s/127.0.0.1:17080/127.0.0.1:$GW_PORT/" \
  -e "s/127.0.0.1:17090/127.0.0.1:$GW_ADMIN/" "$ROOT/bench/gateway.yaml" >"$RUN_DIR/gateway.yaml"
# The link set-up: same gateway, its notifier upstream on the link listener.
sed -e "s/servers: \[127.0.0.1:$NF_PORT\]}/servers: [127.0.0.1:$((PB + 1))], protocol: herald-link}/" \
  "$RUN_DIR/gateway.yaml" >"$RUN_DIR/gateway-link.yaml"
for s in id:identity 4v:rewrite4; do # the scripted link set-ups
  sed -e "s|websocket: true}|websocket: true, script: $ROOT/bench/transforms/${s#*:}.lua}|" \
    "$RUN_DIR/gateway-link.yaml" >"$RUN_DIR/gateway-link-${s%%:*}.yaml"
done
WORKERS=${WORKERS:-1}

nginx_conf() { # workers: writes $RUN_DIR/nginx.conf for that many worker processes
  local rp=""
  [ "$1" -gt 1 ] && rp=" reuseport"
  sed -e "s/127.0.0.1:17100 /127.0.0.1:$NG_PORT$rp /" -e "s/^worker_processes 1;/worker_processes $1;/" \
    "$ROOT/bench/nchan/nginx.conf" >"$RUN_DIR/nginx.conf"
}
if [ "$(id -u)" = 0 ]; then renice -n "${BENCH_NICE:--10}" -p $$ >/dev/null; fi
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

port_free() { # port: fails when something already listens there
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is already in use: pick other ports with PORT_BASE=..." >&2; exit 1
  fi
}

alive() { # pid name: fails when the server exited right after starting
  kill -0 "$1" 2>/dev/null || { echo "$2 exited at start (see $RUN_DIR)" >&2; exit 1; }
}

wait_port() { # host port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1:$2" >&2; return 1
}

# wait_gateway PID: until the gateway's admin /readyz answers 200, which it
# does once every worker listens (and every upstream is up): a listening
# port alone may be worker 1 of 4, with the others not forked yet, and the
# pgrep that follows would miss them.
wait_gateway() {
  for _ in $(seq 1 400); do
    alive "$1" herald-gateway
    if (exec 3<>"/dev/tcp/127.0.0.1/$GW_ADMIN" &&
      printf 'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 &&
      IFS= read -r -t 2 line <&3 && [[ $line == "HTTP/1.1 200"* ]]) 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "herald-gateway not ready (admin 127.0.0.1:$GW_ADMIN/readyz)" >&2; return 1
}

# start_plain_redis WORKERS K: redis-server, K notifiers on its stream, the
# gateway balancing over them; sets what start_target sets.
start_plain_redis() {
  local workers=$1 k=$2 rp=$((PB + 5)) servers="" i p nfspec=""
  [ "$k" -le 24 ] || { echo "plain-redis: at most 24 notifiers" >&2; exit 2; }
  port_free "$rp"
  redis-server --bind 127.0.0.1 --port "$rp" --save '' --appendonly no \
    >>"$RUN_DIR/redis.log" 2>&1 & PIDS+=($!)
  wait_port 127.0.0.1 "$rp"
  for i in $(seq 0 $((k - 1))); do
    p=$((PB + 40 + i)); port_free "$p"
    "$BIN/herald-notifier" --listen "127.0.0.1:$p" --broker "redis://127.0.0.1:$rp" \
      --log-level warn --ping-interval 0 --idle-timeout 0 2>>"$RUN_DIR/notifier.log" & PIDS+=($!)
    nfspec+=",nf$((i + 1))=$!"; servers+="${servers:+, }127.0.0.1:$p"
  done
  for i in $(seq 0 $((k - 1))); do wait_port 127.0.0.1 $((PB + 40 + i)); done
  sed -e "s/servers: \[127.0.0.1:$NF_PORT\]}/servers: [$servers]}/" \
    "$RUN_DIR/gateway.yaml" >"$RUN_DIR/gateway-redis.yaml"
  port_free "$GW_PORT"
  "$BIN/herald-gateway" --config "$RUN_DIR/gateway-redis.yaml" --workers "$workers" \
    --log-level warn 2>>"$RUN_DIR/gateway.log" & PIDS+=($!); local gw=$!
  wait_port 127.0.0.1 "$GW_PORT"; wait_gateway "$gw"
  URL="ws://127.0.0.1:$GW_PORT/ws?channels={ch}"; PROTO=herald
  PUBLISH=redis://127.0.0.1:$rp; PUBRAW=false; PIDSPEC="gateway=$gw$nfspec"
  i=1; for p in $(pgrep -P "$gw"); do PIDSPEC+=",gw$i=$p"; i=$((i + 1)); done
}

# start_target NAME: starts the servers; sets URL, PROTO, PUBLISH, PUBRAW, PIDSPEC.
start_target() {
  local workers=${RUN_WORKERS:-$WORKERS} uring=()
  # NAME-libuv: the same set-up, the servers writing to clients with libuv
  # instead of io_uring (--io-uring=false, docs/net.md)
  # floor-uring, floor-mt-uring: herald-floor's sends as io_uring
  # submissions of 64 (Herald's flush chunk) instead of a send(2) each
  case $1 in
    *-libuv) uring=(--io-uring=false); set -- "${1%-libuv}" ;;
    floor-uring|floor-mt-uring) uring=(--uring 64); set -- "${1%-uring}" ;;
  esac
  case $1 in
    notifier|gateway|plain|link|link-id|link-4v)
      port_free "$NF_PORT"
      local link=() gwconf=$RUN_DIR/gateway.yaml
      if [ "${1%%-*}" = link ]; then
        port_free $((PB + 1))
        link=(--link-listen "127.0.0.1:$((PB + 1))" --trusted-proxy 127.0.0.1/32)
        gwconf=$RUN_DIR/gateway-link${1#link}.yaml
      fi
      # The Pusher app serves /app/bench-key (protocols.sh's Pusher clients).
      "$BIN/herald-notifier" --listen "127.0.0.1:$NF_PORT" --log-level warn \
        --ping-interval 0 --idle-timeout 0 "${link[@]+"${link[@]}"}" "${uring[@]+"${uring[@]}"}" \
        --pusher-app-id 1 --pusher-key bench-key --pusher-secret bench-secret \
        2>>"$RUN_DIR/notifier.log" & PIDS+=($!); local nf=$!
      wait_port 127.0.0.1 "$NF_PORT"; alive "$nf" herald-notifier
      PUBLISH=http://127.0.0.1:$NF_PORT/publish; PUBRAW=false; PROTO=herald
      if [ "$1" != notifier ]; then
        port_free "$GW_PORT"
        "$BIN/herald-gateway" --config "$gwconf" --workers "$workers" --log-level warn \
          "${uring[@]+"${uring[@]}"}" 2>>"$RUN_DIR/gateway.log" & PIDS+=($!); local gw=$!
        wait_port 127.0.0.1 "$GW_PORT"; wait_gateway "$gw"
        URL="ws://127.0.0.1:$GW_PORT/ws?channels={ch}"; PIDSPEC="gateway=$gw,notifier=$nf"
        local k=1; for p in $(pgrep -P "$gw"); do PIDSPEC+=",gw$k=$p"; k=$((k + 1)); done
      else
        URL="ws://127.0.0.1:$NF_PORT/ws?channels={ch}"; PIDSPEC="notifier=$nf"
      fi ;;
    plain-redis) start_plain_redis "$workers" "${RUN_NOTIFIERS:-2}" ;;
    floor|floor-mt)
      [ -x "$BIN/herald-floor" ] || { echo "missing $BIN/herald-floor: cmake --build build-bench --target herald-floor" >&2; exit 1; }
      local threads=1 fp=$((PB + 2)) f k=1 p
      [ "$1" = floor-mt ] && threads=0
      port_free "$NF_PORT"; port_free "$fp"
      "$BIN/herald-floor" --listen "127.0.0.1:$NF_PORT" --publish "127.0.0.1:$fp" \
        --procs "$workers" --threads "$threads" "${uring[@]+"${uring[@]}"}" \
        2>>"$RUN_DIR/floor.log" & PIDS+=($!); f=$!
      wait_port 127.0.0.1 "$fp"; alive "$f" herald-floor
      URL="ws://127.0.0.1:$NF_PORT/ws?channels={ch}"; PROTO=herald
      PUBLISH="http://127.0.0.1:$fp/pub/{ch}"; PUBRAW=true; PIDSPEC="floor=$f"
      for p in $(pgrep -P "$f"); do PIDSPEC+=",floor$k=$p"; k=$((k + 1)); done ;;
    nchan)
      mkdir -p "$RUN_DIR/nginx/tmp"
      nginx_conf "$workers"
      port_free "$NG_PORT"
      nginx -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx/error.log" &
      PIDS+=($!); local ng=$!
      wait_port 127.0.0.1 "$NG_PORT"; alive "$ng" nginx
      local w k=1 p; w=$(pgrep -P "$ng" | head -1)
      URL="ws://127.0.0.1:$NG_PORT/sub/{ch}"; PROTO=none
      PUBLISH="http://127.0.0.1:$NG_PORT/pub/{ch}"; PUBRAW=true; PIDSPEC="nginx=$w"
      for p in $(pgrep -P "$ng" | tail -n +2); do k=$((k + 1)); PIDSPEC+=",nginx$k=$p"; done ;;
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
    --label "${RUN_LABEL:-$scenario:$target:$n}" --json "$OUT" "$@" | grep -v '^{'
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
