// Server-Sent Events (SPEC §8): GET /sse on the notifier, read with fetch,
// raw sockets and the `eventsource` package; and streaming through
// herald-gateway ("the gateway streams such responses, it does not buffer
// them"): a real gateway in front of small node upstreams that write their
// bodies piece by piece. Each streaming test makes the upstream wait for the
// client before writing the rest, so a gateway that buffered the response
// would never deliver anything: the tests assert on what arrives, never on
// timing.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe } from 'node:test';
import { chromium } from 'playwright-core';
import {
    freePort, metrics, metricSum, nowS, parseMetrics, publishOk, signJwt, spawnServer, startNotifier, test,
    tmpFile, waitFor, withDeadline, DEADLINE_MS, gatewayUp,
} from './lib/harness.mjs';

import { HAVE_REDIS, startRedis } from './lib/servers.mjs';

// The `eventsource` package: 4.x needs Node >= 20 and Debian 12's nodejs is
// 18, so package.json holds both (4.x under the alias `eventsource4`) and
// the test runs the newest one the running node supports; its name says which.
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const ES_PKG = NODE_MAJOR >= 20 ? 'eventsource4' : 'eventsource';
const { EventSource } = await import(ES_PKG);
const ES_VERSION = JSON.parse(fs.readFileSync(
    new URL(`./node_modules/${ES_PKG}/package.json`, import.meta.url), 'utf8')).version;

const SECRET = 'sse-e2e-secret';
const CHROMIUM = process.env.HERALD_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'];
const WAIT = DEADLINE_MS * 3; // reconnects wait for the retry delay and health checks

/**
 * Starts herald-gateway with one upstream and a stripped /up/ route; resolves
 * once /readyz says every worker listens. Each worker has its own upstream
 * pool and clients are steered to a worker by address only once all of them
 * listen: before, a first connection can meet another worker than the next.
 */
async function startGateway(upPort) {
    const listen = await freePort();
    const admin = await freePort();
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        upstreams: { up: { servers: [`127.0.0.1:${upPort}`] } },
        routes: [{ path: '/up/', upstream: 'up', strip_prefix: true }],
    };
    const srv = spawnServer('herald-gateway', ['--config', tmpFile('gateway.yaml', JSON.stringify(cfg))], {}, listen);
    await waitFor(async () => {
        if (srv.exitInfo) throw new Error(`gateway exited: ${srv.stderr()}`);
        const r = await fetch(`http://127.0.0.1:${admin}/readyz`, { signal: AbortSignal.timeout(1000) });
        return r.status === 200;
    }, 'the gateway admin /readyz', 20000);
    srv.url = (p) => `http://127.0.0.1:${listen}/up${p}`;
    return srv;
}

/** A node http server on a free port; handler(req, res). */
function upstream(handler) {
    return new Promise((resolve) => {
        const srv = http.createServer(handler);
        srv.listen(0, '127.0.0.1', () => resolve({ srv, port: srv.address().port }));
    });
}

/** A promise with its resolve function outside. */
function signal() {
    let fire;
    const p = new Promise((r) => { fire = r; });
    return { p, fire };
}

/** Reads a fetch body until pred(text so far) holds; returns the text. */
async function readUntil(reader, pred, what, sofar = '') {
    const dec = new TextDecoder();
    while (!pred(sofar)) {
        const { value, done } = await withDeadline(reader.read(), DEADLINE_MS, what);
        if (done) throw new Error(`body ended before ${what}: ${JSON.stringify(sofar)}`);
        sofar += dec.decode(value, { stream: true });
    }
    return sofar;
}

