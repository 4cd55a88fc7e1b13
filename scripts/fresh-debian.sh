#!/usr/bin/env bash
# Tries the README's two commands the way a new user meets them: on a
# minimal Debian 12 root (debootstrap --variant=minbase bookworm) with only
# git and make added, Herald cloned into it, `make run` (from stock: it must
# install what it runs by itself), then `make test`, then `make run` again.
# Not part of `make test`: it downloads a few hundred MB and takes long.
#
# Usage (as root): scripts/fresh-debian.sh [--dir DIR] [--ref REF] [--keep]
#   --dir DIR  build the root there (default: a new /var/tmp/herald-fresh.XXXXXX)
#   --ref REF  the commit to clone (default: HEAD of this checkout; commit first,
#              uncommitted changes are not in the clone)
#   --keep     keep the root afterwards (default: removed when everything passed)
# Logs go to DIR.logs/ (debootstrap, make run, make test) and are kept.
# Environment: HERALD_MIRROR (default: the host's Debian mirror, else
# http://deb.debian.org/debian).
#
# The root gets the host's extra CA certificates (/usr/local/share/ca-certificates)
# and NODE_EXTRA_CA_CERTS, the host's resolv.conf, and the host's apt proxy /
# validity settings and proxy variables if it has any, so its apt and npm reach
# the registries as the host does. Each command's install step
# (scripts/deps.sh) runs with the host's network; the commands themselves run
# in a network namespace of their own (loopback and a veth pair that leads
# nowhere), so the demo's fixed ports never meet the host's. Every process started in the root is stopped by PID and
# every mount is undone on any exit.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
dir=
ref=HEAD
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=${2:?--dir needs a folder}; shift 2 ;;
    --ref) ref=${2:?--ref needs a commit}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-debian: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-debian: run as root (debootstrap, chroot, mount)" >&2; exit 1; }

say() { printf '\n=== fresh-debian %s: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

commit=$(git -C "$src" rev-parse --verify "$ref^{commit}")
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ] && [ "$ref" = HEAD ]; then
  echo "fresh-debian: note: uncommitted changes in $src are not tested (clone of $commit)" >&2
fi

