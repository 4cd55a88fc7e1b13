// Token lifetime and client publish (docs/protocol.md "Token lifetime",
// "Client publish"): a connection whose token has `exp` gets `expiring`,
// then close 4001 unless it refreshed in-band; a refresh must name the same
// sub, and a narrower `channels` claim ends the subscriptions it no longer
// allows; client publish needs the `publish` claim and counts toward the
// command rate. Run direct and behind the gateway (proxy, link), with the
// notifier verifying tokens; the gateway modes also run a gateway that
// verifies the tokens itself in front of a notifier without the key.
// Token lifetimes are a few seconds; nothing here measures time: every
// step waits for an event (a notice, a close, a reply).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe } from 'node:test';
import { Herald } from '../../web/herald.js';
import {
    WebSocket, connect, connectWelcome, directOnly, expectRefused, freePort, gatewayOnly, nowS, publishOk,
    signJwt, spawnServer, startNotifier, stopAll, test, tmpFile, UPSTREAM, VIA_GATEWAY, waitFor, gatewayUp,
} from './lib/harness.mjs';

const SECRET = 'e2e-token-secret-0123456789';
const LIFE_S = 3;
let n = 0;
const uniq = (p = 'u') => `${p}${process.pid}x${++n}`;
const tok = (claims, life = 3600) => signJwt({ iat: nowS(), exp: nowS() + life, ...claims }, { alg: 'HS256', key: SECRET });

function assertError(m, code, ref) {
    assert.equal(m.type, 'error', `expected an error, got ${JSON.stringify(m)}`);
    assert.equal(m.code, code, JSON.stringify(m));
    if (ref !== undefined) assert.equal(m.ref, ref);
}

/** Publishes through the API and waits for c to receive it. */
async function delivered(srv, c, channel, data = 'x') {
    const id = await publishOk(srv, { channel, data });
    const e = await c.nextOfType('event');
    assert.equal(e.id, id, `expected ${id} on ${channel}, got ${JSON.stringify(e)}`);
    return id;
}

