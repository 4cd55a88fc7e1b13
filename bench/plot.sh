#!/usr/bin/env bash
# Draws docs/bench.svg from bench/results/*.jsonl: publish-to-receive p99
# latency (latency scenario) and delivered events/s (fanout scenario) against
# N, one line per set-up. Needs gnuplot (apt-get install gnuplot-nox).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R=$ROOT/bench/results
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# median over the runs per (scenario, set-up, N), like bench/ratios.mjs
# -> $T/<scenario>-<set-up>.dat: "N value"
node -e '
const fs = require("fs");
const [dir, out] = process.argv.slice(1);
const want = { latency: "lat_p99_ms", fanout: "delivered_per_s" };
for (const s of Object.keys(want)) {
  const files = [`${dir}/${s}.jsonl`, `${dir}/${s}-link.jsonl`].filter((f) => fs.existsSync(f));
  const last = new Map();
  // nchan also runs beside the link set-up (<scenario>-link.jsonl): its
  // medians there are its own series, "nchan-link", not mixed with the first.
  for (const f of files) for (const l of fs.readFileSync(f, "utf8").split("\n").filter(Boolean)) {
    const r = JSON.parse(l); let [, t, n] = r.label.split(":");
    if (f.endsWith("-link.jsonl") && t === "nchan") t = "nchan-link";
    if (Object.values(r.procs || {}).some((p) => !p.rss_before)) continue;
    const k = `${t}:${n}`;
    if (!last.has(k)) last.set(k, { t, n: Number(n), vs: [] });
    last.get(k).vs.push(r[want[s]]);
  }
  const med = (xs) => { const a = [...xs].sort((x, y) => x - y), m = a.length >> 1;
    return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2; };
  for (const t of ["gateway", "link", "notifier", "nchan", "nchan-link"]) {
    const pts = [...last.values()].filter((p) => p.t === t).sort((a, b) => a.n - b.n)
      .map((p) => ({ n: p.n, v: med(p.vs) }));
    fs.writeFileSync(`${out}/${s}-${t}.dat`, pts.map((p) => `${p.n} ${p.v}`).join("\n") + "\n");
  }
}' "$R" "$T"
gnuplot -e "dir='$T'; out='$ROOT/docs/bench.svg'" "$ROOT/bench/plot.gp"
echo "wrote docs/bench.svg"
