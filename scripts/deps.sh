#!/usr/bin/env bash
# Installs what Herald needs on Debian 12, or, when not root, prints the exact
# command and fails. Usage: scripts/deps.sh build|test|run
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-build}

build_pkgs=(build-essential cmake pkg-config clang libuv1-dev node-llhttp libjansson-dev
  libjwt-dev zlib1g-dev libssl-dev libyaml-dev libhiredis-dev libnats-dev libcmocka-dev
  liblua5.4-dev)
test_pkgs=(nodejs npm redis-server nats-server openssl curl chromium)
run_pkgs=(nodejs)

pkgs=("${build_pkgs[@]}")
case "$what" in
  test) pkgs+=("${test_pkgs[@]}") ;;
  run) pkgs+=("${run_pkgs[@]}") ;;
  bench) pkgs+=(nginx libnginx-mod-nchan gnuplot-nox) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian's packages: accept them on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

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

# npm packages for the end-to-end tests and the browser test (tests/e2e/package.json).
if [ "$what" = test ] || [ "$what" = run ]; then
  if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package.json -nt tests/e2e/node_modules ]; then
    (cd tests/e2e && npm install --no-audit --no-fund --loglevel=error) >&2
    touch tests/e2e/node_modules
  fi
fi
