#!/usr/bin/env bash
# `make run`: starts the demo. Usage: scripts/run.sh BIN_DIR
#
#   herald-notifier  127.0.0.1:7070  HTTP: /publish, /healthz, /readyz, /metrics
#                    127.0.0.1:7071  herald-link, the gateway's WebSocket sessions
#   herald-gateway   127.0.0.1:8080  config/gateway.yaml (admin 127.0.0.1:9090):
#                                    serves web/, carries /ws to the notifier over
#                                    herald-link, /api/publish to the demo source
#   demo source      publishes orders, inventory, alerts and user:demo notes to
#                    the notifier's /publish; on 127.0.0.1:7072 it publishes
#                    for the page's form (signed-in users, demo channels)
#   redis-server     only when HERALD_BROKER asks for a local Redis that is not
#                    running (started here on that port, stopped with the rest)
#
# Prints the URL of the demo page; Ctrl-C stops everything started here (exit
# status 0). A notifier that dies is restarted after 3 s unless its port was
# taken meanwhile. Logs go to a temporary folder, removed when the demo stops
# normally and kept (and named) when something failed.
# Environment: HERALD_BROKER (memory, redis://127.0.0.1:6379, nats://..., any
# --broker URL the notifier takes), HERALD_DEMO_SECRET (the demo JWT secret;
# must match config/gateway.yaml and web/demo.js), HERALD_DEMO_PUSHER_KEY and
# HERALD_DEMO_PUSHER_SECRET (the demo Pusher app, id herald-demo, that
# pusher-js clients reach at /app/<key>; docs/compat.md), HERALD_RUN_NO_SOURCE=1 (no
# demo source), HERALD_RUN_PORTS (five ports instead of "7070 7071 7072 8080
# 9090": notifier, link, form, gateway, admin; the gateway then runs on a copy
# of config/gateway.yaml with them, so tests never bind the fixed ones).
set -euo pipefail

bin=${1:?usage: scripts/run.sh BIN_DIR}
bin=$(cd "$bin" && pwd)

# Ctrl-C should stop the demo, not make (make dies of the SIGINT and reports
# "Interrupt", status 130): at a terminal, run as a job of a shell with job
# control, in a process group of its own that holds the terminal, so only
# the demo gets the SIGINT and `make run` ends with this script's status.
if [ -t 0 ] && [ -z "${HERALD_RUN_JOB:-}" ]; then
  HERALD_RUN_JOB=1 exec bash -mc '"$@"; exit $?' run.sh bash "$0" "$bin"
fi
cd "$(dirname "$0")/.."

secret=${HERALD_DEMO_SECRET:-herald-demo-secret}
pusher_key=${HERALD_DEMO_PUSHER_KEY:-herald-demo-key}
pusher_secret=${HERALD_DEMO_PUSHER_SECRET:-herald-demo-pusher-secret}
broker=${HERALD_BROKER:-memory}
host=127.0.0.1
read -r notifier_port link_port form_port gateway_port admin_port _ \
  <<<"${HERALD_RUN_PORTS:-7070 7071 7072 8080 9090}"
for port in $notifier_port $link_port $form_port $gateway_port $admin_port; do
  [[ $port =~ ^[0-9]+$ ]] || { echo "herald: HERALD_RUN_PORTS: expected five port numbers" >&2; exit 2; }
done

# True when something accepts TCP connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

# True when GET http://$1:$2$3 answers 200.
http_ok() {
  (
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$3" "$1" "$2" >&3
    IFS= read -r -t 2 line <&3 || exit 1
    [[ $line == "HTTP/1.1 200"* ]]
  ) 2>/dev/null
}

for port in $notifier_port $link_port $form_port $gateway_port $admin_port; do
  if port_busy "$port"; then
    echo "herald: port $port on $host is already in use (another 'make run'?); nothing started" >&2
    exit 1
  fi
done

