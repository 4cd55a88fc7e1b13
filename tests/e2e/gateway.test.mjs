// herald-gateway end to end (SPEC §4): a real gateway in front of real
// notifiers and echo servers, driven by the `ws` client and raw sockets.
// Each test writes its own configuration (JSON, which is YAML) with free
// ports, starts the processes it needs and stops them afterwards.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { describe } from 'node:test';
import {
    BIN, connect, connectWelcome, DEADLINE_MS, expectRefused, freePort, freePorts, gatewayUp, httpGet, metrics,
    metricSum, nowS, parseMetrics, publishOk, rawConnect, runProgram, signJwt, sleep, spawnServer,
    startEcho, startNotifier, test, tmpFile, waitFor, WebSocket,
} from './lib/harness.mjs';

/** Awaits p while keeping the event loop alive (the harness unrefs servers). */
async function held(p) {
    const t = setInterval(() => {}, 1000);
    try { return await p; } finally { clearInterval(t); }
}


const SECRET = 'gw-e2e-secret';
const WEB = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../web');
let n = 0;
const uniq = (p = 'gw') => `${p}${process.pid}_${++n}`;

function token(sub, extra = {}) {
    return signJwt({ sub, exp: nowS() + 3600, ...extra }, { key: SECRET });
}

/** Builds a config object: one upstream "up" with servers, route /ws (+ extras). */
function baseConfig(listen, admin, servers, over = {}) {
    return {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        auth: { jwt: { algorithms: ['HS256'], secret: SECRET } },
        limits: { ping_interval_s: 5, idle_timeout_s: 30, drain_timeout_s: 5, ...(over.limits || {}) },
        upstreams: {
            up: { servers: servers.map((s) => `127.0.0.1:${s.port ?? s}`), ...(over.upstream || {}) },
        },
        routes: over.routes || [
            { path: '/ws', upstream: 'up', websocket: true, auth: 'optional', strip_token: true },
            { path: '/api/', upstream: 'up', strip_prefix: true },
            { path: '/', static: WEB },
        ],
        ...(over.top || {}),
    };
}

/**
 * Starts herald-gateway with config object cfg (or a builder (listen, admin)
 * => cfg); resolves once every worker listens (gatewayUp). Returns the Server with
 * .port = listen port, .admin = admin base URL, .cfgPath.
 */
async function startGateway(build, args = []) {
    const [listen, admin] = await freePorts(2);
    const cfg = typeof build === 'function' ? build(listen, admin) : build;
    const cfgPath = tmpFile('gateway.yaml', JSON.stringify(cfg, null, 1));
    const srv = spawnServer('herald-gateway', ['--config', cfgPath, ...args], {}, listen);
    srv.admin = `http://127.0.0.1:${admin}`;
    srv.cfgPath = cfgPath;
    await gatewayUp(srv).catch((e) => {
        throw new Error(`${e.message}\n${srv.stderr()}`);
    });
    return srv;
}

const notifier = () => startNotifier(['--trusted-proxy', '127.0.0.1/32', '--jwt-secret', SECRET]);

async function gwMetrics(gw) {
    const r = await fetch(`${gw.admin}/metrics`);
    assert.equal(r.status, 200);
    return parseMetrics(await r.text());
}

function sample(samples, name, labelPart = '') {
    return samples.filter((s) => s.name === name && s.labels.includes(labelPart))
        .reduce((a, s) => a + s.value, 0);
}

async function serverCounts(gw, servers) {
    const m = await gwMetrics(gw);
    return servers.map((s) => sample(m, 'herald_gateway_upstream_connections', `server="127.0.0.1:${s.port}"`));
}

