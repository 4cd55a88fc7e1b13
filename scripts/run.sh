#!/usr/bin/env bash
# `make run`: starts the demo. Usage: scripts/run.sh BIN_DIR
#
#   herald-notifier  127.0.0.1:7070   memory broker, verifies demo tokens
#   herald-gateway   127.0.0.1:8080   config/gateway.yaml (admin 127.0.0.1:9090):
#                                     serves web/, proxies /ws and /api/publish
#   demo source      publishes orders, inventory, alerts and user:demo notes
#
# Prints the URL of the demo page; Ctrl-C stops everything started here.
# Environment: HERALD_DEMO_SECRET (the demo JWT secret; must match
# config/gateway.yaml and web/demo.js), HERALD_RUN_NO_SOURCE=1 (no demo source).
set -euo pipefail

bin=${1:?usage: scripts/run.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
cd "$(dirname "$0")/.."

secret=${HERALD_DEMO_SECRET:-herald-demo-secret}
notifier_addr=127.0.0.1:7070
gateway_url=http://127.0.0.1:8080/
logdir=$(mktemp -d "${TMPDIR:-/tmp}/herald-run.XXXXXX")
pids=()
notifier_pid=

stop_all() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    echo
    echo "herald: stopping (${pids[*]})"
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
  echo "herald: logs kept in $logdir"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Waits until GET $1 answers 200 (up to 20 s), or fails naming the log file.
wait_http() {
  local url=$1 what=$2 log=$3
  for _ in $(seq 200); do
    if node -e "fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "$url"; then
      return 0
    fi
    sleep 0.1
  done
  echo "herald: $what did not become ready at $url; its log ($log):" >&2
  tail -n 20 "$log" >&2
  exit 1
}

for port in 7070 8080 9090; do
  if node -e "const s=require('net').connect($port,'127.0.0.1');s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1))"; then
    echo "herald: port $port on 127.0.0.1 is already in use (another 'make run'?)" >&2
    exit 1
  fi
done

start_notifier() {
  "$bin/herald-notifier" --listen "$notifier_addr" --broker memory \
    --jwt-secret "$secret" --trusted-proxy 127.0.0.1/32 2>>"$logdir/notifier.log" &
  notifier_pid=$!
}
start_notifier
pids+=("$notifier_pid")
wait_http "http://$notifier_addr/readyz" notifier "$logdir/notifier.log"
echo "herald: notifier ready on ws://$notifier_addr/ws (pid $notifier_pid, log: $logdir/notifier.log)"

have_gateway=0
if [ -x "$bin/herald-gateway" ]; then
  "$bin/herald-gateway" --config config/gateway.yaml >"$logdir/gateway-access.log" \
    2>"$logdir/gateway.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:9090/healthz" gateway "$logdir/gateway.log"
  have_gateway=1
  echo "herald: gateway ready on $gateway_url (pid $!, admin http://127.0.0.1:9090, log: $logdir/gateway.log)"
else
  echo "herald: $bin/herald-gateway not built; running without the gateway" >&2
fi

if [ "${HERALD_RUN_NO_SOURCE:-0}" != 1 ]; then
  node scripts/demo-source.mjs --url "http://$notifier_addr" 2>"$logdir/demo-source.log" &
  pids+=($!)
  echo "herald: demo source publishing (pid $!, log: $logdir/demo-source.log)"
fi

echo
if [ $have_gateway -eq 1 ]; then
  echo "  Herald demo:  $gateway_url"
else
  echo "  No gateway: the page needs it to be served. Connect a client to ws://$notifier_addr/ws"
fi
echo "  Publish yourself:"
echo "    curl -s -XPOST http://$notifier_addr/publish -d '{\"channel\":\"alerts\",\"data\":{\"severity\":\"info\",\"service\":\"you\",\"message\":\"hello\"}}'"
echo "  Ctrl-C stops everything."
echo

# Stay in the foreground until Ctrl-C. A notifier that dies (try
# `kill <pid>` to watch the page reconnect) is restarted after 3 s; any other
# process exiting ends the demo.
while true; do
  done_pid=
  rc=0
  wait -n -p done_pid "${pids[@]}" || rc=$?
  if [ -z "$done_pid" ]; then
    continue
  fi
  remaining=()
  for p in "${pids[@]}"; do [ "$p" != "$done_pid" ] && remaining+=("$p"); done
  pids=("${remaining[@]+"${remaining[@]}"}")
  if [ "$done_pid" = "$notifier_pid" ]; then
    echo "herald: notifier exited (status $rc); restarting it in 3 s"
    sleep 3
    start_notifier
    pids+=("$notifier_pid")
    echo "herald: notifier restarted (pid $notifier_pid)"
  else
    echo "herald: process $done_pid exited (status $rc); stopping. Logs: $logdir" >&2
    exit 1
  fi
done