describe('gateway: streamed HTTP responses', () => {
    test('an event stream reaches the client piece by piece (chunked upstream)', async () => {
        const seen = signal();
        const up = await upstream((req, res) => {
            res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
            res.write('id: 1\nevent: orders\ndata: {"n":1}\n\n');
            seen.p.then(() => res.end('id: 2\nevent: orders\ndata: {"n":2}\n\n'));
        });
        try {
            const gw = await startGateway(up.port);
            const r = await fetch(gw.url('/events'));
            assert.equal(r.status, 200);
            assert.equal(r.headers.get('content-type'), 'text/event-stream');
            assert.equal(r.headers.get('transfer-encoding'), 'chunked');
            const reader = r.body.getReader();
            const first = await readUntil(reader, (t) => t.includes('\n\n'), 'the first event');
            assert.equal(first, 'id: 1\nevent: orders\ndata: {"n":1}\n\n');
            seen.fire(); // only now does the upstream write the second event
            const all = await readUntil(reader, (t) => t.includes('"n":2'), 'the second event', first);
            assert.equal(all, first + 'id: 2\nevent: orders\ndata: {"n":2}\n\n');
            assert.equal((await reader.read()).done, true);
        } finally {
            up.srv.close();
        }
    });

    test('a Content-Length body streams too, and the connection is reused after it', async () => {
        const half = Buffer.alloc(1 << 20, 'a');
        const seen = signal();
        const ports = [];
        const up = await upstream((req, res) => {
            ports.push(req.socket.remotePort);
            if (req.url === '/small') {
                res.end('ok');
                return;
            }
            res.writeHead(200, { 'content-length': String(2 * half.length), 'content-type': 'text/plain' });
            res.write(half);
            seen.p.then(() => res.end(Buffer.alloc(half.length, 'b')));
        });
        // node closes a keep-alive connection idle for keepAliveTimeout (5 s):
        // a loaded machine can take longer than that to drain 2 MiB to the
        // client, and the gateway then rightly drops the closed connection
        // from its pool. 0: the upstream never gives up on it by itself.
        up.srv.keepAliveTimeout = 0;
        try {
            const gw = await startGateway(up.port);
            const r = await fetch(gw.url('/big'));
            assert.equal(r.headers.get('content-length'), String(2 * half.length));
            const reader = r.body.getReader();
            let got = 0;
            let bs = 0;
            for (;;) {
                const { value, done } = await withDeadline(reader.read(), DEADLINE_MS, 'body bytes');
                if (done) break;
                got += value.length;
                bs += value.filter((x) => x === 0x62).length;
                if (got >= 1) seen.fire(); // the first bytes came before the second half was written
            }
            assert.equal(got, 2 * half.length);
            assert.equal(bs, half.length);
            const small = await fetch(gw.url('/small'));
            assert.equal(await small.text(), 'ok');
            assert.equal(ports.length, 2);
            assert.equal(ports[0], ports[1], 'the upstream connection went back to the pool');
        } finally {
            up.srv.close();
        }
    });

    test('a close-delimited upstream body reaches the client whole, re-framed', async () => {
        const seen = signal();
        const srv = net.createServer((sock) => {
            sock.once('data', () => {
                sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nfirst;');
                seen.p.then(() => sock.end('last'));
            });
        });
        await new Promise((r) => srv.listen(0, '127.0.0.1', r));
        try {
            const gw = await startGateway(srv.address().port);
            const r = await fetch(gw.url('/x'));
            const reader = r.body.getReader();
            const first = await readUntil(reader, (t) => t.includes(';'), 'the first piece');
            seen.fire();
            const all = await readUntil(reader, (t) => t.endsWith('last'), 'the last piece', first);
            assert.equal(all, 'first;last');
            assert.equal((await reader.read()).done, true);
        } finally {
            srv.close();
        }
    });

    test('a slow client holds the upstream back instead of filling the gateway', async () => {
        const total = 48 << 20;
        const piece = crypto.randomBytes(1 << 16);
        const blocked = signal();
        const hash = crypto.createHash('sha256');
        const up = await upstream((req, res) => {
            res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
            let sent = 0;
            const more = () => {
                while (sent < total) {
                    hash.update(piece);
                    sent += piece.length;
                    if (!res.write(piece)) {
                        blocked.fire(); // the gateway stopped reading us
                        res.once('drain', more);
                        return;
                    }
                }
                res.end();
            };
            more();
        });
        try {
            const gw = await startGateway(up.port);
            // A raw client that reads nothing until the upstream is blocked.
            const sock = net.connect(Number(new URL(gw.url('/')).port), '127.0.0.1');
            sock.pause();
            await new Promise((r) => sock.once('connect', r));
            sock.write('GET /up/big HTTP/1.1\r\nHost: x\r\n\r\n');
            await withDeadline(blocked.p, DEADLINE_MS, 'backpressure on the upstream');
            const mine = crypto.createHash('sha256');
            let head = Buffer.alloc(0);
            let body = 0;
            const done = new Promise((resolve, reject) => {
                sock.on('data', (d) => {
                    if (head !== null) {
                        head = Buffer.concat([head, d]);
                        const end = head.indexOf('\r\n\r\n');
                        if (end < 0) return;
                        d = head.subarray(end + 4);
                        head = null;
                    }
                    mine.update(d);
                    body += d.length;
                    if (body >= total) resolve();
                });
                sock.on('error', reject);
                sock.on('close', () => (body >= total ? resolve() : reject(new Error(`closed after ${body} bytes`))));
            });
            sock.resume();
            await withDeadline(done, 4 * DEADLINE_MS, 'the whole body');
            sock.destroy();
            assert.equal(body, total);
            assert.equal(mine.digest('hex'), hash.digest('hex'));
        } finally {
            up.srv.close();
        }
    });
});

/* ---- GET /sse on the notifier (and through the gateway) ---- */

/** Opens GET path on base with headers; returns {status, headers, reader, text()} */
async function openSse(base, p, headers = {}) {
    const ac = new AbortController();
    const r = await fetch(`${base}${p}`, { headers, signal: ac.signal });
    return { r, reader: r.body ? r.body.getReader() : null, abort: () => ac.abort() };
}