describe('gateway: configuration and flags', () => {
    test('--check accepts the shipped config and names file:line for errors (exit 2)', async () => {
        const shipped = path.resolve(WEB, '../config/gateway.yaml');
        const ok = await runProgram('herald-gateway', ['--check', '--config', shipped]);
        assert.equal(ok.code, 0, ok.stderr);
        const bad = tmpFile('bad.yaml', 'upstreams: {n: {servers: [127.0.0.1:1]}}\nroutes:\n  - {path: /x, upstream: nope}\n');
        const r = await runProgram('herald-gateway', ['--check', '--config', bad]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /bad\.yaml:3: routes\[0\]\.upstream: no upstream named 'nope'/);
        const env = await runProgram('herald-gateway', ['--check'], { HERALD_CONFIG: bad });
        assert.equal(env.code, 2, 'HERALD_CONFIG is read');
        const unknown = await runProgram('herald-gateway', ['--bogus']);
        assert.equal(unknown.code, 2);
        const none = await runProgram('herald-gateway', []);
        assert.equal(none.code, 2);
        assert.match(none.stderr, /--config/);
        const help = await runProgram('herald-gateway', ['--help']);
        assert.equal(help.code, 0);
        assert.match(help.stdout, /--workers/);
    });
});

describe('gateway: WebSocket proxying', () => {
    test('client protocol through the gateway: welcome, subscribe, events', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const ch = uniq();
        const [c, w] = await connectWelcome(gw.wsUrl('/ws', { channels: ch }));
        assert.equal(w.user, null);
        assert.equal((await c.nextOfType('subscribed')).channels[0], ch);
        const id = await publishOk(nf, { channel: ch, data: { hello: 1 } });
        const ev = await c.nextOfType('event');
        assert.deepEqual([ev.id, ev.data], [id, { hello: 1 }]);
        const reply = await c.request({ type: 'subscribe', channels: [`${ch}b`], ref: 'r1' });
        assert.equal(reply.ref, 'r1');
        await c.close();
    });

    test('messages keep boundaries and opcodes both ways; deflate to the client only', async () => {
        const echo = await startEcho(['--deflate', 'off']);
        const gw = await startGateway((l, a) => baseConfig(l, a, [echo], {
            routes: [{ path: '/', upstream: 'up', websocket: true }],
        }));
        for (const deflate of [false, true]) {
            const c = await connect(gw.wsUrl('/echo'), { rawText: true, perMessageDeflate: deflate });
            assert.equal(c.ws.extensions.includes('permessage-deflate'), deflate);
            const big = 'z'.repeat(30000);
            c.send('hello');
            c.send(Buffer.from([0, 1, 2, 255]));
            c.send(big);
            c.send('');
            const a = await c.next();
            assert.deepEqual([a.binary, a.text], [false, 'hello']);
            const b = await c.next();
            assert.equal(b.binary, true);
            assert.deepEqual([...b.data], [0, 1, 2, 255]);
            assert.equal((await c.next()).text, big);
            assert.equal((await c.next()).text, '');
            await c.close();
        }
    });

    test('identity forwarded as X-Herald-User, client X-Herald-* headers stripped', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const [c1, w1] = await connectWelcome(gw.wsUrl('/ws'), {
            headers: { 'X-Herald-User': 'mallory', 'X-Herald-Channels': 'admin:*' },
        });
        assert.equal(w1.user, null, 'a client cannot claim an identity through the gateway');
        const r = await c1.request({ type: 'subscribe', channels: ['admin:secrets'], ref: 'x' });
        assert.equal(r.type, 'error');
        assert.equal(r.code, 'forbidden');
        const tok = token('alice', { channels: ['orders:*'] });
        const [c2, w2] = await connectWelcome(gw.wsUrl('/ws', { token: tok }));
        assert.equal(w2.user, 'alice');
        const ok = await c2.request({ type: 'subscribe', channels: ['orders:eu', 'user:alice'], ref: 'y' });
        assert.equal(ok.type, 'subscribed');
        const [c3, w3] = await connectWelcome(gw.wsUrl('/ws'), { headers: { Authorization: `Bearer ${tok}` } });
        assert.equal(w3.user, 'alice');
        const [c4, w4] = await connectWelcome(gw.wsUrl('/ws'), { headers: { Cookie: `herald_token=${tok}` } });
        assert.equal(w4.user, 'alice');
        for (const c of [c1, c2, c3, c4]) await c.close();
    });

    test('401 for a missing token on a required route and for an invalid token anywhere', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf], {
            routes: [
                { path: '/ws', upstream: 'up', websocket: true, auth: 'optional' },
                { path: '/private/', upstream: 'up', websocket: true, auth: 'required', strip_prefix: true },
            ],
        }));
        assert.equal((await expectRefused(gw.wsUrl('/private/ws'))).statusCode, 401);
        const expired = signJwt({ sub: 'a', exp: nowS() - 3600 }, { key: SECRET });
        assert.equal((await expectRefused(gw.wsUrl('/ws', { token: expired }))).statusCode, 401);
        const forged = signJwt({ sub: 'a', exp: nowS() + 3600 }, { key: 'wrong' });
        assert.equal((await expectRefused(gw.wsUrl('/private/ws', { token: forged }))).statusCode, 401);
        const none = signJwt({ sub: 'a', exp: nowS() + 3600 }, { alg: 'none' });
        assert.equal((await expectRefused(gw.wsUrl('/ws', { token: none }))).statusCode, 401);
        const [c, w] = await connectWelcome(gw.wsUrl('/private/ws', { token: token('bob') }));
        assert.equal(w.user, 'bob');
        await c.close();
        const m = await gwMetrics(gw);
        assert.ok(sample(m, 'herald_gateway_handshakes_total', 'status="401"') >= 4);
    });

    test('403 for an Origin outside allowed_origins', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf], {
            top: { allowed_origins: ['https://app.example'] },
        }));
        const r = await expectRefused(gw.wsUrl('/ws'), { origin: 'https://evil.example' });
        assert.equal(r.statusCode, 403);
        const [c] = await connectWelcome(gw.wsUrl('/ws'), { origin: 'https://app.example' });
        await c.close();
    });

    test('429 past handshakes_per_ip_per_s, 503 past max_connections and max_connections_per_ip', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf], {
            limits: { handshakes_per_ip_per_s: 3 },
        }));
        const statuses = [];
        for (let i = 0; i < 8; i++) {
            try {
                const c = await connect(gw.wsUrl('/ws'));
                statuses.push(101);
                c.terminate();
            } catch (e) {
                statuses.push(e.statusCode);
            }
        }
        assert.ok(statuses.includes(429), `some handshakes got 429: ${statuses}`);
        assert.ok(statuses.includes(101), `the first handshakes passed: ${statuses}`);

        const gw2 = await startGateway((l, a) => baseConfig(l, a, [nf], {
            limits: { max_connections: 2 },
        }));
        const a1 = await connect(gw2.wsUrl('/ws'));
        const a2 = await connect(gw2.wsUrl('/ws'));
        assert.equal((await expectRefused(gw2.wsUrl('/ws'))).statusCode, 503);
        await a1.close();
        await waitFor(async () => {
            try { (await connect(gw2.wsUrl('/ws'))).terminate(); return true; } catch { return false; }
        }, 'a free slot after a close');
        await a2.close();

        const gw3 = await startGateway((l, a) => baseConfig(l, a, [nf], {
            limits: { max_connections_per_ip: 1 },
        }));
        const b1 = await connect(gw3.wsUrl('/ws'));
        assert.equal((await expectRefused(gw3.wsUrl('/ws'))).statusCode, 503);
        await b1.close();
    });

    test('431 for a head over max_header_bytes', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf], {
            limits: { max_header_bytes: 2048 },
        }));
        const raw = await rawConnect(gw.port);
        const h = await raw.handshake('/ws', { 'X-Big': 'b'.repeat(4000) });
        assert.equal(h.status, 431);
        raw.destroy();
    });

    test('a head not finished within handshake_timeout_s is dropped (slowloris)', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf], {
            limits: { handshake_timeout_s: 1 },
        }));
        const raw = await rawConnect(gw.port);
        raw.write('GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        assert.ok(await raw.waitEnd(DEADLINE_MS), 'the gateway closed the connection');
        raw.destroy();
    });

    test('--workers 2 serve together; SIGTERM stops them all', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]), ['--workers', '2']);
        const clients = [];
        for (let i = 0; i < 6; i++) clients.push((await connectWelcome(gw.wsUrl('/ws')))[0]);
        gw.proc.kill('SIGTERM');
        for (const c of clients) assert.equal((await c.waitClose()).code, 1001);
        assert.equal((await held(gw.exited)).code, 0, gw.stderr());
    });

    test('503 when no upstream is healthy; a dead server is skipped (retry on connect failure)', async () => {
        const dead = await freePort();
        const gw = await startGateway((l, a) => baseConfig(l, a, [dead]));
        assert.equal((await expectRefused(gw.wsUrl('/ws'))).statusCode, 503);
        const nf = await notifier();
        const gw2 = await startGateway((l, a) => baseConfig(l, a, [dead, nf]));
        for (let i = 0; i < 4; i++) {
            const [c] = await connectWelcome(gw2.wsUrl('/ws'));
            await c.close();
        }
        const m = await gwMetrics(gw2);
        assert.equal(sample(m, 'herald_gateway_upstream_up', `server="127.0.0.1:${dead}"`), 0);
    });

    test('1009 for a message over max_message_bytes, 1008 past messages_per_s', async () => {
        const echo = await startEcho();
        const gw = await startGateway((l, a) => baseConfig(l, a, [echo], {
            limits: { max_message_bytes: 1000, messages_per_s: 5 },
            routes: [{ path: '/', upstream: 'up', websocket: true }],
        }));
        const c = await connect(gw.wsUrl('/e'), { rawText: true });
        c.send('y'.repeat(999));
        assert.equal((await c.next()).text.length, 999);
        c.send('y'.repeat(1001));
        assert.equal((await c.waitClose()).code, 1009);

        const d = await connect(gw.wsUrl('/e'), { rawText: true });
        for (let i = 0; i < 20; i++) d.send(`m${i}`);
        assert.equal((await d.waitClose()).code, 1008);
    });

    test('upstream killed -> client closed with 1012', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const [c] = await connectWelcome(gw.wsUrl('/ws'));
        nf.proc.kill('SIGKILL');
        await held(nf.exited);
        nf.exitInfo = { ...nf.exitInfo, signal: 'SIGKILL (by the test)' };
        assert.equal((await c.waitClose()).code, 1012);
        // An upstream that shuts down cleanly (1001) is also lost to the client: 1012.
        const nf2 = await notifier();
        const gw2 = await startGateway((l, a) => baseConfig(l, a, [nf2]));
        const [c2] = await connectWelcome(gw2.wsUrl('/ws'));
        await nf2.stop('SIGTERM');
        assert.equal((await c2.waitClose()).code, 1012);
    });

    test('SIGTERM drains: clients get 1001 and the gateway exits 0', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const [c1] = await connectWelcome(gw.wsUrl('/ws'));
        const [c2] = await connectWelcome(gw.wsUrl('/ws'));
        gw.proc.kill('SIGTERM');
        assert.equal((await c1.waitClose()).code, 1001);
        assert.equal((await c2.waitClose()).code, 1001);
        const exit = await held(gw.exited);
        assert.equal(exit.code, 0, gw.stderr());
    });
});

