#!/usr/bin/env node
// Gateway memory per idle proxied WebSocket (docs/gateway.md, *Measurements*).
// A benchmark, never a test: numbers depend on the host.
//
//   node bench/gateway_mem.mjs ws://127.0.0.1:28080/ws 10000 $GW $(pgrep -P $GW)
//
// Opens N idle WebSockets through the gateway and reports the gateway's
// resident memory per connection: (RSS with N open - RSS before) / N, summed
// over the gateway's processes (pids given as arguments).
import fs from 'node:fs';
import { WebSocket } from '../tests/e2e/lib/harness.mjs';
const [url, n, ...pids] = process.argv.slice(2);
const N = Number(n);
const rss = () => pids.reduce((a, p) => a + Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))[1]), 0);
const open = (u) => new Promise((res, rej) => {
  const ws = new WebSocket(u, { perMessageDeflate: false });
  ws.once('open', () => res(ws)); ws.once('error', rej);
});
const warm = [];
for (let i = 0; i < 100; i++) warm.push(await open(url));
await new Promise((r) => setTimeout(r, 500));
const before = rss();
const socks = [];
for (let i = 0; i < N; i += 200) {
  const batch = [];
  for (let k = i; k < Math.min(N, i + 200); k++) batch.push(open(url));
  socks.push(...await Promise.all(batch));
}
await new Promise((r) => setTimeout(r, 2000));
const after = rss();
console.log(JSON.stringify({ connections: N, rss_before_kib: before, rss_after_kib: after,
  per_connection_bytes: Math.round((after - before) * 1024 / N) }));
for (const s of [...socks, ...warm]) s.terminate();
process.exit(0);