# The broker: a local Redis that is not running is started here (installed
# first if needed); anything else must be running already.
start_redis=
if [[ $broker =~ ^redis://([^@/]*@)?(127\.[0-9.]+|localhost|\[::1\])(:([0-9]+))?(/.*)?$ ]]; then
  redis_port=${BASH_REMATCH[4]:-6379}
  if ! port_busy "$redis_port"; then
    if ! command -v redis-server >/dev/null; then
      if [ "$(id -u)" -ne 0 ]; then
        echo "herald: HERALD_BROKER=$broker but nothing listens on $host:$redis_port; start Redis there (as root: apt-get install redis-server)" >&2
        exit 1
      fi
      echo "herald: installing redis-server for HERALD_BROKER=$broker"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    fi
    # Debian's package may have started its own service on 6379.
    port_busy "$redis_port" || start_redis=$redis_port
  fi
elif [[ $broker =~ ^(redis|rediss|nats|amqp|amqps)://([^@/]*@)?(\[[^]]*\]|[^:/?]+)(:([0-9]+))? ]]; then
  scheme=${BASH_REMATCH[1]} bhost=${BASH_REMATCH[3]} bport=${BASH_REMATCH[5]}
  case $scheme in
    redis*) bport=${bport:-6379} what="redis-server" ;;
    nats) bport=${bport:-4222} what="nats-server -js -a ${bhost//[][]/} -p $bport" ;;
    amqp*) bport=${bport:-5672} what="rabbitmq-server" ;;
  esac
  if ! timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${bhost//[][]/}" "$bport" 2>/dev/null; then
    echo "herald: HERALD_BROKER=$broker but nothing answers on $bhost:$bport; start the broker there first ($what)" >&2
    exit 1
  fi
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/herald-run.XXXXXX")
pids=()
notifier_pid=
failed=0

stop_all() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    echo
    echo "herald: stopping (pids ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
  fi
  if [ $failed -eq 0 ]; then
    rm -rf "$logdir"
  else
    echo "herald: logs kept in $logdir" >&2
  fi
}
# Ctrl-C (SIGINT) and SIGTERM are the normal way to stop: status 0.
trap 'exit 0' INT TERM
trap 'rc=$?; [ $rc -eq 0 ] || failed=1; stop_all; exit $rc' EXIT

fail() { failed=1; echo "herald: $*" >&2; exit 1; }

# Waits until GET http://127.0.0.1:$1$2 answers 200 while pid $3 lives (up to
# 20 s), or fails showing the end of its log $5.
wait_http() {
  local port=$1 path=$2 pid=$3 what=$4 log=$5
  for _ in $(seq 200); do
    http_ok "$host" "$port" "$path" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "herald: $what did not become ready at http://$host:$port$path; the end of its log ($log):" >&2
  tail -n 20 "$log" >&2
  fail "stopping"
}

if [ -n "$start_redis" ]; then
  redis-server --bind 127.0.0.1 --port "$start_redis" --dir "$logdir" --save '' --appendonly no \
    >"$logdir/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do port_busy "$start_redis" && break; sleep 0.1; done
  port_busy "$start_redis" || { tail -n 20 "$logdir/redis.log" >&2; fail "redis-server did not start"; }
  echo "herald: redis-server started on $host:$start_redis (pid $!, data not saved)"
fi

start_notifier() {
  "$bin/herald-notifier" --listen "$host:$notifier_port" --link-listen "$host:$link_port" \
    --broker "$broker" --jwt-secret "$secret" --trusted-proxy 127.0.0.1/32 \
    --pusher-app-id herald-demo --pusher-key "$pusher_key" --pusher-secret "$pusher_secret" \
    2>>"$logdir/notifier.log" &
  notifier_pid=$!
  pids+=("$notifier_pid")
}
start_notifier
wait_http $notifier_port /readyz "$notifier_pid" notifier "$logdir/notifier.log"
echo "herald: notifier ready on $host:$notifier_port, link $host:$link_port, broker $broker (pid $notifier_pid)"

[ -x "$bin/herald-gateway" ] || fail "$bin/herald-gateway is not built"
gateway_config=config/gateway.yaml
if [ "$notifier_port $link_port $form_port $gateway_port $admin_port" != "7070 7071 7072 8080 9090" ]; then
  gateway_config=$logdir/gateway.yaml
  sed -e "s/127\.0\.0\.1:8080/$host:$gateway_port/g; s/127\.0\.0\.1:9090/$host:$admin_port/g" \
    -e "s/127\.0\.0\.1:7071/$host:$link_port/g; s/127\.0\.0\.1:7072/$host:$form_port/g" \
    -e "s/127\.0\.0\.1:7070/$host:$notifier_port/g; s|\.\./web/|$PWD/web/|g" \
    -e "s|script: transforms/|script: $PWD/config/transforms/|g" \
    config/gateway.yaml >"$gateway_config"
fi
"$bin/herald-gateway" --config "$gateway_config" >"$logdir/gateway-access.log" 2>"$logdir/gateway.log" &
pids+=($!)
wait_http $admin_port /readyz $! gateway "$logdir/gateway.log"
echo "herald: gateway ready on http://$host:$gateway_port/ (pid $!, admin http://$host:$admin_port)"

if [ "${HERALD_RUN_NO_SOURCE:-0}" != 1 ]; then
  node scripts/demo-source.mjs --url "http://$host:$notifier_port" --form-listen "$host:$form_port" \
    2>"$logdir/demo-source.log" &
  pids+=($!)
  wait_http $form_port /healthz $! "demo source" "$logdir/demo-source.log"
  echo "herald: demo source publishing (pid $!)"
fi

cat <<EOF

  Herald demo:  http://$host:$gateway_port/

  Publish from a shell, as a service would:
    curl -s -XPOST http://$host:$notifier_port/publish -d '{"channel":"alerts","data":{"severity":"info","service":"you","message":"hello"}}'
  pusher-js: key $pusher_key, wsHost $host, wsPort $gateway_port (app herald-demo, docs/compat.md).
  Kill the notifier (kill $notifier_pid) to watch the page reconnect; it is restarted after 3 s.
  Logs: $logdir (removed on exit).  Ctrl-C stops everything.

EOF

# Stay in the foreground until Ctrl-C. A notifier that dies is restarted
# after 3 s, unless another process took its ports meanwhile; any other
# process exiting ends the demo.
ports_taken() {
  local p
  for p in $notifier_port $link_port; do
    port_busy "$p" && { echo "$p"; return 0; }
  done
  return 1
}
while true; do
  done_pid=
  rc=0
  wait -n -p done_pid "${pids[@]}" || rc=$?
  [ -n "$done_pid" ] || continue
  remaining=()
  for p in "${pids[@]}"; do [ "$p" != "$done_pid" ] && remaining+=("$p"); done
  pids=("${remaining[@]+"${remaining[@]}"}")
  [ "$done_pid" = "$notifier_pid" ] || {
    tail -n 5 "$logdir"/*.log >&2
    fail "process $done_pid exited (status $rc); stopping"
  }
  if taken=$(ports_taken); then
    fail "the notifier exited (status $rc) and $host:$taken is now in use by another process; not restarting it. Stop that process and run 'make run' again"
  fi
  echo "herald: notifier exited (status $rc); restarting it in 3 s"
  sleep 3
  if taken=$(ports_taken); then
    fail "$host:$taken was taken by another process while the notifier was down; not restarting it. Stop that process and run 'make run' again"
  fi
  start_notifier
  wait_http $notifier_port /readyz "$notifier_pid" notifier "$logdir/notifier.log"
  echo "herald: notifier restarted (pid $notifier_pid)"
done