/** Reads SSE blocks until n events arrived; returns [{id, event, data}]. */
async function readEvents(reader, n, state = { buf: '' }) {
    const dec = new TextDecoder();
    const out = [];
    while (out.length < n) {
        let end;
        while ((end = state.buf.indexOf('\n\n')) < 0) {
            const { value, done } = await withDeadline(reader.read(), DEADLINE_MS, `event ${out.length + 1} of ${n}`);
            if (done) throw new Error(`stream ended after ${out.length} events`);
            state.buf += dec.decode(value, { stream: true });
        }
        const block = state.buf.slice(0, end);
        state.buf = state.buf.slice(end + 2);
        const ev = {};
        for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const i = line.indexOf(': ');
            const k = line.slice(0, i), v = line.slice(i + 2);
            if (k === 'data') ev.data = ev.data === undefined ? v : `${ev.data}\n${v}`;
            else ev[k] = v;
        }
        if (ev.data !== undefined) out.push({ ...ev, data: JSON.parse(ev.data) });
    }
    return out;
}

describe('SSE on the notifier', () => {
    test('events as id/event/data, Last-Event-ID wins over since, CORS', async () => {
        const nf = await startNotifier(['--jwt-secret', SECRET], { direct: true });
        const first = await publishOk(nf, { channel: 'orders', data: { n: 1 } });
        const second = await publishOk(nf, { channel: 'orders', data: { n: 2 } });
        // ?since= the first id, but the header says the second: only the third and later come.
        const s = await openSse(nf.base, `/sse?channels=orders&since=${first}`,
            { 'Last-Event-ID': second, Origin: 'http://app.example' });
        assert.equal(s.r.status, 200);
        assert.match(s.r.headers.get('content-type'), /^text\/event-stream/);
        assert.equal(s.r.headers.get('access-control-allow-origin'), 'http://app.example');
        const third = await publishOk(nf, { channel: 'orders', data: 'a\nb' });
        const [e] = await readEvents(s.reader, 1);
        assert.deepEqual(e, { id: third, event: 'orders', data: 'a\nb' });
        s.abort();
        // Without the header, since= applies.
        const t = await openSse(nf.base, `/sse?channels=orders&since=${first}`);
        const got = await readEvents(t.reader, 2);
        assert.deepEqual(got.map((x) => x.id), [second, third]);
        t.abort();
    });

    test('protected channels: 401 without a token, 403 for another user, 200 for the owner; 400 without channels', async () => {
        const nf = await startNotifier(['--jwt-secret', SECRET], { direct: true });
        const tok = (sub) => signJwt({ sub, exp: nowS() + 3600 }, { key: SECRET });
        assert.equal((await fetch(`${nf.base}/sse?channels=user:7`)).status, 401);
        assert.equal((await fetch(`${nf.base}/sse?channels=user:7&token=${tok('8')}`)).status, 403);
        assert.equal((await fetch(`${nf.base}/sse?channels=private-x`)).status, 401);
        assert.equal((await fetch(`${nf.base}/sse`)).status, 400);
        assert.equal((await fetch(`${nf.base}/sse?channels=user:7&token=bad`)).status, 401);
        const ok = await openSse(nf.base, '/sse?channels=user:7', { Authorization: `Bearer ${tok('7')}` });
        assert.equal(ok.r.status, 200);
        const id = await publishOk(nf, { channel: 'user:7', data: 1 });
        assert.equal((await readEvents(ok.reader, 1))[0].id, id);
        ok.abort();
    });

    test('a reader that does not read is closed at the send-queue bound and counted', async () => {
        const nf = await startNotifier(['--send-queue-limit', '65536'], { direct: true });
        const sock = net.connect(nf.port, '127.0.0.1');
        await new Promise((r) => sock.once('connect', r));
        sock.pause();
        sock.write('GET /sse?channels=flood HTTP/1.1\r\nHost: x\r\n\r\n');
        const closed = new Promise((r) => sock.once('close', r));
        const big = 'x'.repeat(8192);
        await waitFor(async () => {
            await publishOk(nf, Array.from({ length: 20 }, () => ({ channel: 'flood', data: big })));
            const m = await metrics(nf);
            return metricSum(m, /herald_notifier_slow_reader_closes_total/) >= 1;
        }, 'a slow-reader close');
        sock.resume();
        await withDeadline(closed, DEADLINE_MS, 'the stream to end');
    });
});

/* ---- GET /sse through herald-gateway, in both upstream modes ---- */

/**
 * A notifier (--link-listen, trusting the gateway) and a gateway whose /sse
 * route is `mode`: 'link' (a herald-link upstream: STREAM sessions) or
 * 'proxy' (plain HTTP proxying). The route verifies tokens as the shipped
 * config does (auth: optional, strip_token).
 */
