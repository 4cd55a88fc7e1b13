#!/usr/bin/env node
// Latency the gateway adds to a relayed message (docs/gateway.md,
// *Measurements*). A benchmark, never a test: numbers depend on the host.
//
//   node bench/gateway_lat.mjs ws://127.0.0.1:27070/ws ws://127.0.0.1:28080/ws 5000
//
// Round-trip latency of a client command answered by the notifier (subscribe
// -> subscribed), straight to the notifier and through the gateway, one at a
// time; prints p50/p99 of both and the difference (two relayed messages: one
// each way).
import { WebSocket } from '../tests/e2e/lib/harness.mjs';
const [direct, viaGw, n] = process.argv.slice(2);
const N = Number(n || 5000);
async function run(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  let resolve;
  let done = false;
  ws.on('message', () => resolve && resolve());
  // The notifier's --commands-per-s (default 100) closes a client this fast
  // with 1008: start it with a high limit (see docs/gateway.md).
  ws.on('close', (code) => {
    if (!done) {
      console.error(`${url} closed the connection (${code}) before the run ended`);
      process.exit(1);
    }
  });
  await new Promise((r) => setTimeout(r, 200));
  const t = [];
  for (let i = 0; i < N + 500; i++) {
    const p = new Promise((r) => { resolve = r; });
    const t0 = process.hrtime.bigint();
    ws.send(JSON.stringify({ type: 'subscribe', channels: [`c${i % 50}`], ref: String(i) }));
    await p;
    if (i >= 500) t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  done = true;
  ws.terminate();
  t.sort((a, b) => a - b);
  return { p50_us: t[Math.floor(N * 0.5)], p99_us: t[Math.floor(N * 0.99)] };
}
const d = await run(direct);
const g = await run(viaGw);
const d2 = await run(direct);
const g2 = await run(viaGw);
console.log(JSON.stringify({ samples: N, direct: d, gateway: g, direct_again: d2, gateway_again: g2 }));
process.exit(0);