describe('gateway: backpressure', () => {
    test('a client that never reads: the gateway stops reading upstream, the notifier closes 1013, relayed', async () => {
        const nf = await startNotifier(['--trusted-proxy', '127.0.0.1/32', '--send-queue-limit', '4194304']);
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const x = uniq();
        const normal = await connect(gw.wsUrl('/ws', { channels: x }));
        assert.equal((await normal.next()).type, 'welcome');
        const raw = await rawConnect(gw.port);
        await raw.upgrade(`/ws?channels=${x}`);
        raw.sock.pause();
        const payload = 'x'.repeat(64000);
        const slowBefore = metricSum(await metrics(nf), /slow/);
        let slow = slowBefore;
        let sent = 0;
        for (let step = 0; step < 64 && slow === slowBefore; step++) {
            const batch = [];
            for (let i = 0; i < 16; i++) batch.push({ channel: x, data: { step, i, payload } });
            await publishOk(nf, batch);
            sent += 16;
            const evs = await normal.events(16, 30000);
            assert.equal(evs.length, 16, 'a normal reader through the gateway keeps up');
            slow = metricSum(await metrics(nf), /slow/);
        }
        assert.ok(slow > slowBefore, `the notifier closed the gateway's paused upstream after ${sent} events`);
        raw.sock.resume();
        const closed = await raw.waitClose(30000);
        assert.equal(closed.code, 1013, 'the slow reader learns 1013 through the gateway');
        raw.destroy();
        await waitFor(async () => sample(await gwMetrics(gw), 'herald_gateway_ws_closes_total', 'code="1013"') >= 1,
            'the 1013 close counted');
        assert.equal(normal.closeInfo, null, 'the normal reader is still open');
    });
});