/** The shared cases, against srv (where tokens are verified is the caller's). */
function lifetimeCases(get) {
    test('a token with exp gets expiring, then 4001; a resumed reconnect loses nothing', async () => {
        const { srv } = get();
        const u = uniq();
        const ch = `user:${u}`;
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u }, LIFE_S), channels: ch }));
        assert.equal((await c.next()).type, 'subscribed');
        const last = await delivered(srv, c, ch, 'before');
        const notice = await c.nextOfType('expiring');
        assert.ok(Number.isInteger(notice.in) && notice.in >= 0, JSON.stringify(notice));
        const closed = await c.waitClose();
        assert.equal(closed.code, 4001, JSON.stringify(closed));
        assert.equal(closed.reason, 'token expired', 'the notifier\'s reason, through the gateway too');
        const missed = [await publishOk(srv, { channel: ch, data: 1 }), await publishOk(srv, { channel: ch, data: 2 })];
        const [c2] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u }), channels: ch, since: last }));
        const sub = await c2.next();
        assert.equal(sub.type, 'subscribed');
        assert.equal(sub.recovered, true);
        assert.deepEqual((await c2.events(2)).map((e) => e.id), missed);
    });

    test('refresh extends the connection past the old exp', async () => {
        const { srv } = get();
        const u = uniq();
        const ch = `user:${u}`;
        const exp = nowS() + LIFE_S;
        const old = signJwt({ sub: u, exp }, { alg: 'HS256', key: SECRET });
        // A witness with the same exp: once it is closed, the old exp has passed.
        const [witness] = await connectWelcome(srv.wsUrl('/ws', { token: old }));
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: old, channels: ch }));
        assert.equal((await c.next()).type, 'subscribed');
        const fresh = nowS() + 3600;
        const r = await c.request({ type: 'refresh', token: signJwt({ sub: u, exp: fresh }, { alg: 'HS256', key: SECRET }), ref: 'r1' });
        assert.equal(r.type, 'refreshed', JSON.stringify(r));
        assert.equal(r.ref, 'r1');
        assert.ok(r.expires >= fresh, JSON.stringify(r));
        assert.equal((await witness.waitClose()).code, 4001);
        await delivered(srv, c, ch, 'still here');
        assert.equal(c.closeInfo, null);
    });

    test('a refresh naming another sub is refused; the connection ends at the old exp', async () => {
        const { srv } = get();
        const u = uniq();
        const ch = `user:${u}`;
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u }, LIFE_S), channels: ch }));
        assert.equal((await c.next()).type, 'subscribed');
        assertError(await c.request({ type: 'refresh', token: tok({ sub: `${u}x` }), ref: 'w' }), 'forbidden', 'w');
        assertError(await c.request({ type: 'refresh', token: 'not.a.jwt', ref: 'b' }), 'forbidden', 'b');
        await delivered(srv, c, ch, 'kept');
        assert.equal((await c.waitClose()).code, 4001);
    });

    test('a client cannot send the proxy identity form', async () => {
        const { srv } = get();
        const u = uniq();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u }) }));
        const forged = { type: 'refresh', identity: { user: u, channels: '*', publish: '*', expires: null }, ref: 'f' };
        assertError(await c.request(forged), 'forbidden', 'f');
        // Escaped spelling of the type too.
        const escaped = JSON.stringify(forged).replace('"refresh"', '"\\u0072efresh"');
        assertError(await c.request(escaped), 'forbidden', 'f');
        assertError(await c.request({ type: 'subscribe', channels: ['team:z'], ref: 's' }), 'forbidden', 's');
    });

    test('a narrower channels claim ends the subscriptions it no longer allows', async () => {
        const { srv } = get();
        const u = uniq();
        const t = uniq('team');
        const a = `${t}:a:1`, b = `${t}:b:x`, pub = uniq('news');
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u, channels: [`${t}:a:*`, b] }) }));
        const s = await c.request({ type: 'subscribe', channels: [a, b, pub], ref: 's' });
        assert.equal(s.type, 'subscribed', JSON.stringify(s));
        const r = await c.request({ type: 'refresh', token: tok({ sub: u, channels: [`${t}:a:*`] }), ref: 'r' });
        assert.equal(r.type, 'refreshed', JSON.stringify(r));
        const un = await c.next();
        assert.deepEqual(un, { type: 'unsubscribed', channels: [b], reason: 'forbidden' });
        await publishOk(srv, { channel: b, data: 'gone' });
        await delivered(srv, c, a, 'kept');
        await delivered(srv, c, pub, 'kept');
        assertError(await c.request({ type: 'subscribe', channels: [b], ref: 'again' }), 'forbidden', 'again');
    });

    test('client publish: allowed by the publish claim, forbidden otherwise, never anonymous', async () => {
        const { srv } = get();
        const u = uniq();
        const chat = uniq('chat');
        const room = `${chat}:room1`;
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u, channels: [`${chat}:*`], publish: [`${chat}:*`, 'exact'] }) }));
        assert.equal((await c.request({ type: 'subscribe', channels: [room] })).type, 'subscribed');
        const p = await c.request({ type: 'publish', channel: room, data: { text: 'hi' }, ref: 'p1' });
        // The event may come before the reply (the memory broker fans out first).
        const got = [p];
        if (p.type === "published" || p.type === "event") got.push(await c.next());
        const reply = got.find((m) => m.type === 'published');
        const ev = got.find((m) => m.type === 'event');
        assert.ok(reply && ev, JSON.stringify(got));
        assert.equal(reply.ref, 'p1');
        assert.equal(ev.id, reply.id);
        assert.deepEqual(ev.data, { text: 'hi' });

        const watcher = await connect(srv.wsUrl('/ws', { channels: 'news' }));
        await watcher.nextOfType('subscribed');
        assertError(await c.request({ type: 'publish', channel: 'news', data: 1, ref: 'f' }), 'forbidden', 'f');
        const [anon] = await connectWelcome(srv.wsUrl('/ws'));
        assertError(await anon.request({ type: 'publish', channel: 'news', data: 2, ref: 'a' }), 'forbidden', 'a');
        // Nothing reached the channel: the next event is the sentinel.
        const sentinel = await publishOk(srv, { channel: 'news', data: 'sentinel' });
        assert.equal((await watcher.nextOfType('event')).id, sentinel);
    });
}

