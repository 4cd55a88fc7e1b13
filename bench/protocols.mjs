#!/usr/bin/env node
// Tables of bench/scenarios/protocols.sh (issue 15): per N, one row per
// set-up (ws, sse, pusher: Herald through the gateway over herald-link;
// sse-plain, pusher-plain: through the gateway with plain proxying;
// sse-direct, pusher-direct: straight to the notifier; nchan-ws, nchan-sse)
// with the median of its runs (counts summed), then each Herald set-up as a
// ratio to nchan-ws and to nchan-sse. Markdown.
// Usage: node bench/protocols.mjs FILE.jsonl [--runs]  (--runs: every run's
// delivered/s, one-broadcast p50 and p99 too, to show the spread)
import fs from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
const runs = new Map(); // "n:setup" -> { latency: [...], fanout: [...] }
for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  let r;
  try { r = JSON.parse(line); } catch { continue; }
  const [scenario, setup, n] = r.label.split(':');
  if (Object.values(r.procs || {}).some((p) => !p.rss_before)) {
    console.error(`discarded ${r.label}: a named server process was not running`);
    continue;
  }
  const k = `${n}:${setup}`;
  if (!runs.has(k)) runs.set(k, { n: Number(n), setup, latency: [], fanout: [] });
  runs.get(k)[scenario === 'proto-latency' ? 'latency' : 'fanout'].push(r);
}
const median = (xs) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const cpu = (r) => sum(Object.values(r.procs).map((p) => p.cpu_s));
// [header, from latency runs or fanout runs, figure, better]
const cols = [
  ['user B per idle client', 'latency', (r) => r.user_bytes_per_conn, 'low'],
  ['kernel B per client', 'latency', (r) => r.kernel_bytes_per_conn, 'low'],
  ['delivered/s (max rate)', 'fanout', (r) => r.delivered_per_s, 'high'],
  ['server CPU s (max rate)', 'fanout', cpu, 'low'],
  ['p50 ms (1/s)', 'latency', (r) => r.lat_p50_ms, 'low'],
  ['p90 ms', 'latency', (r) => r.lat_p90_ms, 'low'],
  ['p99 ms', 'latency', (r) => r.lat_p99_ms, 'low'],
  ['one broadcast first→last p50 ms', 'latency', (r) => r.fanout_p50_ms, 'low'],
];
const fmt = (v) => (Number.isNaN(v) ? '–' : Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? 1 : 2));
const order = ['ws', 'sse', 'sse-plain', 'pusher', 'pusher-plain', 'sse-direct', 'pusher-direct', 'nchan-ws', 'nchan-sse'];
const ns = [...new Set([...runs.values()].map((r) => r.n))].sort((a, b) => a - b);
const head = ['N', 'set-up', 'runs', 'delivered / expected (all runs)', 'lossy conns', ...cols.map((c) => c[0])];
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map(() => '---').join('|')}|`);
for (const n of ns) {
  const fig = (e, c) => median(e[c[1]].map(c[2]));
  for (const s of order) {
    const e = runs.get(`${n}:${s}`);
    if (!e) continue;
    const all = [...e.latency, ...e.fanout];
    console.log(`| ${[n.toLocaleString('en-US'), s, `${e.latency.length} + ${e.fanout.length}`,
      `${sum(all.map((r) => r.delivered))} / ${sum(all.map((r) => r.expected))}`,
      sum(all.map((r) => r.lossy_conns)), ...cols.map((c) => fmt(fig(e, c)))].join(' | ')} |`);
    if (s.startsWith('nchan')) continue;
    for (const peer of ['nchan-ws', 'nchan-sse']) {
      const p = runs.get(`${n}:${peer}`);
      if (!p) continue;
      console.log(`| | ${s} / ${peer} | | | | ${cols.map((c) => {
        const b = fig(p, c), v = fig(e, c);
        return b > 0 && v >= 0 ? `${(v / b).toFixed(2)}x` : '';
      }).join(' | ')} |`);
    }
  }
}
if (args.includes('--runs')) {
  console.log('\n| N | set-up | delivered/s, each run | one broadcast p50 ms, each run | p99 ms, each run |');
  console.log('|---|---|---|---|---|');
  for (const n of ns) {
    for (const s of order) {
      const e = runs.get(`${n}:${s}`);
      if (!e) continue;
      const list = (xs) => xs.map(fmt).join(' · ');
      console.log(`| ${n.toLocaleString('en-US')} | ${s} | ${list(e.fanout.map((r) => r.delivered_per_s))} | ${
        list(e.latency.map((r) => r.fanout_p50_ms))} | ${list(e.latency.map((r) => r.lat_p99_ms))} |`);
    }
  }
}