describe('gateway: balancing', () => {
    test('round_robin spreads connections over both notifiers', async () => {
        const a = await notifier();
        const b = await notifier();
        const gw = await startGateway((l, ad) => baseConfig(l, ad, [a, b]));
        const clients = [];
        for (let i = 0; i < 6; i++) clients.push((await connectWelcome(gw.wsUrl('/ws')))[0]);
        assert.deepEqual(await serverCounts(gw, [a, b]), [3, 3]);
        for (const c of clients) await c.close();
    });

    test('hash_user keeps a user on one notifier; users spread over both', async () => {
        const a = await notifier();
        const b = await notifier();
        const gw = await startGateway((l, ad) => baseConfig(l, ad, [a, b], {
            upstream: { balance: 'hash_user' },
        }));
        const clients = [];
        for (let i = 0; i < 3; i++) {
            clients.push((await connectWelcome(gw.wsUrl('/ws', { token: token('same-user') })))[0]);
        }
        const counts = await serverCounts(gw, [a, b]);
        assert.ok(counts.includes(3) && counts.includes(0), `one user, one server: ${counts}`);
        for (const c of clients) await c.close();
        await waitFor(async () => (await serverCounts(gw, [a, b])).every((x) => x === 0), 'closes');
        const many = [];
        for (let i = 0; i < 24; i++) {
            many.push((await connectWelcome(gw.wsUrl('/ws', { token: token(`user-${i}`) })))[0]);
        }
        const spread = await serverCounts(gw, [a, b]);
        assert.ok(spread[0] > 0 && spread[1] > 0, `users spread: ${spread}`);
        for (const c of many) await c.close();
    });
});