async function sseBehindGateway(mode, nfArgs = [], limits = {}) {
    const linkPort = await freePort();
    const nf = await startNotifier(['--link-listen', `127.0.0.1:${linkPort}`, '--trusted-proxy', '127.0.0.1/32',
        '--jwt-secret', SECRET, ...nfArgs], { direct: true });
    const [port, admin] = [await freePort(), await freePort()];
    const cfg = {
        listen: `127.0.0.1:${port}`,
        admin_listen: `127.0.0.1:${admin}`,
        auth: { jwt: { algorithms: ['HS256'], secret: SECRET } },
        limits: { drain_timeout_s: 5, ...limits },
        upstreams: {
            nf: mode === 'link'
                ? { servers: [`127.0.0.1:${linkPort}`], protocol: 'herald-link' }
                : { servers: [`127.0.0.1:${nf.port}`] },
        },
        routes: [{ path: '/sse', upstream: 'nf', auth: 'optional', strip_token: true }],
    };
    const gw = spawnServer('herald-gateway', ['--config', tmpFile(`gw-sse-${mode}.yaml`, JSON.stringify(cfg))], {}, port);
    gw.admin = `http://127.0.0.1:${admin}`;
    await gatewayUp(gw);
    gw.base = `http://127.0.0.1:${port}`;
    return { nf, gw };
}

/** The gateway's herald_gateway_sse_open (its admin /metrics). */
async function sseOpen(gw) {
    const r = await fetch(`${gw.admin}/metrics`);
    assert.equal(r.status, 200);
    return metricSum(parseMetrics(await r.text()), /^herald_gateway_sse_open$/);
}

