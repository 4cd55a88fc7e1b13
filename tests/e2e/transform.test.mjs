// The transformation layer (SPEC §7, issue 12): Lua scripts on gateway
// routes, with the real gateway and notifier and ws clients, over plain
// WebSocket proxying and over herald-link. Rewrite, drop, reply and 4003 in
// both directions; on_connect refusing; on_event once per event per view
// (counted by the gateway's own metric); a script looping forever on one
// route while another keeps delivering; SIGHUP reload under live
// connections; compile errors; --script-test.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe } from 'node:test';
import {
    BIN, connect, connectWelcome, expectRefused, freePort, parseMetrics, publishOk, runProgram,
    spawnServer, startNotifier, test, waitFor, gatewayUp,
} from './lib/harness.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-transform-'));

function writeScript(name, text) {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
}

async function notifierFor(mode) {
    const args = ['--trusted-proxy', '127.0.0.1/32'];
    let linkPort = null;
    if (mode === 'link') {
        linkPort = await freePort();
        args.push('--link-listen', `127.0.0.1:${linkPort}`);
    }
    const nf = await startNotifier(args, { direct: true });
    nf.linkPort = linkPort;
    return nf;
}

/** One gateway worker (so its metrics are the gateway's) in front of nf. */
async function gatewayFor(nf, mode, routes, extra = {}) {
    const listen = await freePort();
    const admin = await freePort();
    const up = mode === 'link'
        ? { servers: [`127.0.0.1:${nf.linkPort}`], protocol: 'herald-link' }
        : { servers: [`127.0.0.1:${nf.port}`] };
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        limits: {
            drain_timeout_s: 5, messages_per_s: 100000, handshakes_per_ip_per_s: 100000,
            script_timeout_ms: 50, ...extra.limits,
        },
        upstreams: { nf: up },
        routes: routes.map((r) => ({ upstream: 'nf', websocket: true, ...r })),
        access_log: false,
    };
    const cfgPath = path.join(dir, `gw-${listen}.yaml`);
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    const gw = spawnServer('herald-gateway', ['--config', cfgPath, '--workers', '1'], {}, listen);
    gw.admin = `http://127.0.0.1:${admin}`;
    gw.cfgPath = cfgPath;
    // Every worker listening (gatewayUp), not only worker 0's /healthz: until then
    // which worker a client meets depends on start-up timing.
    return gatewayUp(gw);
}

async function scrape(gw) {
    const r = await fetch(`${gw.admin}/metrics`, { signal: AbortSignal.timeout(5000) });
    return parseMetrics(await r.text());
}

function value(samples, name, labels = {}) {
    return samples
        .filter((s) => s.name === name
            && Object.entries(labels).every(([k, v]) => s.labels.includes(`${k}="${v}"`)))
        .reduce((a, s) => a + s.value, 0);
}

const url = (gw, p) => `ws://127.0.0.1:${gw.port}${p}`;

const SHAPES = `
function on_client_message(msg, conn)
  local d = msg.data
  if d == nil then return msg end
  if d.type == "ping" then return {reply = {type = "pong", user = conn.user}} end
  if d.type == "evil" then return {close = 4003, reason = "no evil"} end
  if d.type == "noop" then return nil end
  if d.type == "subscribe" then
    d.channels = {"tr." .. d.channels[1]}
    return msg
  end
  return msg
end
function on_server_message(msg, conn)
  local d = msg.data
  if d and d.type == "subscribed" then
    if d.channels[1] == "tr.closeme" then return {close = 4003, reason = "closed by script"} end
    d.note = "via script"
    return msg
  end
  return msg
end
function on_event(event, key)
  if event.data.hide then return nil end
  event.data.seen = "script"
  return event
end
`;