describe('gateway: health checks', () => {
    test('active checks take a dead server out and bring it back (rise/fall)', async () => {
        const a = await notifier();
        const b = await notifier();
        const gw = await startGateway((l, ad) => baseConfig(l, ad, [a, b], {
            upstream: { health_check: { path: '/readyz', interval_ms: 100, rise: 2, fall: 2 } },
        }));
        const up = async (srv) => sample(await gwMetrics(gw), 'herald_gateway_upstream_up', `server="127.0.0.1:${srv.port}"`);
        await waitFor(async () => (await up(a)) === 1 && (await up(b)) === 1, 'both up');
        const port = b.port;
        await b.stop('SIGTERM');
        await waitFor(async () => (await up(b)) === 0, 'b marked down without any client traffic');
        for (let i = 0; i < 4; i++) {
            const [c] = await connectWelcome(gw.wsUrl('/ws'));
            await c.close();
        }
        assert.equal(sample(await gwMetrics(gw), 'herald_gateway_upstream_connect_failures_total'), 0,
            'no client was sent to the dead server');
        const b2 = await startNotifier(['--trusted-proxy', '127.0.0.1/32', '--jwt-secret', SECRET], { port });
        await waitFor(async () => (await up(b2)) === 1, 'b back up');
        const ready = await fetch(`${gw.admin}/readyz`);
        assert.equal(ready.status, 200);
    });
});

