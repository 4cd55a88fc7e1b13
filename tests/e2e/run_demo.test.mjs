// `make run` (scripts/run.sh with the binaries under test) and the shipped
// config/gateway.yaml:
//  - the demo comes up (on free ports: HERALD_RUN_PORTS): the page, a live event stream
//    through the gateway over herald-link, the page's publish form for a
//    signed-in user (refused anonymously); a killed notifier comes back;
//    SIGINT (Ctrl-C) stops everything with status 0 and leaves no temp folder;
//    the output fits one screen;
//  - HERALD_BROKER picks the broker: a local Redis that is not running is
//    started by run.sh, one that runs is used; events XADDed into it arrive;
//  - a notifier port taken while the notifier is down stops the restart loop
//    with a message; a demo port taken at start stops before any temp folder;
//  - the real config/gateway.yaml (ports substituted) never lets an anonymous
//    client publish: the notifier's /publish is not routed publicly;
//  - its script (config/transforms/demo.lua) gives anonymous and signed-in
//    clients different views of the demo's events (customer fields hidden,
//    data.view names the view) and passes other channels through untouched,
//    through the gateway and under `herald-gateway --script-test`.
// run.sh runs on five free ports (HERALD_RUN_PORTS) rather than the fixed
// demo ports, which another process (another `make run`, another test run)
// may hold at any moment.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import {
    BIN, waitFor, DEADLINE_MS, freePort, startNotifier, spawnServer, tmpFile, signJwt, publishOk, connect,
    test as serverTest, gatewayUp,
} from './lib/harness.mjs';
import { HAVE_REDIS, RespClient, startRedis } from './lib/servers.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const WAIT = DEADLINE_MS * 3;
const SECRET = 'herald-demo-secret';

function portBusy(port) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
    });
}

function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

// The fields of an order event as the demo source publishes them, and as the
// anonymous view of config/transforms/demo.lua delivers them.
const ORDER_KEYS = ['city', 'currency', 'customer', 'items', 'order', 'status', 'total', 'ts'];
const ANON_ORDER_KEYS = ['currency', 'items', 'order', 'status', 'total', 'ts', 'view'];

