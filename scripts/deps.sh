#!/usr/bin/env bash
# Installs what Herald needs on Debian 12, or, when not root, prints the exact
# command and fails. Usage: scripts/deps.sh build|run|test|bench
#   build  the C toolchain and libraries
#   run    build + nodejs (the demo event source has no npm dependencies)
#   test   build + nodejs, npm, brokers, chromium and the npm packages of
#          tests/e2e (pinned to versions that run on Debian's nodejs 18)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-build}

build_pkgs=(build-essential cmake pkg-config clang libuv1-dev node-llhttp libjansson-dev
  libjwt-dev zlib1g-dev libssl-dev libyaml-dev libhiredis-dev libnats-dev libcmocka-dev
  liblua5.4-dev)
test_pkgs=(nodejs npm redis-server nats-server openssl curl chromium)
build_pkgs+=(librabbitmq-dev) # the amqp:// broker (issue 14)
build_pkgs+=(liburing-dev) # io_uring writes to clients (--io-uring, issue 18)
test_pkgs+=(rabbitmq-server amqp-tools) # the amqp:// broker suite starts its own node
run_pkgs=(nodejs)

pkgs=("${build_pkgs[@]}")
case "$what" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  run) pkgs+=("${run_pkgs[@]}") ;;
  bench) pkgs+=(nginx libnginx-mod-nchan gnuplot-nox) ;;
  *) echo "usage: scripts/deps.sh build|run|test|bench" >&2; exit 2 ;;
esac

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${pkgs[@]}"; do
  case $p in
    # A node or npm on PATH may come from elsewhere than Debian (a Node.js
    # that bundles npm): use it. Debian ships npm apart from nodejs.
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "herald: missing Debian packages; run as root:" >&2
    echo "  $cmd" >&2
    exit 1
  fi
  echo "herald: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$what" = run ] || [ "$what" = test ]; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 18 ]; then
    echo "herald: node $(node --version) is too old; Herald's scripts need Node.js 18 or newer" >&2
    exit 1
  fi
fi

# npm packages for the end-to-end tests and the browser test (tests/e2e/package.json).
if [ "$what" = test ]; then
  if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package.json -nt tests/e2e/node_modules ] ||
     [ tests/e2e/package-lock.json -nt tests/e2e/node_modules ]; then
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error) >&2
    touch tests/e2e/node_modules
  fi
fi