for (const mode of ['proxy', 'link']) {
    describe(`transform (${mode})`, () => {
        test(`[${mode}] rewrite, drop, reply and close 4003 in both directions`, async () => {
            const nf = await notifierFor(mode);
            const gw = await gatewayFor(nf, mode, [{ path: '/ws', script: writeScript('shapes.lua', SHAPES) }]);
            const [c] = await connectWelcome(url(gw, '/ws'));
            // up: the subscribe is rewritten; down: the reply is rewritten
            const sub = await c.request({ type: 'subscribe', channels: ['x'] });
            assert.deepEqual(sub.channels, ['tr.x']);
            assert.equal(sub.note, 'via script');
            // up: a reply without the upstream; a drop
            assert.deepEqual(await c.request({ type: 'ping' }), { type: 'pong', user: null });
            c.send({ type: 'noop' });
            // down: events rewritten and dropped
            await publishOk(nf, { channel: 'tr.x', data: { n: 1 } });
            await publishOk(nf, { channel: 'tr.x', data: { n: 2, hide: true } });
            await publishOk(nf, { channel: 'tr.x', data: { n: 3 } });
            const evs = await c.events(2);
            assert.deepEqual(evs.map((e) => e.data), [{ n: 1, seen: 'script' }, { n: 3, seen: 'script' }]);
            const m = await scrape(gw);
            assert.equal(value(m, 'herald_gateway_script_drops_total', { hook: 'on_event' }), 1);
            assert.equal(value(m, 'herald_gateway_script_drops_total', { hook: 'on_client_message' }), 1);
            // up: 4003 from on_client_message
            c.send({ type: 'evil' });
            assert.deepEqual(await c.waitClose(), { code: 4003, reason: 'no evil' });
            // down: 4003 from on_server_message
            const [d] = await connectWelcome(url(gw, '/ws'));
            d.send({ type: 'subscribe', channels: ['closeme'] });
            assert.deepEqual(await d.waitClose(), { code: 4003, reason: 'closed by script' });
        });

        test(`[${mode}] on_connect refuses with its status and adds upstream headers`, async () => {
            const nf = await notifierFor(mode);
            const script = writeScript('connect.lua', `
function on_connect(req)
  if req.query.deny then return false, 403, "not you" end
  if req.query.as then return {headers = {["X-Herald-User"] = req.query.as}} end
  return true
end`);
            const gw = await gatewayFor(nf, mode, [{ path: '/ws', script }]);
            const r = await expectRefused(url(gw, '/ws?deny=1'));
            assert.equal(r.statusCode, 403);
            assert.match(r.body, /not you/);
            // the script vouches for the identity: the notifier's welcome names the user
            const [, w] = await connectWelcome(url(gw, '/ws?as=alice'));
            assert.equal(w.user, 'alice');
            const [, w2] = await connectWelcome(url(gw, '/ws'));
            assert.equal(w2.user, null);
        });

        test(`[${mode}] 10,000 events to four views: on_event runs exactly 4 times per event`, async () => {
            const nf = await notifierFor(mode);
            const script = writeScript('views.lua', `
function view_key(conn) return conn.query.v end
function on_event(event, key)
  event.data.view = key
  return event
end`);
            const gw = await gatewayFor(nf, mode, [{ path: '/ws', script }]);
            const clients = [];
            for (let i = 0; i < 8; i++) {
                const [c] = await connectWelcome(url(gw, `/ws?v=${i % 4}`));
                await c.request({ type: 'subscribe', channels: ['fan'] });
                clients.push(c);
            }
            const N = 10000;
            for (let i = 0; i < N; i += 500) {
                await publishOk(nf, Array.from({ length: 500 }, (_, k) => ({ channel: 'fan', data: { i: i + k } })));
            }
            for (let i = 0; i < clients.length; i++) {
                const evs = await clients[i].events(N, 60000);
                assert.ok(evs.every((e, k) => e.data.i === k && e.data.view === String(i % 4)));
            }
            const m = await scrape(gw);
            assert.equal(value(m, 'herald_gateway_script_calls_total', { hook: 'on_event' }), 4 * N);
            assert.equal(value(m, 'herald_gateway_script_calls_total', { hook: 'view_key' }), 8);
            assert.equal(value(m, 'herald_gateway_script_errors_total'), 0);
        });

        test(`[${mode}] a script that loops forever on one route; another route keeps delivering`, async () => {
            const nf = await notifierFor(mode);
            const loop = writeScript('loop.lua', 'function on_event(e, k) while true do end end');
            const ok = writeScript('ok.lua', 'function on_event(e, k) e.data.ok = true return e end');
            const gw = await gatewayFor(nf, mode, [
                { path: '/slow', strip_prefix: true, script: loop },
                { path: '/fast', strip_prefix: true, script: ok },
                { path: '/plain', strip_prefix: true },
            ]);
            const [slow] = await connectWelcome(url(gw, '/slow/ws'));
            const [fast] = await connectWelcome(url(gw, '/fast/ws'));
            const [plain] = await connectWelcome(url(gw, '/plain/ws'));
            for (const c of [slow, fast, plain]) await c.request({ type: 'subscribe', channels: ['c'] });
            for (let i = 0; i < 20; i++) await publishOk(nf, { channel: 'c', data: { i } });
            const got = await fast.events(20);
            assert.deepEqual(got.map((e) => e.data), Array.from({ length: 20 }, (_, i) => ({ i, ok: true })));
            assert.deepEqual((await plain.events(20)).map((e) => e.data.i), Array.from({ length: 20 }, (_, i) => i));
            await waitFor(async () => value(await scrape(gw), 'herald_gateway_script_errors_total',
                { route: '/slow', hook: 'on_event', kind: 'timeout' }) === 20, '20 timeouts counted');
            // the looping route dropped them (script_on_error: drop) and stays open
            assert.equal(slow.queue.filter((x) => x.type === 'event').length, 0);
            assert.equal(slow.closeInfo, null);
        });

        test(`[${mode}] script_on_error: pass delivers untransformed, close sends 4003; memory is counted`, async () => {
            const nf = await notifierFor(mode);
            const failing = writeScript('failing.lua', `
function on_event(e, k)
  if e.data.boom then error("boom") end
  e.data.seen = true
  return e
end
function on_client_message(msg, conn)
  local t = {}
  while true do t[#t + 1] = string.rep("x", 1024) .. #t end
end`);
            const gw = await gatewayFor(nf, mode, [
                { path: '/pass', strip_prefix: true, script: failing, script_on_error: 'pass' },
                { path: '/close', strip_prefix: true, script: failing, script_on_error: 'close' },
            ], { limits: { script_memory_mb: 8, script_timeout_ms: 2000 } });
            const [p] = await connectWelcome(url(gw, '/pass/ws'));
            const [c] = await connectWelcome(url(gw, '/close/ws'));
            // the subscribe goes through on_client_message, which runs out of memory:
            // pass forwards it untransformed, close closes the client
            assert.equal((await p.request({ type: 'subscribe', channels: ['e'] })).type, 'subscribed');
            c.send({ type: 'subscribe', channels: ['e'] });
            assert.deepEqual(await c.waitClose(), { code: 4003, reason: 'script error' });
            await publishOk(nf, { channel: 'e', data: { boom: true } });
            await publishOk(nf, { channel: 'e', data: { n: 1 } });
            assert.deepEqual((await p.events(2)).map((e) => e.data), [{ boom: true }, { n: 1, seen: true }]);
            const m = await scrape(gw);
            assert.equal(value(m, 'herald_gateway_script_errors_total',
                { route: '/pass', hook: 'on_client_message', kind: 'memory' }), 1);
            assert.equal(value(m, 'herald_gateway_script_errors_total',
                { route: '/close', hook: 'on_client_message', kind: 'memory' }), 1);
            assert.equal(value(m, 'herald_gateway_script_errors_total',
                { route: '/pass', hook: 'on_event', kind: 'runtime' }), 1);
        });

        test(`[${mode}] SIGHUP reload switches live connections; a broken script keeps the old one`, async () => {
            const nf = await notifierFor(mode);
            const script = writeScript(`reload-${mode}.lua`, 'function on_event(e, k) e.data.v = 1 return e end');
            const gw = await gatewayFor(nf, mode, [{ path: '/ws', script }]);
            const [c] = await connectWelcome(url(gw, '/ws'));
            await c.request({ type: 'subscribe', channels: ['r'] });
            await publishOk(nf, { channel: 'r', data: {} });
            assert.deepEqual((await c.events(1))[0].data, { v: 1 });
            fs.writeFileSync(script, 'function on_event(e, k) e.data.v = 2 return e end');
            gw.proc.kill('SIGHUP');
            await waitFor(async () => value(await scrape(gw), 'herald_gateway_reloads_total') === 1, 'reload');
            await publishOk(nf, { channel: 'r', data: {} });
            assert.deepEqual((await c.events(1))[0].data, { v: 2 });
            fs.writeFileSync(script, 'function on_event(e, k)\n  return = e\nend');
            gw.proc.kill('SIGHUP');
            await waitFor(async () => value(await scrape(gw), 'herald_gateway_reload_failures_total') === 1,
                'refused reload');
            assert.match(gw.stderr(), /reload-\w+\.lua:2:/);
            await publishOk(nf, { channel: 'r', data: {} });
            assert.deepEqual((await c.events(1))[0].data, { v: 2 });
        });
    });
}