/** Resolves with the next `type` event of a Herald client. */
function once(h, type) {
    return new Promise((resolve) => { const off = h.on(type, (d) => { off(); resolve(d); }); });
}

function heraldCases(get) {
    test('herald.js refreshes through token() before exp and stays connected', async () => {
        const { srv } = get();
        const u = uniq();
        const ch = `user:${u}`;
        const exp = nowS() + LIFE_S;
        const first = signJwt({ sub: u, exp }, { alg: 'HS256', key: SECRET });
        const reasons = [];
        const h = new Herald(srv.wsUrl('/ws'), {
            WebSocket,
            token: ({ reason }) => {
                reasons.push(reason);
                return reason === 'connect' ? first : tok({ sub: u });
            },
        });
        let disconnects = 0;
        h.on('disconnect', () => { disconnects++; });
        const got = [];
        h.subscribe(ch, (data) => got.push(data));
        try {
            await once(h, 'subscribed');
            const refreshed = await once(h, 'refreshed');
            assert.ok(refreshed.expires > exp, JSON.stringify(refreshed));
            // A witness with the first token's exp: once closed, that exp passed.
            const [witness] = await connectWelcome(srv.wsUrl('/ws', { token: first }));
            assert.equal((await witness.waitClose()).code, 4001);
            await publishOk(srv, { channel: ch, data: 'after exp' });
            await waitFor(() => got.includes('after exp'), 'the event after the old exp');
            assert.equal(disconnects, 0);
            assert.deepEqual(reasons, ['connect', 'refresh']);
        } finally {
            h.close();
        }
    });

    test('herald.js reconnects after 4001 with a fresh token and loses nothing', async () => {
        const { srv } = get();
        const u = uniq();
        const ch = `user:${u}`;
        // No refresh: the server closes with 4001 at exp.
        const h = new Herald(srv.wsUrl('/ws'), {
            WebSocket,
            token: ({ reason }) => (reason === 'refresh' ? null : tok({ sub: u }, LIFE_S)),
        });
        const got = [];
        h.subscribe(ch, (data) => got.push(data));
        try {
            await once(h, 'subscribed');
            await publishOk(srv, { channel: ch, data: 1 });
            await waitFor(() => got.length === 1, 'the first event');
            const d = await once(h, 'disconnect');
            assert.equal(d.code, 4001);
            await publishOk(srv, { channel: ch, data: 2 });
            await once(h, 'welcome');
            await publishOk(srv, { channel: ch, data: 3 });
            await waitFor(() => got.length === 3, 'events 2 and 3');
            assert.deepEqual(got, [1, 2, 3]);
        } finally {
            h.close();
        }
    });

    test('herald.js publish() resolves to the id, rejects with the server code', async () => {
        const { srv } = get();
        const u = uniq();
        const room = `${uniq('chat')}:r`;
        const h = new Herald(srv.wsUrl('/ws'), { WebSocket, token: () => tok({ sub: u, channels: [room], publish: [room] }) });
        const got = [];
        h.subscribe(room, (data, ev) => got.push(ev.id));
        try {
            await once(h, 'subscribed');
            const id = await h.publish(room, { n: 1 });
            await waitFor(() => got.includes(id), 'the published event');
            await assert.rejects(h.publish('news', 1), (e) => e.code === 'forbidden');
        } finally {
            h.close();
        }
    });
}