describe('gateway: HTTP routes', () => {
    test('static files: content types, index.html, ETag 304, no traversal', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const idx = await httpGet(gw, '/');
        assert.equal(idx.status, 200);
        assert.match(idx.headers.get('content-type'), /^text\/html/);
        const js = await httpGet(gw, '/herald.js');
        assert.equal(js.status, 200);
        assert.match(js.headers.get('content-type'), /javascript/);
        assert.equal(js.text, fs.readFileSync(path.join(WEB, 'herald.js'), 'utf8'));
        const etag = js.headers.get('etag');
        assert.ok(etag);
        assert.equal((await httpGet(gw, '/herald.js', { 'If-None-Match': etag })).status, 304);
        assert.equal((await httpGet(gw, '/nope.txt')).status, 404);
        for (const p of ['/../Makefile', '/%2e%2e/Makefile', '/a/..%2f..%2fMakefile']) {
            const raw = await rawConnect(gw.port);
            raw.write(`GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`);
            const h = await raw.readHead();
            assert.equal(h.status, 404, `${p} stays inside the static root`);
            raw.destroy();
        }
    });

    test('POST /api/publish is proxied to the notifier (keep-alive, X-Forwarded-For)', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const ch = uniq();
        const [c] = await connectWelcome(gw.wsUrl('/ws', { channels: ch }));
        await c.nextOfType('subscribed');
        for (let i = 0; i < 3; i++) {
            const r = await fetch(`${gw.base}/api/publish`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ channel: ch, data: { i } }),
            });
            assert.equal(r.status, 200);
            assert.match(r.headers.get('content-type'), /json/);
            assert.ok((await r.json()).id);
            assert.deepEqual((await c.nextOfType('event')).data, { i });
        }
        const bad = await fetch(`${gw.base}/api/publish`, { method: 'POST', body: '{' });
        assert.equal(bad.status, 400, 'upstream errors are relayed');
        const missing = await fetch(`${gw.base}/api/nowhere`);
        assert.equal(missing.status, 404);
        await c.close();
        // The JSON access log (stdout, captured with stderr by the harness).
        const lines = await waitFor(() => {
            const l = gw.stderr().split('\n').filter((x) => x.startsWith('{')).map((x) => JSON.parse(x));
            return l.some((x) => x.kind === 'ws') ? l : null;
        }, 'access log lines');
        const post = lines.find((x) => x.kind === 'http' && x.path === '/api/publish' && x.status === 200);
        assert.ok(post, 'one line per HTTP request');
        assert.equal(post.method, 'POST');
        assert.equal(post.upstream, 'up');
        const ws = lines.find((x) => x.kind === 'ws');
        assert.equal(ws.status, 101);
        assert.equal(ws.close, 1000);
    });

    test('a request body over max_body_bytes gets 413', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf], { limits: { max_body_bytes: 1000 } }));
        const r = await fetch(`${gw.base}/api/publish`, { method: 'POST', body: 'x'.repeat(2000) });
        assert.equal(r.status, 413);
    });

    test('HTTP route with no healthy upstream answers 503', async () => {
        const dead = await freePort();
        const gw = await startGateway((l, a) => baseConfig(l, a, [dead]));
        const r = await fetch(`${gw.base}/api/publish`, { method: 'POST', body: '{}' });
        assert.equal(r.status, 503);
    });

    test('admin /metrics and /healthz', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const [c] = await connectWelcome(gw.wsUrl('/ws'));
        c.send({ type: 'subscribe', channels: ['m'] });
        await c.nextOfType('subscribed');
        const m = await gwMetrics(gw);
        assert.equal(sample(m, 'herald_gateway_ws_connections', 'route="/ws"'), 1);
        assert.ok(sample(m, 'herald_gateway_ws_messages_total', 'direction="upstream"') >= 1);
        assert.ok(sample(m, 'herald_gateway_handshake_duration_seconds_count') >= 1);
        assert.equal(sample(m, 'herald_gateway_upstream_up'), 1);
        await c.close();
        await waitFor(async () => sample(await gwMetrics(gw), 'herald_gateway_ws_closes_total', 'code="1000"') === 1,
            'the close counted');
    });
});