for (const mode of ['link', 'proxy']) {
    describe(`SSE through the gateway (${mode} upstream)`, () => {
        test(`[${mode}] herald_gateway_sse_open: 3 EventSource streams read 3, closed 0; a lost notifier ends its streams`, async () => {
            const { nf, gw } = await sseBehindGateway(mode);
            assert.equal(await sseOpen(gw), 0);
            const refused = await fetch(`${gw.base}/sse`); // 400: an answer, not a stream
            assert.equal(refused.status, 400);
            await refused.text();
            const sources = [];
            try {
                for (let i = 0; i < 3; i++) {
                    const es = new EventSource(`${gw.base}/sse?channels=g${i}`);
                    sources.push(es);
                    await withDeadline(new Promise((resolve, reject) => {
                        es.onopen = resolve;
                        es.onerror = (e) => reject(new Error(`stream ${i}: ${e.message ?? 'error'}`));
                    }), DEADLINE_MS, `stream ${i} open`);
                }
                // Counted before the head leaves the gateway: 3 as soon as all are open.
                assert.equal(await sseOpen(gw), 3);
            } finally {
                for (const es of sources) es.close();
            }
            await waitFor(async () => (await sseOpen(gw)) === 0, 'the gauge back at 0 once the clients left');
            // The upstream lost under a stream: the stream ends, the gauge follows.
            const s = await openSse(gw.base, '/sse?channels=g0');
            assert.equal(s.r.status, 200);
            assert.equal(await sseOpen(gw), 1);
            const end = readToEnd(s.reader, 'the stream to end with its notifier').catch(() => 'cut');
            nf.proc.kill('SIGKILL');
            const hold = setInterval(() => {}, 1000); // the harness unrefs its children
            await nf.exited.finally(() => clearInterval(hold));
            nf.exitInfo = { ...nf.exitInfo, signal: 'SIGKILL (by the test)' };
            await end;
            await waitFor(async () => (await sseOpen(gw)) === 0, 'the gauge at 0 once the notifier was lost');
        });

        test(`[${mode}] events, token identity, CORS, Last-Event-ID resume`, async () => {
            const { nf, gw } = await sseBehindGateway(mode);
            const tok = signJwt({ sub: '7', exp: nowS() + 3600 }, { key: SECRET });
            const a = await openSse(gw.base, `/sse?channels=user:7,news&token=${tok}`, { Origin: 'http://app.example' });
            assert.equal(a.r.status, 200);
            assert.match(a.r.headers.get('content-type'), /^text\/event-stream/);
            assert.equal(a.r.headers.get('access-control-allow-origin'), 'http://app.example');
            assert.equal(a.r.headers.get('cache-control'), 'no-cache');
            assert.ok(a.r.headers.get('x-request-id'), 'the gateway names the request');
            const b = await openSse(gw.base, '/sse?channels=news');
            const state = { buf: '' };
            const ids = [];
            ids.push(await publishOk(nf, { channel: 'user:7', data: { n: 1 } }));
            ids.push(await publishOk(nf, { channel: 'news', data: 'a\nb' }));
            ids.push(await publishOk(nf, { channel: 'news', data: { n: 3 } }));
            const got = await readEvents(a.reader, 3, state);
            assert.deepEqual(got.map((e) => e.id), ids);
            assert.deepEqual(got[0], { id: ids[0], event: 'user:7', data: { n: 1 } });
            assert.deepEqual(got[1].data, 'a\nb');
            assert.deepEqual((await readEvents(b.reader, 2)).map((e) => e.id), ids.slice(1));
            a.abort();
            b.abort();
            // A reconnecting EventSource repeats its URL with Last-Event-ID.
            const r = await openSse(gw.base, `/sse?channels=user:7,news&token=${tok}`, { 'Last-Event-ID': ids[0] });
            assert.deepEqual((await readEvents(r.reader, 2)).map((e) => e.id), ids.slice(1));
            const live = await publishOk(nf, { channel: 'user:7', data: 'live' });
            assert.equal((await readEvents(r.reader, 1))[0].id, live);
            r.abort();
            if (mode === 'link') {
                await waitFor(async () => metricSum(await metrics(nf), /^herald_notifier_link_sessions$/) === 0,
                    'every stream gone from the link once its client left');
            }
        });

        test(`[${mode}] a stream the notifier ends closes the client's connection (Connection: close)`, async () => {
            const { nf, gw } = await sseBehindGateway(mode);
            const sock = net.connect(Number(new URL(gw.base).port), '127.0.0.1');
            await new Promise((r) => sock.once('connect', r));
            let text = '';
            const head = new Promise((r) => sock.on('data', (d) => {
                text += d.toString('latin1');
                if (text.includes('\r\n\r\n')) r(text.slice(0, text.indexOf('\r\n\r\n')));
            }));
            const closed = new Promise((r) => sock.once('close', r));
            sock.write('GET /sse?channels=a HTTP/1.1\r\nHost: x\r\n\r\n');
            const h = await withDeadline(head, DEADLINE_MS, 'the head');
            assert.match(h, /^HTTP\/1\.1 200 /);
            assert.match(h, /\r\nconnection: close\r\n/i, 'no request follows an event stream');
            const id = await publishOk(nf, { channel: 'a', data: 1 });
            await waitFor(() => text.includes(`id: ${id}\n`), 'the event');
            assert.equal((await nf.stop()).code, 0, nf.stderr()); // ends its streams
            await withDeadline(closed, DEADLINE_MS, 'the client connection to close');
            if (mode === 'proxy') assert.ok(text.endsWith('\r\n0\r\n\r\n'), 'the chunked body ended whole');
            sock.destroy();
        });

        test(`[${mode}] refusals reach the client whole: 400, 401, 403`, async () => {
            const { gw } = await sseBehindGateway(mode);
            const other = signJwt({ sub: '8', exp: nowS() + 3600 }, { key: SECRET });
            const r400 = await fetch(`${gw.base}/sse`);
            assert.equal(r400.status, 400);
            assert.match(await r400.text(), /channels/);
            const r401 = await fetch(`${gw.base}/sse?channels=user:7`);
            assert.equal(r401.status, 401);
            assert.match(await r401.text(), /token/);
            assert.equal((await fetch(`${gw.base}/sse?channels=user:7&token=${other}`)).status, 403);
            // A bad token is the gateway's own refusal, before any upstream.
            assert.equal((await fetch(`${gw.base}/sse?channels=news&token=bad`)).status, 401);
            const ok = await openSse(gw.base, '/sse?channels=news');
            assert.equal(ok.r.status, 200);
            ok.abort();
        });

        test(`[${mode}] a token that expires ends the stream, after telling it`, async () => {
            const { nf, gw } = await sseBehindGateway(mode);
            const token = signJwt({ sub: '5', exp: nowS() + 4 }, { key: SECRET });
            const s = await openSse(gw.base, `/sse?channels=user:5&token=${token}`);
            assert.equal(s.r.status, 200);
            const id = await publishOk(nf, { channel: 'user:5', data: 'before' });
            const all = await readToEnd(s.reader, 'the stream to end at expiry', 3 * DEADLINE_MS);
            assert.ok(all.includes(`id: ${id}\n`), all);
            assert.match(all, /"type":"expiring"/);
        });

        test(`[${mode}] a reader that does not read is closed; another keeps every event`, async () => {
            const { nf, gw } = await sseBehindGateway(mode, ['--send-queue-limit', '1048576'],
                { send_queue_bytes: 262144 });
            const ok = await openSse(gw.base, '/sse?channels=flood');
            const state = { buf: '' };
            const sock = net.connect(Number(new URL(gw.base).port), '127.0.0.1');
            await new Promise((r) => sock.once('connect', r));
            sock.pause();
            // The end of the slow stream closes the client's connection in
            // both modes (link: close-delimited; proxy: the last chunk of an
            // answer that said Connection: close).
            const closed = new Promise((r) => sock.once('close', r));
            sock.write('GET /sse?channels=flood HTTP/1.1\r\nHost: x\r\n\r\n');
            await waitFor(async () => metricSum(await metrics(nf),
                mode === 'link' ? /^herald_notifier_link_sessions$/ : /^herald_notifier_connections$/) === 2,
            'both streams open');
            const big = 'x'.repeat(16384);
            let sent = 0;
            // link: the gateway closes the slow client at its send_queue_bytes and
            // ends its STREAM session; proxy: the notifier closes its own slow
            // connection to the gateway (the gateway stopped reading it).
            const gone = async () => {
                const m = await metrics(nf);
                return mode === 'link'
                    ? metricSum(m, /^herald_notifier_link_sessions$/) === 1
                    : metricSum(m, /herald_notifier_slow_reader_closes_total/) >= 1;
            };
            await waitFor(async () => {
                await publishOk(nf, Array.from({ length: 16 }, () => ({ channel: 'flood', data: big })));
                sent += 16;
                await readEvents(ok.reader, 16, state); // the reader keeps up
                return gone();
            }, 'the slow reader closed', 3 * DEADLINE_MS);
            sock.resume();
            await withDeadline(closed, 3 * DEADLINE_MS, 'the slow stream to end');
            await waitFor(async () => (await sseOpen(gw)) === 1, 'the ended stream off the gauge, the reader on it');
            sock.destroy();
            const last = await publishOk(nf, { channel: 'flood', data: 'after' });
            assert.equal((await readEvents(ok.reader, 1, state))[0].id, last, `after ${sent} floods`);
            ok.abort();
        });
    });
}