command -v python3 >/dev/null || { echo "fresh-debian: needs python3 on the host (a terminal for make run)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap on the host"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# The host's Debian mirror (deb822 or one-line sources), so the root uses the
# same route to it.
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' "$f"
  done
  [ -f /etc/apt/sources.list ] &&
    awk '$1 == "deb" && $0 ~ / bookworm / {for (i = 2; i <= NF; i++) if ($i ~ /:\/\/.*\/debian\/?$/) {print $i; exit}}' \
      /etc/apt/sources.list
  true
}
mirror=${HERALD_MIRROR:-$(host_mirror | head -n 1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

if [ -z "$dir" ]; then
  dir=$(mktemp -d /var/tmp/herald-fresh.XXXXXX)
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ "$dir" != / ] || { echo "fresh-debian: refusing to use / as the root" >&2; exit 2; }
logs=$dir.logs      # beside the root: kept when the root is removed
mkdir -p "$logs"

mounts=()       # mounted points inside the root, in mount order
ok=0

# Processes whose root is the chroot: everything started in it.
root_pids() {
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    [ "$r" = "$dir" ] && echo "${p#/proc/}"
  done
  return 0
}

cleanup() {
  local rc=$? pids i
  trap - EXIT INT TERM
  mapfile -t pids < <(root_pids)
  if [ ${#pids[@]} -gt 0 ]; then
    echo "fresh-debian: stopping processes left in the root: ${pids[*]}" >&2
    kill -TERM "${pids[@]}" 2>/dev/null || true
    sleep 2
    mapfile -t pids < <(root_pids)
    [ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" || true
  done
  if [ $ok -eq 1 ] && [ $keep -eq 0 ]; then
    rm -rf --one-file-system "$dir"
    echo "fresh-debian: root $dir removed"
  else
    echo "fresh-debian: root kept in $dir"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$dir/usr/bin/apt-get" ]; then
  say "debootstrap --variant=minbase bookworm $dir ($mirror)"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$logs/debootstrap.log" 2>&1 || {
    tail -n 30 "$logs/debootstrap.log" >&2
    exit 1
  }
fi

# What a stock Debian 12 lists: bookworm, its updates and the security archive.
security=${mirror%/debian}/debian-security
grep -qs debian-security /etc/apt/sources.list /etc/apt/sources.list.d/*.sources ||
  security=http://security.debian.org/debian-security
rm -f "$dir/etc/apt/sources.list"
cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# The host's apt settings for reaching its mirror (proxies, validity checks).
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] || continue
  if grep -qiE 'Acquire::[a-z]+::Proxy|Check-Valid-Until|Check-Date' "$f"; then
    cp "$f" "$dir/etc/apt/apt.conf.d/90host-$(basename "$f")"
  fi
done
cp /etc/resolv.conf "$dir/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$dir/etc/hosts"

bind() { # bind SRC DEST-in-root [mount options...]
  local src_=$1 dest=$dir$2
  shift 2
  mkdir -p "$dest"
  if [ $# -gt 0 ]; then mount "$@" "$dest"; else mount --bind "$src_" "$dest"; fi
  mounts+=("$dest")
}
bind proc /proc -t proc proc
bind sys /sys -t sysfs sys
bind /dev /dev
bind /dev/pts /dev/pts
bind shm /dev/shm -t tmpfs -o mode=1777,size=1g shm

# Environment inside the root: the host's proxy variables if set, the CA
# bundle for node, a plain PATH and locale.
envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
  TERM=dumb DEBIAN_FRONTEND=noninteractive NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && envs+=("$v=${!v}")
done
in_root() { chroot "$dir" /usr/bin/env -i "${envs[@]}" /bin/bash -c "$1"; }
# The same in a network namespace of its own: the demo's fixed ports never
# meet the host's, and nothing reaches out. Loopback, plus a veth pair that
# leads nowhere: with loopback alone Chromium thinks it is offline, and the
# demo page (herald.js) waits for the network before reconnecting.
netns_up='ip link set lo up && ip link add herald0 type veth peer name herald1 &&
  ip link set herald0 up && ip link set herald1 up && ip addr add 10.255.255.1/30 dev herald0 && exec "$@"'
in_root_lo() {
  unshare --net -- /bin/sh -c "$netns_up" _ chroot "$dir" /usr/bin/env -i "${envs[@]}" /bin/bash -c "$1"
}

say "apt-get install git make (the user's only additions)"
in_root 'apt-get update -qq && apt-get install -y -qq git make >/dev/null'

say "host CA certificates into the root"
mkdir -p "$dir/usr/local/share/ca-certificates"
if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
  cp -r /usr/local/share/ca-certificates/. "$dir/usr/local/share/ca-certificates/"
fi
in_root 'update-ca-certificates >/dev/null'

say "git clone $commit"
rm -rf "$dir/root/herald"
git clone -q --no-hardlinks "$src" "$dir/root/herald"
git -C "$dir/root/herald" checkout -q "$commit"

# Runs a command on a new pseudo-terminal, as a user's shell would: output
# to the log file; SIGUSR1 types Ctrl-C; exits with the command's status.
# Usage: python3 -c "$pty_py" LOG PIDFILE CMD...
pty_py='
import os, pty, select, signal, sys
log, pidfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    # This runs as a background job, started with SIGINT ignored: a terminal
    # user has it at its default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    os.execvp(argv[0], argv)
open(pidfile, "w").write(str(pid))
signal.signal(signal.SIGUSR1, lambda *_: os.write(fd, b"\x03"))
with open(log, "ab", buffering=0) as out:
    while True:
        try:
            ready = select.select([fd], [], [], 1)[0]
            data = os.read(fd, 65536) if ready else b"-"
        except InterruptedError:
            continue
        except OSError:
            break
        if not data:
            break
        if data != b"-":
            out.write(data.replace(b"\r\n", b"\n"))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
'

# Starts `make run` in the root (its own network namespace) on a terminal,
# waits for its URL line, checks the page, a WebSocket upgrade and the
# gateway's health from inside that namespace, then types Ctrl-C and expects
# exit status 0, no process left behind and no temp folder.
try_make_run() {
  local log=$logs/make-run-$1.log pidfile=$logs/make-run-$1.pid pid='' py status
  : >"$log"
  rm -f "$pidfile"
  python3 -c "$pty_py" "$log" "$pidfile" unshare --net -- /bin/sh -c "$netns_up" _ \
    chroot "$dir" /usr/bin/env -i "${envs[@]}" /bin/bash -c 'cd /root/herald && exec make run' &
  py=$!
  for _ in $(seq 1800); do
    grep -q 'Herald demo:' "$log" && break
    kill -0 "$py" 2>/dev/null || break
    sleep 1
  done
  [ -s "$pidfile" ] && pid=$(cat "$pidfile")
  if ! grep -q 'Herald demo:' "$log" || [ -z "$pid" ]; then
    echo "fresh-debian: make run did not print its URL:" >&2
    tail -n 40 "$log" >&2
    kill -USR1 "$py" 2>/dev/null || true
    return 1
  fi
  cat "$log"
  local net=(nsenter "--net=/proc/$pid/ns/net")
  "${net[@]}" curl -fsS --max-time 10 http://127.0.0.1:8080/ | grep -q '<title>Herald' ||
    { echo "fresh-debian: no demo page at http://127.0.0.1:8080/" >&2; return 1; }
  echo "fresh-debian: GET http://127.0.0.1:8080/ -> the demo page"
  local head
  head=$("${net[@]}" curl -s --max-time 3 -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' \
    -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
    http://127.0.0.1:8080/ws || true)
  [ "$head" = 101 ] || { echo "fresh-debian: /ws upgrade answered '$head', not 101" >&2; return 1; }
  echo "fresh-debian: GET /ws with Upgrade: websocket -> 101"
  "${net[@]}" curl -fsS --max-time 10 http://127.0.0.1:9090/healthz >/dev/null ||
    { echo "fresh-debian: gateway /healthz failed" >&2; return 1; }
  echo "fresh-debian: gateway http://127.0.0.1:9090/healthz -> 200"
  kill -USR1 "$py"
  status=0
  wait "$py" || status=$?
  tail -n 3 "$log"
  [ $status -eq 0 ] || { echo "fresh-debian: make run exited with $status after Ctrl-C, not 0" >&2; return 1; }
  echo "fresh-debian: make run stopped on Ctrl-C with status 0"
  local left
  left=$(root_pids | tr '\n' ' ')
  [ -z "$left" ] || { echo "fresh-debian: processes left after make run: $left" >&2; return 1; }
  ls -d "$dir"/tmp/herald-run.* 2>/dev/null && { echo "fresh-debian: make run left a temp folder" >&2; return 1; }
  return 0
}

# Installs need the network, the servers only loopback: each command's own
# install step (scripts/deps.sh, which make run and make test call first)
# runs with the host's network, then the command itself in its own network
# namespace, where that step finds nothing left to install.
say "scripts/deps.sh run (make run's install step, on the stock root)"
in_root 'cd /root/herald && scripts/deps.sh run'
say "make run (log: $logs/make-run-first.log)"
try_make_run first
in_root 'command -v npm >/dev/null && { echo "fresh-debian: make run installed npm" >&2; exit 1; }
  [ ! -e /root/herald/tests/e2e/node_modules ] || { echo "fresh-debian: make run installed npm packages" >&2; exit 1; }
  echo "fresh-debian: make run installed no npm and no npm packages ($(node --version))"'

say "scripts/deps.sh test, then make test (log: $logs/make-test.log)"
rc=0
in_root 'cd /root/herald && scripts/deps.sh test' 2>&1 | tail -n 5
in_root_lo 'cd /root/herald && make test' >"$logs/make-test.log" 2>&1 || rc=$?
grep -E 'tests passed|tests failed|^ℹ (tests|pass|fail|skipped|cancelled) |^=== e2e' "$logs/make-test.log" || true
tail -n 5 "$logs/make-test.log"
[ "$rc" -eq 0 ] || { echo "fresh-debian: make test failed ($rc); log: $logs/make-test.log" >&2; exit 1; }

say "make run (after make test; log: $logs/make-run-again.log)"
try_make_run again

ok=1
say "green: make run, make test, make run on a minimal bookworm root ($commit, node $(in_root 'node --version'))"