/** A node HTTP upstream answering every request with its method, url and headers as JSON. */
function headerEcho() {
    return new Promise((resolve) => {
        const seen = [];
        const srv = http.createServer((req, res) => {
            let body = '';
            req.on('data', (d) => { body += d; });
            req.on('end', () => {
                seen.push(req.socket.remotePort);
                const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
                if (req.url.startsWith('/chunked')) {
                    res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes' });
                    res.write(out.slice(0, 10));
                    res.end(out.slice(10));
                } else {
                    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes',
                        'keep-alive': 'timeout=5' });
                    res.end(out);
                }
            });
        });
        srv.listen(0, '127.0.0.1', () => resolve({ srv, port: srv.address().port, seen }));
    });
}

describe('gateway: HTTP proxy headers and TLS', () => {
    test('hop-by-hop and X-Herald-* headers removed, X-Forwarded-*, X-Request-Id, identity added', async () => {
        const up = await headerEcho();
        try {
            const gw = await startGateway((l, a) => baseConfig(l, a, [up], {
                routes: [{ path: '/api/', upstream: 'up', strip_prefix: true, auth: 'optional' }],
            }));
            const r = await new Promise((resolve, reject) => {
                const req = http.request({
                    host: '127.0.0.1', port: gw.port, path: '/api/x?a=1', method: 'POST', agent: false,
                    headers: {
                        'X-Herald-User': 'mallory', 'X-Forwarded-For': '9.9.9.9', 'X-Secret': 's',
                        Connection: 'keep-alive, X-Secret', 'Content-Length': 5,
                        Authorization: `Bearer ${token('carol', { channels: ['a:*'] })}`,
                    },
                }, (res) => {
                    let b = '';
                    res.on('data', (d) => { b += d; });
                    res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: b }));
                });
                req.on('error', reject);
                req.end('hello');
            });
            assert.equal(r.status, 200);
            assert.equal(r.headers['x-upstream'], 'yes');
            assert.equal(r.headers['keep-alive'], undefined, 'hop-by-hop response headers dropped');
            const j = JSON.parse(r.body);
            assert.equal(j.url, '/x?a=1');
            assert.equal(j.body, 'hello');
            assert.equal(j.headers['x-herald-user'], 'carol');
            assert.equal(j.headers['x-herald-channels'], 'a:*');
            assert.equal(j.headers['x-secret'], undefined);
            assert.equal(j.headers['x-forwarded-for'], '9.9.9.9, 127.0.0.1');
            assert.equal(j.headers['x-forwarded-proto'], 'http');
            assert.ok(j.headers['x-request-id']);
            assert.equal(r.headers['x-request-id'], j.headers['x-request-id'], 'same id both ways');
            const ch = await fetch(`${gw.base}/api/chunked`, { headers: { 'X-Request-Id': 'mine-1' } });
            assert.equal(ch.status, 201);
            assert.equal(ch.headers.get('x-request-id'), 'mine-1', 'the answer carries the id');
            assert.equal((await ch.json()).headers['x-request-id'], 'mine-1');
            for (let i = 0; i < 5; i++) await (await fetch(`${gw.base}/api/k${i}`)).text();
            assert.ok(new Set(up.seen).size < up.seen.length, 'upstream connections are reused');
        } finally {
            up.srv.close();
        }
    });

    test('TLS termination with a self-signed certificate (https and wss)', async () => {
        const key = tmpFile('key.pem');
        const cert = tmpFile('cert.pem');
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
            '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
        const nf = await notifier();
        const up = await headerEcho();
        try {
            const tlsPort = await freePort();
            const gw = await startGateway((l, a) => baseConfig(l, a, [nf], {
                top: { listen: [`127.0.0.1:${l}`, { addr: `127.0.0.1:${tlsPort}`, tls: { cert, key } }],
                    upstreams: { up: { servers: [`127.0.0.1:${nf.port}`] }, h: { servers: [`127.0.0.1:${up.port}`] } } },
                routes: [
                    { path: '/ws', upstream: 'up', websocket: true, auth: 'optional' },
                    { path: '/h/', upstream: 'h', strip_prefix: true },
                    { path: '/', static: WEB },
                ],
            }));
            const ca = fs.readFileSync(cert);
            // A key that does not belong to the certificate is a config error (exit 2).
            const otherKey = tmpFile('other.pem');
            execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-out', otherKey], { stdio: 'ignore' });
            const bad = tmpFile('bad.yaml', JSON.stringify({
                listen: [{ addr: '127.0.0.1:1', tls: { cert, key: otherKey } }],
                routes: [{ path: '/', static: WEB }],
            }));
            const chk = await runProgram('herald-gateway', ['--check', '--config', bad]);
            assert.equal(chk.code, 2);
            assert.match(chk.stderr, /bad\.yaml:1: listen\.tls: cannot use cert/);
            const ch = uniq();
            const [c, w] = await connectWelcome(`wss://127.0.0.1:${tlsPort}/ws?channels=${ch}&token=${token('tina')}`, { ca });
            assert.equal(w.user, 'tina');
            await c.nextOfType('subscribed');
            await publishOk(nf, { channel: ch, data: 'over tls' });
            assert.equal((await c.nextOfType('event')).data, 'over tls');
            const page = await new Promise((resolve, reject) => {
                https.get({ host: '127.0.0.1', port: tlsPort, path: '/h/x', ca }, (res) => {
                    let b = '';
                    res.on('data', (d) => { b += d; });
                    res.on('end', () => resolve({ status: res.statusCode, body: b }));
                }).on('error', reject);
            });
            assert.equal(page.status, 200);
            const j = JSON.parse(page.body);
            assert.equal(j.headers['x-forwarded-proto'], 'https');
            assert.equal(j.headers['x-forwarded-for'], '127.0.0.1');
            await c.close();
            // The plain listener still works alongside.
            const [p] = await connectWelcome(gw.wsUrl('/ws'));
            await p.close();
        } finally {
            up.srv.close();
        }
    });
});