describe('SSE through the gateway on herald-link: limits and shutdown', () => {
    test('streams count against max_connections_per_ip like WebSockets; a closed one frees its place', async () => {
        const { gw } = await sseBehindGateway('link', [], { max_connections_per_ip: 1 });
        const a = await openSse(gw.base, '/sse?channels=a');
        assert.equal(a.r.status, 200);
        const b = await fetch(`${gw.base}/sse?channels=a`);
        assert.equal(b.status, 503);
        assert.match(await b.text(), /too many connections from this address/);
        a.abort();
        await waitFor(async () => {
            const c = await openSse(gw.base, '/sse?channels=a');
            if (c.r.status !== 200) return false;
            c.abort();
            return true;
        }, 'a new stream once the first closed');
    });

    test('the notifier\'s SIGTERM ends the streams (then 503); the gateway\'s SIGTERM too', async () => {
        const first = await sseBehindGateway('link');
        const s = await openSse(first.gw.base, '/sse?channels=a');
        const id = await publishOk(first.nf, { channel: 'a', data: 1 });
        assert.equal((await readEvents(s.reader, 1))[0].id, id);
        const end = readToEnd(s.reader, 'the stream to end on the notifier\'s SIGTERM');
        assert.equal((await first.nf.stop()).code, 0, first.nf.stderr());
        await end;
        await waitFor(async () => (await sseOpen(first.gw)) === 0, 'streams the notifier ended off the gauge');
        assert.equal((await fetch(`${first.gw.base}/sse?channels=a`)).status, 503, 'no notifier left');
        const second = await sseBehindGateway('link');
        const t = await openSse(second.gw.base, '/sse?channels=a');
        const id2 = await publishOk(second.nf, { channel: 'a', data: 2 });
        assert.equal((await readEvents(t.reader, 1))[0].id, id2);
        const end2 = readToEnd(t.reader, 'the stream to end on the gateway\'s SIGTERM');
        assert.equal((await second.gw.stop()).code, 0, second.gw.stderr());
        await end2;
        await waitFor(async () => metricSum(await metrics(second.nf), /^herald_notifier_link_sessions$/) === 0,
            'the session gone from the notifier');
    });
});