describe('transform: operations', () => {
    test('a script that does not compile: exit 2 naming file:line, at start and with --check', async () => {
        const bad = writeScript('bad.lua', 'function on_event(e)\n  return e +\nend\n');
        const cfg = {
            listen: `127.0.0.1:${await freePort()}`,
            upstreams: { nf: { servers: ['127.0.0.1:1'] } },
            routes: [{ path: '/ws', upstream: 'nf', websocket: true, script: bad }],
        };
        const cfgPath = path.join(dir, 'bad.yaml');
        fs.writeFileSync(cfgPath, JSON.stringify(cfg));
        for (const extra of [['--check'], []]) {
            const r = await runProgram('herald-gateway', ['--config', cfgPath, ...extra]);
            assert.equal(r.code, 2);
            assert.match(r.stderr, /bad\.lua:3: unexpected symbol near 'end'/);
        }
    });

    test('--script-test prints one JSON result per line', async () => {
        const script = writeScript('st.lua', `
function view_key(conn) return conn.claims.plan or "free" end
function on_event(event, key)
  if key == "free" then event.data.price = nil end
  return event
end`);
        const input = [
            { hook: 'on_event', event: { channel: 'shop', id: '1-0', data: { item: 'tea', price: 3 } }, conn: { id: 'a', claims: {} } },
            { hook: 'on_event', event: { channel: 'shop', id: '1-0', data: { item: 'tea', price: 3 } }, key: 'gold' },
            { hook: 'view_key', conn: { id: 'b', claims: { plan: 'gold' } } },
        ].map((l) => JSON.stringify(l)).join('\n');
        const r = spawnSync(path.join(BIN, 'herald-gateway'), ['--script-test', script],
            { input, encoding: 'utf8', timeout: 20000 });
        assert.equal(r.status, 0, r.stderr);
        const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines, [
            { hook: 'on_event', result: 'ok', key: 'free', action: 'deliver', changed: true,
              event: { type: 'event', channel: 'shop', id: '1-0', data: { item: 'tea' } } },
            { hook: 'on_event', result: 'ok', key: 'gold', action: 'deliver', changed: false,
              event: { type: 'event', channel: 'shop', id: '1-0', data: { item: 'tea', price: 3 } } },
            { hook: 'view_key', result: 'ok', key: 'gold' },
        ]);
    });
});

void connect;
