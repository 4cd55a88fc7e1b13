#!/usr/bin/env node
// Publish-to-receive latency through a real broker (issues 4 and 14): starts
// redis-server, nats-server -js or rabbitmq-server on free ports, one
// herald-notifier on it,
// S WebSocket subscribers on one channel, and a "service" that publishes R
// events per second straight into the broker (XADD / JetStream PUB / AMQP
// basic.publish into the stream, with confirms) for T
// seconds. Each event carries its send time; latency = receive time - send
// time, on the same clock (one process). Every subscriber receives every
// event; to keep the load generator from being the bottleneck, only
// --probes connections parse frames and record latencies; the others live
// in a child process that only reads and counts bytes. Prints p50/p90/p99/max and the
// delivered fraction. A benchmark, never a test: numbers depend on the host.
//
//   node bench/broker_latency.mjs --broker redis --subscribers 1000 --rate 1000 --seconds 20 \
//        --bin build/bin
//
// --broker all runs redis, nats and rabbitmq one after the other in the same
// run, so the three rows share the host's conditions.
//
// Flags: --broker redis|nats|rabbitmq|all, --subscribers N [1000], --rate R [1000],
// --seconds T [20], --probes P [50], --bin DIR [build/bin], --warmup S [3].

import { fork, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { freePort, sleep, waitFor } from '../tests/e2e/lib/harness.mjs';
import { startNats, startRabbit, startRedis } from '../tests/e2e/lib/servers.mjs';

function flags(argv) {
    const o = { broker: 'redis', subscribers: 1000, rate: 1000, seconds: 20, probes: 50, bin: 'build/bin', warmup: 3 };
    for (let i = 0; i < argv.length; i += 2) {
        const k = argv[i].replace(/^--/, '');
        if (!(k in o)) throw new Error(`unknown flag --${k}`);
        o[k] = typeof o[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
    }
    return o;
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms, float

/** A minimal WebSocket subscriber over a raw socket (server frames are unmasked). */
function subscribe(port, channel, probe, onLatency) {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1');
        const key = crypto.randomBytes(16).toString('base64');
        let buf = Buffer.alloc(0);
        let open = false;
        const st = { bytes: 0, events: 0, sock: s };
        s.setNoDelay(true);
        s.on('connect', () => {
            s.write(`GET /ws?channels=${channel} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n`
                + `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        });
        s.on('error', reject);
        s.on('data', (d) => {
            st.bytes += d.length;
            if (!open) {
                buf = Buffer.concat([buf, d]);
                const end = buf.indexOf('\r\n\r\n');
                if (end < 0) return;
                if (!buf.toString('latin1', 0, 12).includes('101')) return reject(new Error(buf.toString()));
                open = true;
                buf = buf.subarray(end + 4);
                resolve(st);
                if (!probe) { buf = Buffer.alloc(0); return; }
            } else if (!probe) {
                return;
            } else {
                buf = buf.length ? Buffer.concat([buf, d]) : d;
            }
            const t = now();
            for (;;) { // parse complete frames
                if (buf.length < 2) break;
                let len = buf[1] & 0x7f;
                let off = 2;
                if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
                else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
                if (buf.length < off + len) break;
                const p = buf.subarray(off, off + len);
                const at = p.indexOf('"t":');
                if (at >= 0) {
                    st.events++;
                    onLatency(t - parseFloat(p.toString('latin1', at + 4, at + 30)));
                }
                buf = buf.subarray(off + len);
            }
        });
    });
}

/** Child mode: open n byte-counting subscribers, report over IPC, stop on request. */
async function sink(port, channel, n) {
    const subs = [];
    for (let i = 0; i < n; i++) subs.push(await subscribe(Number(port), channel, false, () => {}));
    process.send({ ready: true });
    process.on('message', () => {
        process.send({ bytes: subs.reduce((a, s) => a + s.bytes, 0) });
        for (const s of subs) s.sock.destroy();
        process.exit(0);
    });
}

/** Starts the non-probe subscribers in a child process so the measuring
 * process only parses the probes' frames. */
function startSink(port, channel, n) {
    const child = fork(new URL(import.meta.url).pathname, ['--sink', String(port), channel, String(n)]);
    const ready = new Promise((resolve, reject) => {
        child.once('message', resolve);
        child.once('exit', (c) => reject(new Error(`sink exited ${c}`)));
    });
    const stop = () => new Promise((resolve) => {
        child.once('message', (m) => resolve(m.bytes));
        child.send('stop');
    });
    return { ready, stop };
}

const STARTERS = { redis: startRedis, nats: startNats, rabbitmq: startRabbit };

async function main() {
    if (process.argv[2] === '--sink') {
        await sink(process.argv[3], process.argv[4], Number(process.argv[5]));
        return new Promise(() => {}); // runs until the parent asks for the count
    }
    const o = flags(process.argv.slice(2));
    for (const kind of o.broker === 'all' ? Object.keys(STARTERS) : [o.broker]) {
        if (!STARTERS[kind]) throw new Error(`unknown broker ${kind}`);
        await measure({ ...o, broker: kind });
    }
}

async function measure(o) {
    const broker = await STARTERS[o.broker]();
    const pub = await broker.client();
    if (o.broker === 'rabbitmq') await pub.declareStream(broker.stream, { 'x-max-age': '86400s' });
    const port = await freePort();
    const nf = spawn(path.resolve(o.bin, 'herald-notifier'), ['--listen', `127.0.0.1:${port}`,
        '--broker', broker.url(), '--send-queue-limit', String(64 << 20), '--log-level', 'warn',
        '--deflate=false'], { stdio: ['ignore', 'inherit', 'inherit'] });
    process.on('exit', () => { try { nf.kill('SIGKILL'); } catch { /* gone */ } });
    nf.on('exit', (code, sig) => { if (!stopping) { console.error(`notifier exited ${code} ${sig}`); process.exit(1); } });
    let stopping = false;
    try {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 'notifier ready', 20000);
        const channel = `bench${process.pid}`;
        const probes = Math.min(o.probes, o.subscribers);
        let lat = [];
        const subs = [];
        const sinkProc = startSink(port, channel, o.subscribers - probes);
        await sinkProc.ready;
        for (let i = 0; i < probes; i++) subs.push(await subscribe(port, channel, true, (ms) => lat.push(ms)));
        await sleep(500);
        console.log(`${o.broker}: ${o.subscribers} subscribers (${probes} probes), ${o.rate} events/s, `
            + `${o.seconds} s (+${o.warmup} s warm-up)`);
        // Publish in 1 ms ticks, catching up on the schedule, so the rate holds.
        const total = Math.round(o.rate * (o.seconds + o.warmup));
        const start = now();
        let sent = 0;
        let inflight = 0;
        const pad = 'x'.repeat(40);
        while (sent < total) {
            const due = Math.min(total, Math.floor(((now() - start) / 1000) * o.rate));
            while (sent < due) {
                const data = `{"t":${now().toFixed(3)},"n":${sent},"p":"${pad}"}`;
                inflight++;
                let p;
                if (o.broker === 'nats') p = pub.publish(`herald.events.${channel}`, data, null, true);
                else if (o.broker === 'rabbitmq') p = pub.publishRaw({ channel }, data, broker.stream, false);
                else p = pub.cmd('XADD', 'herald:events', 'MAXLEN', '~', '100000', '*', 'channel', channel, 'data', data);
                p.then(() => { inflight--; }, (e) => { inflight--; console.error(e.message); });
                sent++;
                if (sent === Math.round(o.rate * o.warmup)) lat = []; // drop the warm-up
            }
            await sleep(1);
        }
        await waitFor(() => inflight === 0, 'publishes acknowledged', 30000);
        const expect = total;
        await waitFor(() => subs.every((s) => s.events >= expect), 'probes to receive everything', 60000)
            .catch((e) => console.log(e.message));
        const elapsed = (now() - start) / 1000;
        lat.sort((a, b) => a - b);
        const q = (f) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))].toFixed(2);
        const got = subs.reduce((a, s) => a + s.events, 0);
        console.log(`samples ${lat.length}; p50 ${q(0.5)} ms  p90 ${q(0.9)} ms  p99 ${q(0.99)} ms  max ${q(1)} ms`);
        console.log(`delivered to probes ${got}/${expect * probes}; publish rate achieved ${(total / elapsed).toFixed(0)}/s`);
        const bytes = subs.reduce((a, s) => a + s.bytes, 0) + await sinkProc.stop();
        console.log(`bytes to all subscribers ${(bytes / 1e6).toFixed(1)} MB`);
        for (const s of subs) s.sock.destroy();
    } finally {
        pub.close();
        stopping = true;
        nf.kill('SIGTERM');
        await new Promise((r) => nf.on('exit', r));
        await broker.stop();
    }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