describe('SSE clients', () => {
    test(`the eventsource ${ES_VERSION} package (Node ${NODE_MAJOR}) reads /sse with a token header, on both loops`, async () => {
        const nf = await startNotifier(['--loops', '2', '--jwt-secret', SECRET], { direct: true });
        const token = signJwt({ sub: '9', exp: nowS() + 3600 }, { key: SECRET });
        const sources = [];
        try {
            const all = [];
            for (let i = 0; i < 2; i++) { // round robin: loop 0, then loop 1
                const es = new EventSource(`${nf.base}/sse?channels=user:9,news`, {
                    fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
                });
                sources.push(es);
                const got = [];
                all.push({ got, seen: new Promise((resolve, reject) => {
                    for (const ch of ['user:9', 'news']) {
                        es.addEventListener(ch, (e) => {
                            got.push({ id: e.lastEventId, channel: e.type, data: JSON.parse(e.data) });
                            if (got.length === 2) resolve();
                        });
                    }
                    es.onerror = (e) => { if (es.readyState === EventSource.CLOSED) reject(new Error(`closed: ${e.message}`)); };
                }) });
                await withDeadline(new Promise((r) => { es.onopen = r; }), DEADLINE_MS, `open ${i}`);
            }
            await onLoops(nf, { 0: 1, 1: 1 }, 'one EventSource on each loop');
            const a = await publishOk(nf, { channel: 'user:9', data: { to: 9 } });
            const b = await publishOk(nf, { channel: 'news', data: 'hi' });
            for (const [i, { got, seen }] of all.entries()) {
                await withDeadline(seen, DEADLINE_MS, `two events on EventSource ${i}`);
                assert.deepEqual(got, [{ id: a, channel: 'user:9', data: { to: 9 } },
                    { id: b, channel: 'news', data: 'hi' }]);
            }
        } finally {
            for (const es of sources) es.close();
        }
    });

    for (const mode of ['link', 'proxy']) test(`[${mode}] EventSource in chromium through the gateway survives notifier restarts (Last-Event-ID)`,
        { timeout: 180000, skip: HAVE_REDIS ? false : 'no redis-server' }, async () => {
            const redis = await startRedis();
            const service = await redis.client();
            let browser;
            try {
                // link: each notifier's --link-listen port, kept across its restart.
                const linkPorts = [await freePort(), await freePort()];
                const args = (i) => ['--broker', redis.url(), '--trusted-proxy', '127.0.0.1/32',
                    '--link-listen', `127.0.0.1:${linkPorts[i]}`];
                let nfs = [await startNotifier(args(0), { direct: true }), await startNotifier(args(1), { direct: true })];
                const page = tmpFile('index.html', '<!doctype html><title>sse</title>');
                const port = await freePort();
                const admin = await freePort();
                const cfg = {
                    listen: `127.0.0.1:${port}`,
                    admin_listen: `127.0.0.1:${admin}`,
                    upstreams: {
                        // link: a lost link ends its streams and a refused connect
                        // tries the other server (passive health).
                        nf: mode === 'link'
                            ? { servers: linkPorts.map((p) => `127.0.0.1:${p}`), protocol: 'herald-link' }
                            : {
                                servers: nfs.map((n) => `127.0.0.1:${n.port}`),
                                health_check: { path: '/healthz', interval_ms: 200, rise: 1, fall: 1 },
                            },
                    },
                    routes: [{ path: '/sse', upstream: 'nf' }, { path: '/', static: path.dirname(page) }],
                };
                const gw = spawnServer('herald-gateway', ['--config', tmpFile(`gateway-${mode}.yaml`, JSON.stringify(cfg))], {}, port);
                gw.admin = `http://127.0.0.1:${admin}`;
                await gatewayUp(gw);
                browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
                const tab = await (await browser.newContext()).newPage();
                await tab.goto(`http://127.0.0.1:${port}/${path.basename(page)}`);
                await tab.evaluate(() => {
                    window.got = [];
                    window.opened = false;
                    const es = new EventSource('/sse?channels=e2e');
                    es.addEventListener('e2e', (e) => window.got.push(`${JSON.parse(e.data).n}@${e.lastEventId}`));
                    es.addEventListener('open', () => { window.opened = true; });
                });
                const got = () => tab.evaluate(() => window.got.map((g) => Number(g.split('@')[0])));
                let n = 0;
                const publish = async () => { n += 1; await service.xadd('e2e', { n }); };
                // The stream's headers leave once the notifier has subscribed the
                // session: an event published before 'open' may reach nobody.
                await waitFor(() => tab.evaluate(() => window.opened), 'the EventSource open', WAIT);
                await publish();
                await waitFor(async () => (await got()).length === 1, 'the first event', WAIT);
                // Kill each notifier in turn (the other one serves), publish while the
                // stream is down, restart the killed one on its port: whichever held
                // the stream, the page reconnects at least once and resumes with
                // Last-Event-ID from a notifier that warmed its history from Redis.
                for (let round = 0; round < 2; round++) {
                    const victim = nfs[round];
                    await victim.stop('SIGKILL');
                    victim.exitInfo = { ...victim.exitInfo, signal: 'SIGKILL (by the test)' };
                    for (let k = 0; k < 3; k++) await publish();
                    await waitFor(async () => (await got()).length === n, `events up to ${n}`, WAIT);
                    nfs[round] = await startNotifier(args(round), { direct: true, port: victim.port });
                }
                await publish();
                await waitFor(async () => (await got()).length === n, `the last event ${n}`, WAIT);
                assert.deepEqual(await got(), Array.from({ length: n }, (_, i) => i + 1),
                    'every event once, in order');
                const ids = await tab.evaluate(() => window.got.map((g) => g.split('@')[1]));
                assert.equal(new Set(ids).size, ids.length);
            } finally {
                if (browser) await browser.close().catch(() => {});
                service.close();
                await redis.stop();
            }
        });
});

/* ---- SSE clients on several event loops (issue 18.2) ---- */

/** {loop: open direct clients} from /metrics (WebSocket and SSE alike). */
async function perLoop(nf) {
    const out = {};
    for (const line of (await (await fetch(`${nf.base}/metrics`)).text()).split('\n')) {
        const m = /^herald_notifier_loop_connections\{loop="(\d+)"\} (\d+)$/.exec(line);
        if (m) out[m[1]] = Number(m[2]);
    }
    return out;
}

/** Waits until each loop holds want[loop] direct clients. */
async function onLoops(nf, want, what) {
    await waitFor(async () => {
        const l = await perLoop(nf);
        return Object.entries(want).every(([k, v]) => l[k] === v);
    }, what);
}

/** Reads the rest of a stream until it ends; returns the text. */
async function readToEnd(reader, what, ms = DEADLINE_MS) {
    const dec = new TextDecoder();
    let text = '';
    for (;;) {
        const { value, done } = await withDeadline(reader.read(), ms, what);
        if (done) return text;
        text += dec.decode(value, { stream: true });
    }
}