describe('gateway: reload', () => {
    test('SIGHUP: new connections use the new routes, live ones stay up', async () => {
        const nf = await notifier();
        const gw = await startGateway((l, a) => baseConfig(l, a, [nf]));
        const ch = uniq();
        const [old] = await connectWelcome(gw.wsUrl('/ws', { channels: ch }));
        await old.nextOfType('subscribed');
        assert.equal((await expectRefused(gw.wsUrl('/live/ws'))).statusCode, 400, 'static route');
        const cfg = JSON.parse(fs.readFileSync(gw.cfgPath, 'utf8'));
        cfg.routes.unshift({ path: '/live/', upstream: 'up', websocket: true, strip_prefix: true });
        fs.writeFileSync(gw.cfgPath, JSON.stringify(cfg));
        gw.proc.kill('SIGHUP');
        await waitFor(async () => {
            try { (await connect(gw.wsUrl('/live/ws'))).terminate(); return true; } catch { return false; }
        }, 'the new route after SIGHUP');
        await publishOk(nf, { channel: ch, data: 'still here' });
        assert.equal((await old.nextOfType('event')).data, 'still here');
        // A broken config is refused and the old one stays.
        fs.writeFileSync(gw.cfgPath, 'routes: [');
        gw.proc.kill('SIGHUP');
        await waitFor(async () => sample(await gwMetrics(gw), 'herald_gateway_reload_failures_total') === 1,
            'the refused reload');
        const [again] = await connectWelcome(gw.wsUrl('/live/ws'));
        await again.close();
        await old.close();
    });
});