/** Connects to url, subscribes to channel and resolves with the first event. */
function firstEvent(url, channel) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no ${channel} event`)); }, WAIT);
        ws.on('error', (e) => { clearTimeout(timer); reject(e); });
        ws.on('message', (m) => {
            const msg = JSON.parse(m.toString());
            if (msg.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', channels: [channel] }));
            if (msg.type === 'event') {
                clearTimeout(timer);
                ws.close();
                resolve(msg);
            }
        });
    });
}

/** Subscribes to channel on url; resolves with {next(): the next event, close()} once subscribed. */
function subscriber(url, channel) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const events = [];
        const waiters = [];
        ws.on('error', reject);
        ws.on('message', (m) => {
            const msg = JSON.parse(m.toString());
            if (msg.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', channels: [channel] }));
            if (msg.type === 'subscribed') {
                resolve({
                    next: () => (events.length ? Promise.resolve(events.shift())
                        : new Promise((r) => waiters.push(r))),
                    close: () => ws.close(),
                });
            }
            if (msg.type === 'event') {
                if (waiters.length) waiters.shift()(msg); else events.push(msg);
            }
        });
    });
}

function demoToken(sub = 'demo') {
    return signJwt({ sub, exp: Math.floor(Date.now() / 1000) + 600 }, { key: SECRET });
}

/** Five distinct free ports for run.sh: {notifier, link, form, gateway, admin, list}. */
async function demoPorts() {
    const list = [];
    while (list.length < 5) {
        const p = await freePort();
        if (!list.includes(p)) list.push(p);
    }
    const [notifier, link, form, gateway, admin] = list;
    return { notifier, link, form, gateway, admin, list };
}

/**
 * Starts scripts/run.sh on the ports P (demoPorts()) in its own process
 * group with a private TMPDIR. Returns {out(), exited, tmp, stop(signal)};
 * stop() resolves with the exit.
 */
function startRun(P, env = {}) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-e2e-run-'));
    const run = spawn('bash', [path.join(ROOT, 'scripts', 'run.sh'), BIN], {
        cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TMPDIR: tmp, HERALD_RUN_PORTS: P.list.join(' '), ...env },
    });
    let out = '';
    run.stdout.on('data', (d) => { out += d; });
    run.stderr.on('data', (d) => { out += d; });
    const exited = new Promise((resolve) => run.on('exit', (code, signal) => resolve({ code, signal })));
    const pids = () => [...out.matchAll(/\(pids? ([\d ]+)/g)].flatMap((m) => m[1].split(' ').map(Number));
    return {
        run, tmp, exited, out: () => out,
        /** Signals the whole group (as Ctrl-C does); waits for run.sh and its children. */
        async stop(signal = 'SIGINT') {
            const children = pids();
            try { process.kill(-run.pid, signal); } catch { /* already gone */ }
            let timer;
            const end = await Promise.race([exited, new Promise((r) => { timer = setTimeout(() => r(null), WAIT); })]);
            clearTimeout(timer);
            if (!end) {
                try { process.kill(-run.pid, 'SIGKILL'); } catch { /* gone */ }
            }
            assert.ok(end, `run.sh did not stop on ${signal}:\n${out}`);
            await waitFor(() => !children.some(alive), `children ${children} gone`, WAIT);
            await waitFor(async () => !(await Promise.all(P.list.map(portBusy))).some(Boolean), 'ports free', WAIT);
            return end;
        },
    };
}

async function waitReady(r, P) {
    await waitFor(() => r.out().includes('Herald demo:')
        || /did not become ready|already in use|stopping|failed|not built|nothing answers/.test(r.out()),
        'the demo URL', WAIT);
    assert.match(r.out(), new RegExp(`Herald demo: {2}http://127\\.0\\.0\\.1:${P.gateway}/`), r.out());
}