describe('token lifetime and client publish, notifier verifies', () => {
    const ctx = {};
    before(async () => {
        ctx.srv = await startNotifier(['--jwt-secret', SECRET, '--commands-per-s', '1000']);
    });
    after(stopAll);
    lifetimeCases(() => ctx);
    heraldCases(() => ctx);

    test('client publishes count toward the command rate', async () => {
        const srv = await startNotifier(['--jwt-secret', SECRET, '--commands-per-s', '5']);
        const u = uniq();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u, publish: ['rate:*'] }) }));
        for (let i = 0; i < 20; i++) c.send({ type: 'publish', channel: 'rate:x', data: i, ref: `${i}` });
        const replies = [];
        while (replies.length < 20) replies.push(await c.next());
        const limited = replies.filter((m) => m.type === 'error' && m.code === 'rate_limited');
        const ok = replies.filter((m) => m.type === 'published');
        assert.ok(limited.length > 0, JSON.stringify(replies));
        assert.equal(ok.length + limited.length, 20, JSON.stringify(replies));
    });
});

/**
 * A gateway that verifies tokens itself (auth.jwt, route auth: optional) in
 * front of a notifier that has no JWT key.
 */
async function startVerifyingGateway(nf) {
    const listen = await freePort();
    let admin = await freePort();
    while (admin === listen) admin = await freePort();
    const up = UPSTREAM === 'link'
        ? { servers: [`127.0.0.1:${nf.linkPort}`], protocol: 'herald-link' }
        : { servers: [`127.0.0.1:${nf.port}`] };
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        auth: { jwt: { algorithms: ['HS256'], secret: SECRET } },
        limits: { messages_per_s: 100000, idle_timeout_s: 3600, ping_interval_s: 3000, drain_timeout_s: 5 },
        upstreams: { notifier: up },
        routes: [{ path: '/ws', upstream: 'notifier', websocket: true, auth: 'optional' }],
        access_log: 'off',
    };
    const gw = spawnServer('herald-gateway', ['--config', tmpFile('gw-verify.yaml', JSON.stringify(cfg))], {}, listen);
    gw.admin = `http://127.0.0.1:${admin}`;
    // Every worker listening (gatewayUp), not only worker 0's /healthz: until then
    // which worker a client meets depends on start-up timing.
    return gatewayUp(gw);
}

describe('token lifetime and client publish, the gateway verifies', { skip: !VIA_GATEWAY && 'gateway modes only' }, () => {
    const ctx = {};
    before(async () => {
        if (!VIA_GATEWAY) return;
        const nf = await startNotifier([], { withoutGateway: true });
        const gw = await startVerifyingGateway(nf);
        nf.wsPort = gw.port;
        ctx.srv = nf;
    });
    after(stopAll);
    lifetimeCases(() => ctx);
    heraldCases(() => ctx);

    test('an invalid token is still refused with 401 at the gateway', gatewayOnly('gateway auth'), async () => {
        const r = await expectRefused(ctx.srv.wsUrl('/ws', { token: 'x.y.z' }));
        assert.equal(r.statusCode, 401);
    });
});

describe('the shipped config/gateway.yaml', () => {
    test('routes no publish API to the public listener: anonymous publish is refused', directOnly('one run is enough'), async () => {
        const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
        const text = fs.readFileSync(path.join(root, 'config/gateway.yaml'), 'utf8');
        const listen = await freePort();
        let admin = await freePort();
        while (admin === listen) admin = await freePort();
        const cfg = text.replace(/^listen: .*$/m, `listen: 127.0.0.1:${listen}`)
            .replace(/^admin_listen: .*$/m, `admin_listen: 127.0.0.1:${admin}`)
            .replace(/^access_log: .*$/m, 'access_log: off')
            .replace('../web/', path.join(root, 'web/'))
            .replace('script: transforms/demo.lua', `script: ${path.join(root, 'config/transforms/demo.lua')}`);
        const gw = spawnServer('herald-gateway', ['--config', tmpFile('shipped.yaml', cfg)], {}, listen);
        gw.admin = `http://127.0.0.1:${admin}`;
        await gatewayUp(gw);
        for (const p of ['/publish', '/api/publish', '/api/publish/x']) {
            const r = await fetch(`http://127.0.0.1:${listen}${p}`, {
                method: 'POST', headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ channel: 'user:alice', data: 'forged' }),
            });
            await r.arrayBuffer();
            assert.ok([401, 404, 405].includes(r.status), `${p}: ${r.status}`);
        }
    });
});