describe('SSE clients on several loops', () => {
    // The primary hands GET /sse round robin over every loop, itself first:
    // with --loops 2, streams opened one after the other sit on loops 0, 1, 0, 1...
    test('streams spread over both loops; every event in order on each; Last-Event-ID resume on each', async () => {
        const nf = await startNotifier(['--loops', '2'], { direct: true });
        const streams = [];
        for (let i = 0; i < 6; i++) {
            const s = await openSse(nf.base, '/sse?channels=a,b');
            assert.equal(s.r.status, 200);
            streams.push(s);
        }
        await onLoops(nf, { 0: 3, 1: 3 }, 'three streams on each loop');
        assert.equal(metricSum(await metrics(nf), /^herald_notifier_connections$/), 6);
        const ids = [];
        for (let i = 0; i < 20; i++) ids.push(await publishOk(nf, { channel: i % 2 ? 'b' : 'a', data: { n: i } }));
        for (const s of streams) {
            const evs = await readEvents(s.reader, 20);
            assert.deepEqual(evs.map((e) => e.id), ids, 'one cursor, publish order');
            assert.deepEqual(evs.map((e) => e.data.n), [...Array(20).keys()]);
            s.abort();
        }
        await onLoops(nf, { 0: 0, 1: 0 }, 'every stream gone on both loops');
        // A reconnecting EventSource sends Last-Event-ID: each loop replays the same events.
        const resumed = [];
        for (let i = 0; i < 4; i++) resumed.push(await openSse(nf.base, '/sse?channels=a,b', { 'Last-Event-ID': ids[4] }));
        await onLoops(nf, { 0: 2, 1: 2 }, 'two resumed streams on each loop');
        const states = resumed.map(() => ({ buf: '' }));
        for (const [i, s] of resumed.entries()) {
            assert.deepEqual((await readEvents(s.reader, 15, states[i])).map((e) => e.id), ids.slice(5));
        }
        const live = await publishOk(nf, { channel: 'b', data: 'live' });
        for (const [i, s] of resumed.entries()) assert.equal((await readEvents(s.reader, 1, states[i]))[0].id, live);
        // SIGTERM ends the streams on both loops, and the notifier exits 0.
        const ends = resumed.map((s, i) => readToEnd(s.reader, `the end of stream ${i}`));
        const exit = await nf.stop();
        await Promise.all(ends);
        assert.equal(exit.code, 0, nf.stderr());
    });

    test('a stream on a shard that does not read is closed at the send-queue bound and counted', async () => {
        // A batch (16 x 16 KiB) fits the bound: the reader on loop 0 keeps up with each.
        const nf = await startNotifier(['--loops', '2', '--send-queue-limit', '1048576'], { direct: true });
        const ok = await openSse(nf.base, '/sse?channels=flood'); // loop 0 reads
        const sock = net.connect(nf.port, '127.0.0.1'); // loop 1 does not
        await new Promise((r) => sock.once('connect', r));
        sock.pause();
        const closed = new Promise((r) => sock.once('close', r));
        sock.write('GET /sse?channels=flood HTTP/1.1\r\nHost: x\r\n\r\n');
        await onLoops(nf, { 0: 1, 1: 1 }, 'one stream on each loop');
        const state = { buf: '' };
        const big = 'x'.repeat(16384);
        let sent = 0;
        await waitFor(async () => {
            await publishOk(nf, Array.from({ length: 16 }, () => ({ channel: 'flood', data: big })));
            sent += 16;
            await readEvents(ok.reader, 16, state); // the reader keeps up
            return metricSum(await metrics(nf), /herald_notifier_slow_reader_closes_total/) >= 1;
        }, 'a slow-reader close', 3 * DEADLINE_MS);
        await onLoops(nf, { 0: 1, 1: 0 }, 'the slow stream gone from loop 1, the reader still on loop 0');
        sock.resume();
        await withDeadline(closed, DEADLINE_MS, 'the slow stream to end');
        assert.equal(metricSum(await metrics(nf), /herald_notifier_slow_reader_closes_total/), 1);
        const last = await publishOk(nf, { channel: 'flood', data: 'after' });
        assert.equal((await readEvents(ok.reader, 1, state))[0].id, last, `after ${sent} floods`);
        ok.abort();
    });

    test('a token that expires closes its stream on either loop', async () => {
        const nf = await startNotifier(['--loops', '2', '--jwt-secret', SECRET], { direct: true });
        const exp = nowS() + 5;
        const token = signJwt({ sub: '5', exp }, { key: SECRET });
        const streams = [];
        for (let i = 0; i < 2; i++) {
            const s = await openSse(nf.base, '/sse?channels=user:5', { Authorization: `Bearer ${token}` });
            assert.equal(s.r.status, 200);
            streams.push(s);
        }
        await onLoops(nf, { 0: 1, 1: 1 }, 'one stream on each loop');
        const id = await publishOk(nf, { channel: 'user:5', data: 'before' });
        for (const [i, s] of streams.entries()) {
            const all = await readToEnd(s.reader, `stream ${i} to end at expiry`, 3 * DEADLINE_MS);
            assert.ok(all.includes(`id: ${id}\n`), `stream ${i} had the event: ${all}`);
            assert.match(all, /"type":"expiring"/, `stream ${i} was told first`);
        }
        await onLoops(nf, { 0: 0, 1: 0 }, 'no stream left');
    });
});