test('make run: demo up through the gateway over herald-link, form for signed-in users, notifier restarted, Ctrl-C stops all with 0',
    { timeout: 120000 }, async () => {
        const P = await demoPorts();
        const gw = `127.0.0.1:${P.gateway}`;
        const r = startRun(P);
        let stopped = false;
        try {
            await waitReady(r, P);
            assert.match(r.out(), /broker memory/);
            // One screen: a handful of status lines, no build or make noise.
            assert.ok(r.out().trim().split('\n').length <= 20, r.out());
            const page = await fetch(`http://${gw}/`);
            assert.equal(page.status, 200);
            assert.match(await page.text(), /<title>Herald/);
            // The demo's script: anonymous viewers see orders without customer
            // fields, signed-in ones see them whole; data.view says which.
            const ev = await firstEvent(`ws://${gw}/ws`, 'orders');
            assert.equal(ev.channel, 'orders');
            assert.equal(typeof ev.data.ts, 'number');
            assert.deepEqual(Object.keys(ev.data).sort(), ANON_ORDER_KEYS, JSON.stringify(ev.data));
            assert.equal(ev.data.view, 'anonymous');
            const signed = await firstEvent(`ws://${gw}/ws?token=${demoToken()}`, 'orders');
            assert.deepEqual(Object.keys(signed.data).sort(), [...ORDER_KEYS, 'view'].sort(), JSON.stringify(signed.data));
            assert.equal(signed.data.view, 'signed-in');
            assert.equal(typeof signed.data.customer, 'string');
            // The demo Pusher app: a Pusher protocol 7 client through the
            // gateway's /app/ route (herald-link) gets its socket id.
            const pz = new WebSocket(`ws://${gw}/app/herald-demo-key?protocol=7&client=js&version=8.4.0`);
            const hello = await new Promise((resolve, reject) => {
                pz.once('message', (d) => resolve(JSON.parse(String(d))));
                pz.once('error', reject);
                pz.once('close', (code) => reject(new Error(`closed ${code}`)));
            });
            pz.close();
            assert.equal(hello.event, 'pusher:connection_established', JSON.stringify(hello));
            assert.match(JSON.parse(hello.data).socket_id, /^\d+\.\d+$/);
            assert.match(r.out(), /pusher-js: key herald-demo-key/);
            const m = await (await fetch(`http://127.0.0.1:${P.notifier}/metrics`)).text();
            assert.match(m, /^herald_notifier_links [1-9]/m, 'the gateway reaches the notifier over herald-link');

            // The page's publish form: signed-in users through the demo source.
            const anon = await fetch(`http://${gw}/api/publish`, {
                method: 'POST', body: JSON.stringify({ channel: 'alerts', data: { text: 'anon' } }),
            });
            assert.equal(anon.status, 401);
            const sub = await subscriber(`ws://${gw}/ws`, 'e2e-form');
            const ok = await fetch(`http://${gw}/api/publish`, {
                method: 'POST', headers: { authorization: `Bearer ${demoToken()}` },
                body: JSON.stringify({ channel: 'e2e-form', data: { text: 'from the form' } }),
            });
            assert.equal(ok.status, 200, await ok.text());
            assert.deepEqual((await sub.next()).data, { text: 'from the form' });
            sub.close();
            const other = await fetch(`http://${gw}/api/publish`, {
                method: 'POST', headers: { authorization: `Bearer ${demoToken()}` },
                body: JSON.stringify({ channel: 'user:someone-else', data: {} }),
            });
            assert.equal(other.status, 403);

            const pid = Number(/notifier ready .*\(pid (\d+)/.exec(r.out())[1]);
            process.kill(pid, 'SIGKILL');
            await waitFor(() => /notifier restarted \(pid \d+\)/.test(r.out()), 'notifier restarted', WAIT);
            await waitFor(() => firstEvent(`ws://${gw}/ws`, 'orders'),
                'an event through the gateway after the restart', WAIT, 500);

            const end = await r.stop('SIGINT');
            stopped = true;
            assert.deepEqual(end, { code: 0, signal: null }, r.out());
            assert.doesNotMatch(r.out(), /Error|logs kept/, r.out());
            assert.deepEqual(fs.readdirSync(r.tmp), [], 'the temp folder is removed after a normal stop');
        } finally {
            if (!stopped) await r.stop('SIGKILL').catch(() => {});
            fs.rmSync(r.tmp, { recursive: true, force: true });
        }
    });

test('make run: HERALD_BROKER=redis://127.0.0.1:PORT starts redis-server when none runs; XADDed events arrive',
    { skip: !HAVE_REDIS && 'no redis-server', timeout: 120000 }, async () => {
        const P = await demoPorts();
        const gw = `127.0.0.1:${P.gateway}`;
        let port = await freePort();
        while (P.list.includes(port)) port = await freePort();
        const r = startRun(P, { HERALD_BROKER: `redis://127.0.0.1:${port}` });
        try {
            await waitReady(r, P);
            assert.match(r.out(), new RegExp(`redis-server started on 127\\.0\\.0\\.1:${port}`));
            assert.match(r.out(), new RegExp(`broker redis://127\\.0\\.0\\.1:${port}`));
            const sub = await subscriber(`ws://${gw}/ws`, 'e2e-redis');
            const service = await RespClient.connect(port);
            await service.xadd('e2e-redis', { via: 'XADD' });
            service.close();
            assert.deepEqual((await sub.next()).data, { via: 'XADD' });
            sub.close();
            assert.deepEqual(await r.stop('SIGINT'), { code: 0, signal: null }, r.out());
            assert.equal(await portBusy(port), false, 'the redis-server run.sh started is stopped');
        } finally {
            await r.stop('SIGKILL').catch(() => {});
            fs.rmSync(r.tmp, { recursive: true, force: true });
        }
    });

test('make run: HERALD_BROKER names a running Redis: used, not started again',
    { skip: !HAVE_REDIS && 'no redis-server', timeout: 120000 }, async () => {
        const redis = await startRedis();
        const P = await demoPorts();
        const gw = `127.0.0.1:${P.gateway}`;
        const r = startRun(P, { HERALD_BROKER: redis.url() });
        try {
            await waitReady(r, P);
            assert.doesNotMatch(r.out(), /redis-server started/);
            const sub = await subscriber(`ws://${gw}/ws`, 'e2e-redis');
            const service = await redis.client();
            await service.xadd('e2e-redis', { n: 1 });
            service.close();
            assert.deepEqual((await sub.next()).data, { n: 1 });
            sub.close();
            assert.deepEqual(await r.stop('SIGINT'), { code: 0, signal: null }, r.out());
        } finally {
            await r.stop('SIGKILL').catch(() => {});
            await redis.stop();
            fs.rmSync(r.tmp, { recursive: true, force: true });
        }
    });

test('make run: a notifier port taken while the notifier is down stops the restart loop with a message',
    { timeout: 120000 }, async () => {
        const P = await demoPorts();
        const r = startRun(P, { HERALD_RUN_NO_SOURCE: '1' });
        let squatter;
        try {
            await waitReady(r, P);
            const pid = Number(/notifier ready .*\(pid (\d+)/.exec(r.out())[1]);
            process.kill(pid, 'SIGKILL');
            await waitFor(() => /notifier exited/.test(r.out()), 'run.sh saw the notifier exit', WAIT);
            squatter = net.createServer();
            await new Promise((resolve, reject) => {
                squatter.once('error', reject);
                squatter.listen(P.notifier, '127.0.0.1', resolve);
            });
            let timer;
            const end = await Promise.race([r.exited, new Promise((resolve) => { timer = setTimeout(resolve, WAIT, 'still running'); })]);
            clearTimeout(timer);
            assert.deepEqual(end, { code: 1, signal: null }, r.out());
            assert.match(r.out(), new RegExp(`127\\.0\\.0\\.1:${P.notifier} (was taken|is now in use)`));
            assert.doesNotMatch(r.out(), /notifier restarted/);
        } finally {
            if (squatter) await new Promise((resolve) => squatter.close(resolve));
            await r.stop('SIGKILL').catch(() => {});
            fs.rmSync(r.tmp, { recursive: true, force: true });
        }
    });

test('make run: a demo port in use at start stops at once, leaving no temp folder',
    { timeout: 60000 }, async () => {
        const P = await demoPorts();
        const squatter = net.createServer();
        await new Promise((resolve) => squatter.listen(P.gateway, '127.0.0.1', resolve));
        const r = startRun(P);
        try {
            const end = await r.exited;
            assert.deepEqual(end, { code: 1, signal: null }, r.out());
            assert.match(r.out(), new RegExp(`port ${P.gateway} on 127\\.0\\.0\\.1 is already in use`));
            assert.deepEqual(fs.readdirSync(r.tmp), []);
        } finally {
            await new Promise((resolve) => squatter.close(resolve));
            fs.rmSync(r.tmp, { recursive: true, force: true });
        }
    });

// The shipped config/gateway.yaml itself, on free ports: the notifier's
// publish API is not reachable from the public listener, whatever the path
// or token; the WebSocket route reaches the notifier over herald-link.
/**
 * Starts a notifier with nfArgs (plus --link-listen) and herald-gateway on the
 * real config/gateway.yaml with its ports moved to free ones. Returns {nf, gw,
 * base, wsBase}.
 */
async function startShipped(nfArgs) {
    const linkPort = await freePort();
    const nf = await startNotifier(['--link-listen', `127.0.0.1:${linkPort}`, ...nfArgs], { direct: true });
    const listen = await freePort();
    let admin = await freePort();
    while (admin === listen) admin = await freePort();
    const formPort = await freePort(); // nothing listens: the demo source is not running
    let cfg = fs.readFileSync(path.join(ROOT, 'config', 'gateway.yaml'), 'utf8');
    for (const [from, to] of [['127.0.0.1:8080', `127.0.0.1:${listen}`], ['127.0.0.1:9090', `127.0.0.1:${admin}`],
        ['127.0.0.1:7071', `127.0.0.1:${linkPort}`], ['127.0.0.1:7070', `127.0.0.1:${nf.port}`],
        ['127.0.0.1:7072', `127.0.0.1:${formPort}`], ['../web/', `${path.join(ROOT, 'web')}/`],
        ['script: transforms/demo.lua', `script: ${path.join(ROOT, 'config', 'transforms', 'demo.lua')}`]]) {
        assert.ok(cfg.includes(from), `config/gateway.yaml mentions ${from}`);
        cfg = cfg.split(from).join(to);
    }
    const gw = spawnServer('herald-gateway', ['--config', tmpFile('shipped-gateway.yaml', cfg)], {}, listen);
    gw.admin = `http://127.0.0.1:${admin}`;
    await gatewayUp(gw, WAIT);
    return { nf, gw, base: `http://127.0.0.1:${listen}`, wsBase: `ws://127.0.0.1:${listen}` };
}

serverTest('config/gateway.yaml: no anonymous publish through the public listener; /ws over herald-link', async () => {
    const { nf, gw, base, wsBase } = await startShipped(['--trusted-proxy', '127.0.0.1/32', '--jwt-secret', SECRET]);
    const c = await connect(`${wsBase}/ws?token=${demoToken('alice')}`);
    const welcome = await c.next();
    assert.equal(welcome.type, 'welcome');
    assert.equal(welcome.user, 'alice');
    c.send({ type: 'subscribe', channels: ['e2e-anon', 'user:alice'] });
    assert.equal((await c.next()).type, 'subscribed');
    assert.match(await (await fetch(`http://127.0.0.1:${nf.port}/metrics`)).text(), /^herald_notifier_link_sessions [1-9]/m);

    const body = (channel) => JSON.stringify({ channel, data: { text: 'should not arrive' } });
    for (const p of ['/publish', '/api/publish', '/api/publish/', '/ws/publish', '/ws/../publish', '//publish',
        '/%70ublish', '/publish?channel=e2e-anon', '/api/../publish']) {
        for (const channel of ['e2e-anon', 'user:alice']) {
            const res = await fetch(base + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(channel) });
            await res.arrayBuffer();
            assert.ok(res.status >= 400, `anonymous POST ${p} answered ${res.status}`);
        }
    }
    const anonForm = await fetch(`${base}/api/publish`, { method: 'POST', body: body('e2e-anon') });
    assert.equal(anonForm.status, 401, 'the form route needs a token');
    // Nothing of the above reached a channel: the next event is the sentinel,
    // untouched by the script (not one of the demo's channels).
    await publishOk(nf, { channel: 'e2e-anon', data: { text: 'sentinel' } });
    const ev = await c.next();
    assert.equal(ev.type, 'event');
    assert.deepEqual(ev.data, { text: 'sentinel' });

    // The script's views: one order, seen by alice and by an anonymous client.
    const anon = await connect(`${wsBase}/ws`);
    assert.equal((await anon.next()).user, null);
    for (const k of [c, anon]) {
        k.send({ type: 'subscribe', channels: ['orders'] });
        assert.equal((await k.next()).type, 'subscribed');
    }
    const order = { order: 'ORD-1', status: 'paid', customer: 'Ada Lovelace', city: 'Lyon', items: 2,
        total: 41.5, currency: 'EUR', ts: 1 };
    await publishOk(nf, { channel: 'orders', data: order });
    assert.deepEqual((await c.next()).data, { ...order, view: 'signed-in' });
    const { customer, city, ...rest } = order;
    assert.deepEqual((await anon.next()).data, { ...rest, view: 'anonymous' });
    assert.ok(customer && city);
    c.close();
    anon.close();
    await gw.stop('SIGTERM');
});

// The shipped script without a network: the same views, pass-through for
// what it does not know.
test('config/transforms/demo.lua under --script-test: views per viewer, other events untouched', () => {
    const order = { order: 'ORD-7', status: 'created', customer: 'Grace Hopper', city: 'Porto', items: 1,
        total: 9.5, currency: 'EUR', ts: 2 };
    const input = [
        { hook: 'view_key', conn: { id: 'a' } },
        { hook: 'view_key', conn: { id: 'n', user: null } }, // as the gateway passes anonymous
        { hook: 'view_key', conn: { id: 'b', user: 'demo' } },
        { hook: 'on_event', event: { channel: 'orders', id: '1-0', data: order }, conn: { id: 'a' } },
        { hook: 'on_event', event: { channel: 'orders', id: '1-0', data: order }, conn: { id: 'b' } },
        { hook: 'on_event', event: { channel: 'user:demo', id: '2-0', data: { title: 't' } }, conn: { id: 'b' } },
        { hook: 'on_event', event: { channel: 'e2e', id: '3-0', data: { text: 'x' } }, conn: { id: 'a' } },
        { hook: 'on_event', event: { channel: 'alerts', id: '4-0', data: 'plain text' }, conn: { id: 'a' } },
        { hook: 'on_server_message', msg: { text: '{"type":"welcome"}' }, conn: { id: 'a' } },
    ].map((l) => JSON.stringify(l)).join('\n');
    const r = spawnSync(path.join(BIN, 'herald-gateway'),
        ['--script-test', path.join(ROOT, 'config', 'transforms', 'demo.lua')],
        { input, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const { customer, city, ...anonOrder } = order;
    assert.ok(customer && city);
    const ev = (channel, id, data) => ({ type: 'event', channel, id, data });
    assert.deepEqual(out.slice(0, 8), [
        { hook: 'view_key', result: 'ok', key: 'anonymous' },
        { hook: 'view_key', result: 'ok', key: 'anonymous' },
        { hook: 'view_key', result: 'ok', key: 'signed-in' },
        { hook: 'on_event', result: 'ok', key: 'anonymous', action: 'deliver', changed: true,
            event: ev('orders', '1-0', { ...anonOrder, view: 'anonymous' }) },
        { hook: 'on_event', result: 'ok', key: 'signed-in', action: 'deliver', changed: true,
            event: ev('orders', '1-0', { ...order, view: 'signed-in' }) },
        { hook: 'on_event', result: 'ok', key: 'signed-in', action: 'deliver', changed: true,
            event: ev('user:demo', '2-0', { title: 't', view: 'signed-in' }) },
        { hook: 'on_event', result: 'ok', key: 'anonymous', action: 'deliver', changed: false,
            event: ev('e2e', '3-0', { text: 'x' }) },
        { hook: 'on_event', result: 'ok', key: 'anonymous', action: 'deliver', changed: false,
            event: ev('alerts', '4-0', 'plain text') },
    ]);
    // No on_server_message hook: control messages pass as they are.
    assert.deepEqual(out[8], { hook: 'on_server_message', result: 'ok', action: 'forward', changed: false,
        text: '{"type":"welcome"}' });
    assert.equal(out.length, 9);
});

// docs/scaling.md's case: a notifier started without --trusted-proxy behind
// the gateway. Its users turn anonymous, and it says why, once.
serverTest('config/gateway.yaml before a notifier without --trusted-proxy: users anonymous, one warning naming the flag', async () => {
    const { nf, wsBase } = await startShipped([]);
    for (let i = 0; i < 2; i++) {
        const c = await connect(`${wsBase}/ws?token=${demoToken('alice')}`);
        const w = await c.next();
        assert.equal(w.type, 'welcome');
        assert.equal(w.user, null);
        c.close();
    }
    const warnings = nf.stderr().split('\n').filter((l) => /X-Herald-User/.test(l));
    assert.equal(warnings.length, 1, nf.stderr());
    assert.match(warnings[0], /--trusted-proxy 127\.0\.0\.1\/32/);
});
