#!/usr/bin/env bash
# Draws docs/bench.svg from bench/results/*.jsonl: publish-to-receive p99
# latency (latency scenario) and delivered events/s (fanout scenario) against
# N, one line per set-up. Needs gnuplot (apt-get install gnuplot-nox).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R=$ROOT/bench/results
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# latest run per (scenario, set-up, N) -> $T/<scenario>-<set-up>.dat: "N value"
node -e '
const fs = require("fs");
const [dir, out] = process.argv.slice(1);
const want = { latency: "lat_p99_ms", fanout: "delivered_per_s" };
for (const s of Object.keys(want)) {
  const f = `${dir}/${s}.jsonl`;
  if (!fs.existsSync(f)) continue;
  const last = new Map();
  for (const l of fs.readFileSync(f, "utf8").split("\n").filter(Boolean)) {
    const r = JSON.parse(l); const [, t, n] = r.label.split(":");
    last.set(`${t}:${n}`, { t, n: Number(n), v: r[want[s]] });
  }
  for (const t of ["gateway", "notifier", "nchan"]) {
    const pts = [...last.values()].filter((p) => p.t === t).sort((a, b) => a.n - b.n);
    fs.writeFileSync(`${out}/${s}-${t}.dat`, pts.map((p) => `${p.n} ${p.v}`).join("\n") + "\n");
  }
}' "$R" "$T"
gnuplot -e "dir='$T'; out='$ROOT/docs/bench.svg'" "$ROOT/bench/plot.gp"
echo "wrote docs/bench.svg"
