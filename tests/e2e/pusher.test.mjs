// Pusher compatibility (SPEC §8), driven by the unchanged official `pusher`
// server package: its events reach Herald's own clients with broker ids,
// channel names mapped as docs/compat.md says; wrong or stale signatures are
// refused with 401.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe } from 'node:test';
import http from 'node:http';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Pusher from 'pusher';
import PusherClient from 'pusher-js';
import {
    connectWelcome, directOnly, DEADLINE_MS, frame, freePort, gatewayUp, metrics, metricSum, nowS, OP, publish,
    publishOk, rawConnect, signJwt, spawnServer, startNotifier, test, tmpFile, waitFor, withDeadline, WebSocket,
} from './lib/harness.mjs';
import { HAVE_NATS, HAVE_RABBITMQ, HAVE_REDIS, startNats, startRabbit, startRedis } from './lib/servers.mjs';

const APP = { appId: '42', key: 'herald-key', secret: 'herald-secret' };
const JWT = 'pusher-e2e-jwt';
const opts = directOnly('the Pusher HTTP API is the notifier\'s own endpoint');

const notifier = () => startNotifier(['--pusher-app-id', APP.appId, '--pusher-key', APP.key,
    '--pusher-secret', APP.secret, '--jwt-secret', JWT]);

function server(nf, over = {}) {
    return new Pusher({ ...APP, host: '127.0.0.1', port: String(nf.port), useTLS: false, ...over });
}

/** Signs a Pusher HTTP API request by hand (for the refusals the library never makes). */
function signedUrl(nf, method, path, body, { ts = nowS(), key = APP.key, secret = APP.secret } = {}) {
    const params = { auth_key: key, auth_timestamp: String(ts), auth_version: '1.0' };
    if (body) params.body_md5 = crypto.createHash('md5').update(body).digest('hex');
    const q = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
    const sig = crypto.createHmac('sha256', secret).update(`${method}\n${path}\n${q}`).digest('hex');
    return `${nf.base}${path}?${q}&auth_signature=${sig}`;
}

describe('Pusher HTTP API with the official pusher package', () => {
    test('trigger and triggerBatch reach native clients, names and data mapped', opts, async () => {
        const nf = await notifier();
        const token = signJwt({ sub: '7', exp: nowS() + 3600 }, { key: JWT });
        const [c] = await connectWelcome(nf.wsUrl('/ws', { channels: 'orders,user:7', token }));
        await c.nextOfType('subscribed');
        const p = server(nf);
        const r = await p.trigger(['orders', 'private-user-7'], 'created', { id: 7 });
        assert.equal(r.status, 200);
        const got = [await c.nextOfType('event'), await c.nextOfType('event')];
        assert.deepEqual(got.map((e) => e.channel).sort(), ['orders', 'user:7']);
        for (const e of got) assert.deepEqual(e.data, { id: 7 });
        for (const e of got) assert.equal(e.event, 'created', 'native clients see the name too');
        assert.equal(got[0].id, got[1].id, 'one event, one broker id, on both channels');
        const b = await p.triggerBatch([
            { channel: 'orders', name: 'a', data: 'plain text' },
            { channel: 'orders', name: 'b', data: { n: 2 } },
        ]);
        assert.equal(b.status, 200);
        const e1 = await c.nextOfType('event');
        const e2 = await c.nextOfType('event');
        assert.equal(e1.data, 'plain text');
        assert.deepEqual(e2.data, { n: 2 });
        // Ids keep increasing across both APIs (history and resume stay Herald's).
        const own = await publishOk(nf, { channel: 'orders', data: 3 });
        const e3 = await c.nextOfType('event');
        assert.equal(e3.id, own);
    });

    test('wrong key, secret, stale timestamp or body are refused with 401; nothing is published', opts, async () => {
        const nf = await notifier();
        const [c] = await connectWelcome(nf.wsUrl('/ws', { channels: 'orders' }));
        await c.nextOfType('subscribed');
        await assert.rejects(server(nf, { secret: 'wrong' }).trigger('orders', 'x', {}),
            (e) => e.status === 401 && /Invalid signature/.test(e.body));
        await assert.rejects(server(nf, { key: 'other' }).trigger('orders', 'x', {}),
            (e) => e.status === 401 && /auth_key/.test(e.body));
        const body = JSON.stringify({ name: 'x', channel: 'orders', data: '1' });
        const path = `/apps/${APP.appId}/events`;
        const post = (url, b = body) => fetch(url, { method: 'POST', body: b, headers: { 'content-type': 'application/json' } });
        let r = await post(signedUrl(nf, 'POST', path, body, { ts: nowS() - 601 }));
        assert.equal(r.status, 401);
        assert.match(await r.text(), /auth_timestamp/);
        r = await post(signedUrl(nf, 'POST', path, body), body.replace('"1"', '"2"'));
        assert.equal(r.status, 401);
        assert.match(await r.text(), /body_md5/);
        r = await post(signedUrl(nf, 'POST', path, body).replace('/events?', '/batch_events?'));
        assert.equal(r.status, 401, 'a signature covers the path');
        r = await post(signedUrl(nf, 'POST', '/apps/43/events', body));
        assert.equal(r.status, 404, 'another app id');
        r = await post(signedUrl(nf, 'POST', path, '{"name":"x","channel":"a=b","data":"1"}'),
            '{"name":"x","channel":"a=b","data":"1"}');
        assert.equal(r.status, 400, 'a channel Herald cannot carry');
        // The one good request goes through.
        r = await post(signedUrl(nf, 'POST', path, body));
        assert.equal(r.status, 200);
        assert.equal(await r.text(), '{}');
        const e = await c.nextOfType('event');
        assert.equal(e.data, 1, 'the refused requests published nothing before it');
        await publishOk(nf, { channel: 'orders', data: 'marker' });
        assert.equal((await c.nextOfType('event')).data, 'marker', 'nor after it');
    });

    test('channel queries count this notifier\'s subscribers (native clients too)', opts, async () => {
        const nf = await notifier();
        const p = server(nf);
        const get = async (path, params = {}) => (await p.get({ path, params })).json();
        const [c] = await connectWelcome(nf.wsUrl('/ws', { channels: 'orders' }));
        await c.nextOfType('subscribed');
        assert.deepEqual((await get('/channels')).channels.orders, {});
        assert.deepEqual(await get('/channels/orders', { info: 'subscription_count' }),
            { occupied: true, subscription_count: 1 });
        assert.deepEqual((await get('/channels', { filter_by_prefix: 'zzz' })).channels, {});
        await assert.rejects(p.get({ path: '/channels/orders', params: { info: 'user_count' } }),
            (e) => e.status === 400, 'user_count is for presence channels');
        await assert.rejects(p.get({ path: '/channels/orders/users' }), (e) => e.status === 400);
        c.close();
        await waitFor(async () => !(await get('/channels/orders')).occupied, 'orders unoccupied once the client left');
        const r = await fetch(signedUrl(nf, 'GET', `/apps/${APP.appId}/channels`, '', { secret: 'wrong' }));
        assert.equal(r.status, 401, 'signed like the POST API');
        // The presence records' channel cannot be forged through either API.
        const forged = await publish(nf, { channel: 'herald:presence', data: { hp: 'hello', i: '1' } });
        assert.equal(forged.status, 400);
        await assert.rejects(p.trigger('private-herald;presence', 'x', '{}'), (e) => e.status === 400);
    });

    test('without --pusher-app-id the endpoints do not exist', opts, async () => {
        const nf = await startNotifier([]);
        const r = await fetch(signedUrl(nf, 'POST', `/apps/${APP.appId}/events`, '{}'), { method: 'POST', body: '{}' });
        assert.equal(r.status, 404);
    });
});

/* ---- pusher-js at /app/<key> ---- */

/**
 * A real channel auth endpoint, as an app would write it with the pusher
 * package: form-encoded socket_id and channel_name in, a signed auth out.
 * Channels named *-denied get a signature made with the wrong secret.
 */
function authEndpoint(presence = { user_id: 'u1', user_info: { name: 'Ann' } }) {
    const good = new Pusher({ ...APP, host: '127.0.0.1' });
    const bad = new Pusher({ ...APP, secret: 'not-the-secret', host: '127.0.0.1' });
    return new Promise((resolve) => {
        const srv = http.createServer((req, res) => {
            let body = '';
            req.on('data', (d) => { body += d; });
            req.on('end', () => {
                const q = new URLSearchParams(body);
                const ch = q.get('channel_name');
                const signer = ch.endsWith('-denied') ? bad : good;
                const auth = ch.startsWith('presence-')
                    ? signer.authorizeChannel(q.get('socket_id'), ch, presence)
                    : signer.authorizeChannel(q.get('socket_id'), ch);
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(JSON.stringify(auth));
            });
        });
        srv.listen(0, '127.0.0.1', () => resolve({ srv, url: `http://127.0.0.1:${srv.address().port}/pusher/auth` }));
    });
}

function client(port, authUrl) {
    return new PusherClient(APP.key, {
        cluster: 'herald', wsHost: '127.0.0.1', wsPort: port, forceTLS: false,
        enabledTransports: ['ws'], disableStats: true,
        channelAuthorization: { endpoint: authUrl, transport: 'ajax' },
    });
}

/** Resolves with the first `event` on channel ch (data as pusher-js gives it). */
function once(ch, event) {
    return withDeadline(new Promise((resolve) => ch.bind(event, (data) => resolve(data))),
        DEADLINE_MS, `${event} on ${ch.name}`);
}

async function connected(pc) {
    if (pc.connection.state === 'connected') return;
    await withDeadline(new Promise((resolve, reject) => {
        pc.connection.bind('connected', resolve);
        pc.connection.bind('failed', () => reject(new Error('pusher-js: connection failed')));
    }), DEADLINE_MS, 'pusher-js connected');
}

const PUSHER_FLAGS = ['--pusher-app-id', APP.appId, '--pusher-key', APP.key, '--pusher-secret', APP.secret];

/** The gateway's two upstream modes for /app/ (docs/compat.md). */
const MODES = ['plain', 'link'];

/**
 * A notifier (PUSHER_FLAGS + args) behind a herald-gateway of its own whose
 * route /app/ (no auth, as config/gateway.yaml has it) uses upstream mode
 * `mode`: 'plain' (one upstream WebSocket per client, to the notifier's
 * HTTP listener) or 'link' (herald-link sessions to its --link-listen; the
 * notifier runs --loops 2, so links and their Pusher sessions land on both
 * loops). opts.broker: the notifier's --broker; opts.limits: the gateway's
 * limits section. Resolves with the notifier;
 * nf.gwPort is where pusher-js connects.
 */
async function behindGateway(mode, args = [], opts = {}) {
    const linkPort = mode === 'link' ? await freePort() : null;
    const extra = ['--trusted-proxy', '127.0.0.1/32'];
    if (linkPort) extra.push('--link-listen', `127.0.0.1:${linkPort}`, '--loops', '2');
    if (opts.broker) extra.push('--broker', opts.broker);
    const nf = await startNotifier([...extra, ...PUSHER_FLAGS, ...args]);
    const port = await freePort();
    let admin = await freePort();
    while (admin === port) admin = await freePort();
    const up = linkPort
        ? { servers: [`127.0.0.1:${linkPort}`], protocol: 'herald-link' }
        : { servers: [`127.0.0.1:${nf.port}`] };
    const cfg = {
        listen: `127.0.0.1:${port}`,
        admin_listen: `127.0.0.1:${admin}`,
        upstreams: { nf: up },
        routes: [{ path: '/app/', upstream: 'nf', websocket: true }],
        access_log: 'off',
    };
    if (opts.limits) cfg.limits = opts.limits;
    const gw = spawnServer('herald-gateway', ['--config', tmpFile(`pusher-gw-${mode}.yaml`, JSON.stringify(cfg))], {}, port);
    gw.admin = `http://127.0.0.1:${admin}`;
    await gatewayUp(gw);
    nf.gateway = gw;
    nf.gwPort = port;
    return nf;
}

/** A notifier with Pusher on: 'direct' (nf.gwPort is its own port) or behindGateway(mode). */
async function notifierIn(mode, args = [], gwOpts = {}) {
    if (mode !== 'direct') return behindGateway(mode, args, gwOpts);
    const nf = await startNotifier([...PUSHER_FLAGS, ...args]);
    nf.gwPort = nf.port;
    return nf;
}

/** Sessions the notifier carries over herald-link (0 in plain mode). */
async function linkSessions(nf) {
    return metricSum(await metrics(nf), /^herald_notifier_link_sessions$/);
}

async function pusherJsScenario(nf, port, onConnected = async () => {}) {
    const auth = await authEndpoint();
    const pc = client(port, auth.url);
    try {
        await connected(pc);
        assert.match(pc.connection.socket_id, /^\d+\.\d+$/);
        await onConnected(pc);
        const pub = pc.subscribe('orders');
        await once(pub, 'pusher:subscription_succeeded');
        const api = new Pusher({ ...APP, host: '127.0.0.1', port: String(nf.port), useTLS: false });
        const count = await (await api.get({ path: '/channels/orders', params: { info: 'subscription_count' } })).json();
        assert.deepEqual(count, { occupied: true, subscription_count: 1 }, 'the HTTP API counts the client');
        const priv = pc.subscribe('private-user-7');
        await once(priv, 'pusher:subscription_succeeded');
        const pres = pc.subscribe('presence-room');
        const members = await once(pres, 'pusher:subscription_succeeded');
        assert.equal(members.count, 1);
        assert.equal(members.me.id, 'u1');
        assert.deepEqual(members.me.info, { name: 'Ann' });
        const denied = pc.subscribe('private-denied');
        const err = await once(denied, 'pusher:subscription_error');
        assert.equal(err.status, 401);

        // The official server package publishes; pusher-js gets the event by name.
        const server = new Pusher({ ...APP, host: '127.0.0.1', port: String(nf.port), useTLS: false });
        const created = once(pub, 'created');
        await server.trigger('orders', 'created', { id: 7 });
        assert.deepEqual(await created, { id: 7 });
        const note = once(priv, 'note');
        await server.trigger('private-user-7', 'note', 'hello');
        assert.equal(await note, 'hello');
        // Herald's own publishers: an event name, or the default one.
        const shipped = once(pub, 'shipped');
        await publishOk(nf, { channel: 'orders', event: 'shipped', data: { n: 1 } });
        assert.deepEqual(await shipped, { n: 1 });
        const plain = once(pub, 'message');
        await publishOk(nf, { channel: 'orders', data: [1, 2] });
        assert.deepEqual(await plain, [1, 2]);
        // Unsubscribed channels stop delivering: the next event comes on another channel.
        pc.unsubscribe('orders');
        const after = once(priv, 'after');
        await server.trigger(['orders', 'private-user-7'], 'after', 1);
        assert.equal(await after, 1);
    } finally {
        pc.disconnect();
        auth.srv.close();
    }
}

describe('pusher-js (protocol 7) at /app/<key>', () => {
    test('public, private (real auth endpoint) and presence channels; events by name; bad signatures refused',
        opts, async () => {
            const nf = await notifier();
            await pusherJsScenario(nf, nf.port);
        });

    for (const mode of MODES) {
        test(`through herald-gateway, /app/ upstream ${mode}: public, private, presence, events`, opts, async () => {
            const nf = await behindGateway(mode);
            await pusherJsScenario(nf, nf.gwPort, async () => {
                assert.equal(await linkSessions(nf), mode === 'link' ? 1 : 0,
                    mode === 'link' ? 'the client rides herald-link' : 'plain: no link session');
            });
        });
    }

    test('the shipped config/gateway.yaml carries pusher-js over herald-link', opts, async () => {
        const linkPort = await freePort();
        const nf = await startNotifier(['--link-listen', `127.0.0.1:${linkPort}`, '--trusted-proxy', '127.0.0.1/32',
            ...PUSHER_FLAGS]);
        const listen = await freePort();
        let admin = await freePort();
        while (admin === listen) admin = await freePort();
        const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
        let cfg = fs.readFileSync(path.join(root, 'config', 'gateway.yaml'), 'utf8');
        // The listeners and the link must be there; the other addresses and paths move if present.
        for (const [from, to, must] of [['127.0.0.1:8080', `127.0.0.1:${listen}`, true],
            ['127.0.0.1:9090', `127.0.0.1:${admin}`, true], ['127.0.0.1:7071', `127.0.0.1:${linkPort}`, true],
            ['127.0.0.1:7070', `127.0.0.1:${nf.port}`], ['127.0.0.1:7072', `127.0.0.1:${await freePort()}`],
            ['../web/', `${path.join(root, 'web')}/`],
            ['script: transforms/', `script: ${path.join(root, 'config', 'transforms')}/`]]) {
            if (must) assert.ok(cfg.includes(from), `config/gateway.yaml mentions ${from}`);
            cfg = cfg.split(from).join(to);
        }
        const gw = spawnServer('herald-gateway', ['--config', tmpFile('shipped-gateway.yaml', cfg)], {}, listen);
        gw.admin = `http://127.0.0.1:${admin}`;
        await gatewayUp(gw);
        await pusherJsScenario(nf, listen, async () => {
            assert.equal(await linkSessions(nf), 1, '/app/ rides herald-link in the shipped config');
        });
    });

    test('presence: members listed, member_added and member_removed between clients', opts, async () => {
        const nf = await notifier();
        const a = await authEndpoint({ user_id: 'ann', user_info: { name: 'Ann' } });
        const b = await authEndpoint({ user_id: 'bob', user_info: { name: 'Bob' } });
        const pa = client(nf.port, a.url);
        let pb = null;
        try {
            await connected(pa);
            const ra = pa.subscribe('presence-room');
            const first = await once(ra, 'pusher:subscription_succeeded');
            assert.equal(first.count, 1);
            const added = once(ra, 'pusher:member_added');
            pb = client(nf.port, b.url);
            await connected(pb);
            const rb = pb.subscribe('presence-room');
            const second = await once(rb, 'pusher:subscription_succeeded');
            assert.equal(second.count, 2);
            assert.deepEqual(second.get('ann').info, { name: 'Ann' });
            assert.equal(second.me.id, 'bob');
            const m = await added;
            assert.equal(m.id, 'bob');
            assert.deepEqual(m.info, { name: 'Bob' });
            const removed = once(ra, 'pusher:member_removed');
            pb.unsubscribe('presence-room');
            assert.equal((await removed).id, 'bob');
            assert.equal(ra.members.count, 1);
        } finally {
            pa.disconnect();
            pb?.disconnect();
            a.srv.close();
            b.srv.close();
        }
    });

    for (const mode of ['direct', ...MODES]) {
    test(`client events (--pusher-client-events), ${mode}: to the other subscribers, never back to the sender`, opts, async () => {
        const nf = await notifierIn(mode, ['--pusher-client-events']);
        const auth = await authEndpoint();
        const pa = client(nf.gwPort, auth.url);
        const pb = client(nf.gwPort, auth.url);
        try {
            const ca = pa.subscribe('private-chat');
            const cb = pb.subscribe('private-chat');
            // Both bound before either is awaited: the second may come first.
            await Promise.all([once(ca, 'pusher:subscription_succeeded'),
                once(cb, 'pusher:subscription_succeeded')]);
            const seenByA = [];
            ca.bind_global((ev) => seenByA.push(ev));
            const typing = once(cb, 'client-typing');
            assert.equal(ca.trigger('client-typing', { who: 'ann' }), true);
            assert.deepEqual(await typing, { who: 'ann' });
            // The HTTP API's socket_id leaves A out; a server event after it
            // reaches A, which never sees its own client event.
            const server = new Pusher({ ...APP, host: '127.0.0.1', port: String(nf.port), useTLS: false });
            const skip = once(cb, 'skip');
            await server.trigger('private-chat', 'skip', 1, { socket_id: pa.connection.socket_id });
            await skip;
            const marker = once(ca, 'marker');
            await server.trigger('private-chat', 'marker', 1);
            await marker;
            assert.deepEqual(seenByA.filter((e) => !e.startsWith('pusher')), ['marker']);
        } finally {
            pa.disconnect();
            pb.disconnect();
            auth.srv.close();
        }
    });
    }

    for (const mode of ['direct', ...MODES]) {
    test(`${mode}: the notifier's shutdown closes Pusher connections with 4200 (reconnect at once)`, opts, async () => {
        const nf = await notifierIn(mode);
        const ws = new WebSocket(`ws://127.0.0.1:${nf.gwPort}/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
        const first = await withDeadline(new Promise((resolve, reject) => {
            ws.once('message', (d) => resolve(JSON.parse(d.toString())));
            ws.once('error', reject);
        }), DEADLINE_MS, 'connection_established');
        assert.equal(first.event, 'pusher:connection_established');
        assert.match(JSON.parse(first.data).socket_id, /^\d+\.\d+$/);
        const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
        await nf.stop('SIGTERM');
        assert.equal(await withDeadline(closed, DEADLINE_MS, 'the close'), 4200);
    });
    }

    for (const mode of ['direct', ...MODES]) {
    test(`${mode}: a client that does not answer pusher:ping is closed with 4201; one that answers stays`, opts, async () => {
        const nf = await notifierIn(mode, ['--pusher-activity-timeout', '1']);
        const url = `ws://127.0.0.1:${nf.gwPort}/app/${APP.key}?protocol=7&client=js&version=8.4.0`;
        const mute = new WebSocket(url);
        const talker = new WebSocket(url);
        const seen = [];
        mute.on('message', (d) => seen.push(JSON.parse(d.toString()).event));
        let pings = 0;
        const twoPings = new Promise((resolve) => talker.on('message', (d) => {
            if (JSON.parse(d.toString()).event !== 'pusher:ping') return;
            talker.send(JSON.stringify({ event: 'pusher:pong', data: {} }));
            if (++pings === 2) resolve();
        }));
        const closed = new Promise((resolve) => mute.once('close', (code, why) => resolve([code, String(why)])));
        const [code, why] = await withDeadline(closed, DEADLINE_MS, 'the close of the silent client');
        assert.equal(code, 4201, 'the notifier\'s code, relayed unchanged by the gateway');
        assert.equal(why, 'Pong reply not received', 'and its reason, in every mode');
        assert.ok(seen.includes('pusher:ping'), 'it was pinged first');
        await withDeadline(twoPings, DEADLINE_MS, 'two pings answered');
        assert.equal(talker.readyState, WebSocket.OPEN, 'answering keeps the connection');
        // The client's own pusher:ping is answered with pusher:pong.
        const pong = new Promise((resolve) => talker.on('message', (d) => {
            if (JSON.parse(d.toString()).event === 'pusher:pong') resolve();
        }));
        talker.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
        await withDeadline(pong, DEADLINE_MS, 'pusher:pong');
        talker.close();
    });
    }

    // Over a link: the gateway's worker opens a second link for the second
    // client (least loaded), which the notifier hands to its other loop.
    for (const mode of ['direct', 'link']) {
    test(`${mode}: Pusher clients spread over --loops: presence, client events and socket_id across loops`, opts, async () => {
        const nf = await notifierIn(mode, [...(mode === 'direct' ? ['--loops', '2'] : []), '--pusher-client-events']);
        const a = await authEndpoint({ user_id: 'ann', user_info: null });
        const b = await authEndpoint({ user_id: 'bob', user_info: null });
        const pa = client(nf.gwPort, a.url);
        await connected(pa);
        const pb = client(nf.gwPort, b.url);
        try {
            await connected(pb);
            const loopOf = (pc) => pc.connection.socket_id.split('.')[0];
            assert.notEqual(loopOf(pa), loopOf(pb), 'round robin: the two clients are on different loops');
            const ra = pa.subscribe('presence-loops');
            await once(ra, 'pusher:subscription_succeeded');
            const added = once(ra, 'pusher:member_added');
            const rb = pb.subscribe('presence-loops');
            await once(rb, 'pusher:subscription_succeeded');
            assert.equal((await added).id, 'bob');
            await waitFor(() => rb.members.get('ann') !== null, 'bob\'s loop knows ann');
            const seenByA = [];
            ra.bind_global((ev) => seenByA.push(ev));
            const typing = once(rb, 'client-typing');
            ra.trigger('client-typing', { n: 1 });
            assert.deepEqual(await typing, { n: 1 });
            const p = server(nf);
            for (const [who, other] of [[pa, rb], [pb, ra]]) {
                const got = once(other, 'skip');
                await p.trigger('presence-loops', 'skip', 1, { socket_id: who.connection.socket_id });
                await got;
            }
            const marker = once(ra, 'marker');
            await p.trigger('presence-loops', 'marker', 1);
            await marker;
            assert.deepEqual(seenByA.filter((e) => !e.startsWith('pusher')), ['skip', 'marker'],
                'ann got the event that skipped bob only, never her own client event');
            const one = await (await p.get({ path: '/channels/presence-loops', params: { info: 'user_count,subscription_count' } })).json();
            assert.deepEqual(one, { occupied: true, user_count: 2, subscription_count: 2 }, 'counted over both loops');
            const removed = once(ra, 'pusher:member_removed');
            pb.disconnect();
            assert.equal((await removed).id, 'bob');
        } finally {
            pa.disconnect();
            pb.disconnect();
            a.srv.close();
            b.srv.close();
        }
    });
    }

    // The notifier's bound (--send-queue-limit) closes with Pusher's 4100
    // (reconnect after a pause), through the gateway too: past its
    // limits.send_queue_bytes the gateway stops returning the link's credit
    // (or reading the plain upstream), so the notifier's bound is the one
    // met (docs/compat.md).
    for (const mode of ['direct', ...MODES]) {
    test(`${mode}: a client that stops reading is closed with 4100`, opts, async () => {
        const nf = await notifierIn(mode, ['--send-queue-limit', '1048576']);
        const raw = await rawConnect(nf.gwPort);
        await raw.upgrade(`/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
        assert.match((await raw.readMessage()).payload.toString(), /pusher:connection_established/);
        raw.write(frame(OP.TEXT, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'flood' } })));
        assert.match((await raw.readMessage()).payload.toString(), /subscription_succeeded/);
        raw.sock.pause();
        // Until the notifier has closed it: how much the kernel's socket
        // buffers (and, plain, the gateway's) absorb first varies by host.
        const payload = 'y'.repeat(64000);
        const slowCloses = async () => metricSum(await metrics(nf),
            /^herald_notifier_(slow_reader_closes_total|link_slow_closes_total)$/);
        let steps = 0;
        while (await slowCloses() === 0) {
            assert.ok(++steps <= 400, 'the notifier closed the never-reading client within 400 MB');
            const batch = [];
            for (let i = 0; i < 16; i++) batch.push({ channel: 'flood', data: { steps, i, payload } });
            await publishOk(nf, batch);
        }
        raw.sock.resume();
        assert.equal((await raw.waitClose(30000)).code, 4100);
        raw.destroy();
    });

    test(`${mode}: a wrong app key is refused with 4001, an old protocol version with 4007`, opts, async () => {
        const nf = await notifierIn(mode);
        // The close code itself, as pusher-js gets it (it stops reconnecting on 4001).
        const ws = new WebSocket(`ws://127.0.0.1:${nf.gwPort}/app/wrong-key?protocol=7&client=js&version=8.4.0`);
        const got = [];
        ws.on('message', (d) => got.push(JSON.parse(d.toString())));
        const [code] = await withDeadline(new Promise((resolve, reject) => {
            ws.once('close', (c, why) => resolve([c, String(why)]));
            ws.once('error', reject);
        }), DEADLINE_MS, 'the close');
        assert.equal(code, 4001);
        assert.equal(got.length, 1);
        assert.equal(got[0].event, 'pusher:error');
        assert.equal(JSON.parse(got[0].data).code, 4001);
        // An unsupported protocol version: 4007 the same way.
        const old = await rawConnect(nf.gwPort);
        await old.upgrade(`/app/${APP.key}?protocol=6&client=js&version=2.0.0`);
        const err = JSON.parse((await old.readMessage()).payload.toString());
        assert.equal(err.event, 'pusher:error');
        assert.equal(JSON.parse(err.data).code, 4007);
        assert.equal((await old.waitClose()).code, 4007);
        old.destroy();
        const pc = new PusherClient('wrong-key', {
            cluster: 'herald', wsHost: '127.0.0.1', wsPort: nf.gwPort, forceTLS: false,
            enabledTransports: ['ws'], disableStats: true,
        });
        try {
            // pusher-js reports the pusher:error as a WebSocketError wrapping it.
            const code = await withDeadline(new Promise((resolve) => {
                pc.connection.bind('error', (err) => {
                    const c = err?.error?.data?.code ?? err?.data?.code;
                    if (c !== undefined) resolve(c);
                });
            }), DEADLINE_MS, 'an error with a code');
            assert.equal(code, 4001);
        } finally {
            pc.disconnect();
        }
    });
    }
});

/* ---- Pusher sessions on a herald-link, seen from a raw link (docs/link.md) ---- */

const LINK = { HELLO: 1, OPEN: 2, DATA: 3, BCAST: 10 };

function linkFrame(type, session, payload = Buffer.alloc(0), flags = 0) {
    const h = Buffer.alloc(10);
    h[0] = type;
    h[1] = flags; // DATA: the WebSocket opcode
    h.writeUInt32BE(session, 2);
    h.writeUInt32BE(payload.length, 6);
    return Buffer.concat([h, payload]);
}

/** A raw version-2 link (BCAST, no CREDITS) to a notifier's --link-listen. */
async function rawLink(port) {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => {});
    const link = { sock, frames: [] };
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 10 && buf.length >= 10 + buf.readUInt32BE(6)) {
            const len = buf.readUInt32BE(6);
            link.frames.push({ type: buf[0], session: buf.readUInt32BE(2), payload: Buffer.from(buf.subarray(10, 10 + len)) });
            buf = buf.subarray(10 + len);
        }
    });
    await new Promise((r) => sock.once('connect', r));
    sock.write(linkFrame(LINK.HELLO, 0, Buffer.from([0x48, 0x52, 0x4c, 0x4b, 0, 2])));
    const str = (v) => { const b = Buffer.from(v); const n = Buffer.alloc(2); n.writeUInt16BE(b.length); return [n, b]; };
    link.open = (id, target) => sock.write(linkFrame(LINK.OPEN, id,
        Buffer.concat([...str('127.0.0.1:1'), ...str(target), ...str(''), ...str(''), Buffer.alloc(2)])));
    link.send = (id, msg) => sock.write(linkFrame(LINK.DATA, id, Buffer.from(JSON.stringify(msg)), 1));
    /** Every message session id got, parsed, from DATA and BCAST frames. */
    link.messages = (id) => {
        const out = [];
        for (const f of link.frames) {
            if (f.type === LINK.DATA && f.session === id) out.push(JSON.parse(f.payload.toString()));
            if (f.type === LINK.BCAST) {
                const n = f.payload.readUInt16BE(0);
                const ids = Array.from({ length: n }, (_, i) => f.payload.readUInt32BE(2 + 4 * i));
                if (ids.includes(id)) out.push(JSON.parse(f.payload.subarray(2 + 4 * n).toString()));
            }
        }
        return out;
    };
    return link;
}

describe('Pusher sessions on a herald-link', () => {
    test('Herald and Pusher sessions in turn on one link: one BCAST per protocol per event', opts, async () => {
        const linkPort = await freePort();
        const nf = await startNotifier(['--link-listen', `127.0.0.1:${linkPort}`, '--loops', '1',
            '--trusted-proxy', '127.0.0.1/32', ...PUSHER_FLAGS]);
        const link = await rawLink(linkPort);
        const herald = [1, 3, 5, 7], pusher = [2, 4, 6, 8];
        for (let id = 1; id <= 8; id++) link.open(id, herald.includes(id) ? '/ws' : `/app/${APP.key}?protocol=7&client=js`);
        await waitFor(() => [...herald, ...pusher].every((id) => link.messages(id).length > 0), 'every session greeted');
        for (const id of pusher) {
            const hello = link.messages(id)[0];
            assert.equal(hello.event, 'pusher:connection_established');
            assert.match(JSON.parse(hello.data).socket_id, /^\d+\.\d+$/);
        }
        // Subscribed in turn, Herald, Pusher, Herald ...: the hub's order alternates.
        for (let id = 1; id <= 8; id++) {
            const n = link.messages(id).length;
            link.send(id, herald.includes(id) ? { type: 'subscribe', channels: ['news'] }
                : { event: 'pusher:subscribe', data: { channel: 'news' } });
            await waitFor(() => link.messages(id).length > n, `session ${id} subscribed`);
        }
        const from = link.frames.length;
        for (let i = 0; i < 5; i++) await publishOk(nf, { channel: 'news', event: 'tick', data: { i } });
        await waitFor(() => link.frames.length - from >= 10, 'ten frames');
        const got = link.frames.slice(from);
        assert.deepEqual(got.map((f) => f.type), Array(10).fill(LINK.BCAST), 'no DATA: one BCAST per protocol per event');
        for (const [k, f] of got.entries()) {
            const n = f.payload.readUInt16BE(0);
            const ids = Array.from({ length: n }, (_, i) => f.payload.readUInt32BE(2 + 4 * i)).sort();
            const msg = JSON.parse(f.payload.subarray(2 + 4 * n).toString());
            if (ids[0] % 2 === 1) {
                assert.deepEqual(ids, herald);
                assert.equal(msg.type, 'event');
                assert.deepEqual(msg.data, { i: Math.floor(k / 2) });
            } else {
                assert.deepEqual(ids, pusher);
                assert.deepEqual(msg, { event: 'tick', channel: 'news', data: JSON.stringify({ i: Math.floor(k / 2) }) });
            }
        }
        link.sock.destroy();
    });
});

/* ---- presence and client events across notifier instances on one broker ---- */

const CLUSTER = {
    redis: { have: HAVE_REDIS, start: () => startRedis() },
    nats: { have: HAVE_NATS, start: () => startNats() },
    rabbitmq: { have: HAVE_RABBITMQ, start: () => startRabbit() },
};

let room = 0;

for (const [kind, K] of Object.entries(CLUSTER)) {
    describe(`Pusher across two notifier instances on ${kind}`, { skip: !K.have && `no ${kind} server` }, () => {
        let broker = null;
        before(async () => { broker = await K.start(); });
        after(async () => { await broker?.stop(); });

        const instance = (timeout = 3, ...more) => startNotifier(['--broker', broker.url(), '--pusher-app-id', APP.appId,
            '--pusher-key', APP.key, '--pusher-secret', APP.secret, '--pusher-client-events',
            '--pusher-presence-timeout', String(timeout), ...more]);

        test('members across instances, client events not echoed, a killed instance\'s members removed',
            opts, async () => {
                const [nf1, nf2] = [await instance(), await instance()];
                const ch = `presence-room${process.pid}x${++room}`;
                const who = {};
                for (const u of ['ann', 'bob', 'cat']) who[u] = await authEndpoint({ user_id: u, user_info: { name: u } });
                const cat = client(nf2.port, who.cat.url);
                const ann = client(nf1.port, who.ann.url);
                const bob = client(nf2.port, who.bob.url);
                try {
                    assert.notEqual((await connected(ann), ann.connection.socket_id),
                        (await connected(cat), cat.connection.socket_id), 'socket ids differ across instances');
                    // cat (instance 2) hears ann (instance 1) join.
                    const rc = cat.subscribe(ch);
                    assert.equal((await once(rc, 'pusher:subscription_succeeded')).count, 1);
                    const annAdded = once(rc, 'pusher:member_added');
                    const ra = ann.subscribe(ch);
                    await once(ra, 'pusher:subscription_succeeded');
                    assert.equal((await annAdded).id, 'ann');
                    // bob (instance 2) is listed every member, both instances' included.
                    const bobAddedAtAnn = once(ra, 'pusher:member_added');
                    const rb = bob.subscribe(ch);
                    const listed = await once(rb, 'pusher:subscription_succeeded');
                    assert.equal(listed.count, 3);
                    assert.deepEqual(Object.keys(listed.members).sort(), ['ann', 'bob', 'cat']);
                    assert.deepEqual(listed.get('ann').info, { name: 'ann' });
                    assert.equal((await bobAddedAtAnn).id, 'bob');

                    // The HTTP API's channel queries: user_count and users
                    // across instances, subscription_count per instance.
                    await waitFor(async () => {
                        const r = await server(nf1).get({ path: `/channels/${ch}/users` });
                        return (await r.json()).users.length === 3;
                    }, 'instance 1 knows the three members');
                    const get = async (nf, path, params) => {
                        const r = await server(nf).get({ path, params });
                        assert.equal(r.status, 200);
                        return r.json();
                    };
                    const list = await get(nf1, '/channels', { filter_by_prefix: 'presence-', info: 'user_count' });
                    assert.deepEqual(list.channels[ch], { user_count: 3 });
                    const one = await get(nf1, `/channels/${ch}`, { info: 'user_count,subscription_count' });
                    assert.deepEqual(one, { occupied: true, user_count: 3, subscription_count: 1 });
                    assert.equal((await get(nf2, `/channels/${ch}`, { info: 'subscription_count' })).subscription_count, 2);
                    const ids = (await get(nf1, `/channels/${ch}/users`)).users.map((u) => u.id).sort();
                    assert.deepEqual(ids, ['ann', 'bob', 'cat']);
                    assert.deepEqual(await get(nf1, '/channels/presence-nobody', {}), { occupied: false });
                    await assert.rejects(server(nf1).get({ path: '/channels', params: { info: 'user_count' } }),
                        (e) => e.status === 400, 'user_count needs the presence- prefix');

                    // A client event from ann reaches bob and cat (the other
                    // instance) with her user id, and never ann herself.
                    const seenByAnn = [];
                    ra.bind_global((ev) => seenByAnn.push(ev));
                    const atBob = new Promise((resolve) => rb.bind('client-typing', (d, meta) => resolve([d, meta])));
                    const atCat = once(rc, 'client-typing');
                    assert.equal(ra.trigger('client-typing', { who: 'ann' }), true);
                    const [d, meta] = await withDeadline(atBob, DEADLINE_MS, 'client event at bob');
                    assert.deepEqual(d, { who: 'ann' });
                    assert.equal(meta?.user_id, 'ann');
                    assert.deepEqual(await atCat, { who: 'ann' });
                    // socket_id on the HTTP API (pusher's trigger params):
                    // everyone but that connection, whichever instance took
                    // the request, through the broker.
                    for (const nf of [nf2, nf1]) {
                        const got = [once(rb, 'skip'), once(rc, 'skip')];
                        await server(nf).trigger(ch, 'skip', 1, { socket_id: ann.connection.socket_id });
                        await Promise.all(got);
                    }
                    const marker = once(ra, 'marker');
                    await server(nf2).trigger(ch, 'marker', 1);
                    await marker;
                    assert.deepEqual(seenByAnn.filter((e) => !e.startsWith('pusher')), ['marker'],
                        'ann sees neither her own client event nor the events that excluded her');

                    // bob leaves on instance 2: ann on instance 1 hears it.
                    const bobGone = [once(ra, 'pusher:member_removed'), once(rc, 'pusher:member_removed')];
                    bob.unsubscribe(ch);
                    for (const gone of bobGone) assert.equal((await gone).id, 'bob');

                    // Instance 1 is killed: cat hears ann removed once its
                    // heartbeats stop (--pusher-presence-timeout).
                    const annGone = once(rc, 'pusher:member_removed');
                    await nf1.stop('SIGKILL');
                    nf1.exitInfo = { ...nf1.exitInfo, signal: 'SIGKILL (by the test)' };
                    assert.equal((await withDeadline(annGone, DEADLINE_MS + 10000, 'member_removed')).id, 'ann');
                    assert.equal(rc.members.count, 1);
                } finally {
                    for (const pc of [ann, bob, cat]) pc.disconnect();
                    for (const a of Object.values(who)) a.srv.close();
                }
            });

        test('through herald-gateways on links: members and client events across instances', opts, async () => {
            const flags = ['--pusher-client-events', '--pusher-presence-timeout', '3'];
            const nf1 = await behindGateway('link', flags, { broker: broker.url() });
            const nf2 = await behindGateway('link', flags, { broker: broker.url() });
            const ch = `presence-gw${process.pid}x${++room}`;
            const a = await authEndpoint({ user_id: 'ann', user_info: { name: 'Ann' } });
            const b = await authEndpoint({ user_id: 'bob', user_info: { name: 'Bob' } });
            const ann = client(nf1.gwPort, a.url);
            const bob = client(nf2.gwPort, b.url);
            try {
                const ra = ann.subscribe(ch);
                assert.equal((await once(ra, 'pusher:subscription_succeeded')).count, 1);
                const bobAdded = once(ra, 'pusher:member_added');
                const rb = bob.subscribe(ch);
                const listed = await once(rb, 'pusher:subscription_succeeded');
                assert.deepEqual(Object.keys(listed.members).sort(), ['ann', 'bob']);
                assert.deepEqual(listed.get('ann').info, { name: 'Ann' });
                assert.deepEqual((await bobAdded).info, { name: 'Bob' });
                assert.equal(await linkSessions(nf1), 1, 'ann rides a link to instance 1');
                assert.equal(await linkSessions(nf2), 1, 'bob rides a link to instance 2');
                const atAnn = new Promise((resolve) => ra.bind('client-typing', (d, meta) => resolve([d, meta])));
                assert.equal(rb.trigger('client-typing', { who: 'bob' }), true);
                const [d, meta] = await withDeadline(atAnn, DEADLINE_MS, 'client event at ann');
                assert.deepEqual(d, { who: 'bob' });
                assert.equal(meta?.user_id, 'bob');
                const gone = once(ra, 'pusher:member_removed');
                bob.disconnect();
                assert.equal((await gone).id, 'bob');
            } finally {
                ann.disconnect();
                bob.disconnect();
                a.srv.close();
                b.srv.close();
            }
        });

        test('a new instance learns the members already present', opts, async () => {
            const nf1 = await instance();
            const ch = `presence-late${process.pid}x${++room}`;
            const a = await authEndpoint({ user_id: 'ann', user_info: null });
            const b = await authEndpoint({ user_id: 'bob', user_info: null });
            const ann = client(nf1.port, a.url);
            let bob = null;
            try {
                const ra = ann.subscribe(ch);
                await once(ra, 'pusher:subscription_succeeded');
                const nf2 = await instance();
                bob = client(nf2.port, b.url);
                const rb = bob.subscribe(ch);
                const joined = once(ra, 'pusher:member_added');
                await once(rb, 'pusher:subscription_succeeded');
                assert.equal((await joined).id, 'bob');
                // Listed at once, or added as soon as instance 1 answers the new one's hello.
                await waitFor(() => rb.members.get('ann') !== null, 'ann known at the new instance');
                assert.equal(rb.members.count, 2);
            } finally {
                ann.disconnect();
                bob?.disconnect();
                a.srv.close();
                b.srv.close();
            }
        });

        // A graceful stop says bye: with a presence timeout far longer than
        // every deadline here, only the bye can explain a member_removed.
        const LONG = Math.max(60, 3 * Math.ceil(DEADLINE_MS / 1000));

        test('SIGTERM: the others remove the stopping instance\'s members at once, every loop\'s', opts, async () => {
            const nfA = await instance(LONG);
            const nfB = await instance(LONG, '--loops', '2');
            const ch = `presence-bye${process.pid}x${++room}`;
            const who = {};
            for (const u of ['ann', 'bob', 'cat']) who[u] = await authEndpoint({ user_id: u, user_info: null });
            const cat = client(nfA.port, who.cat.url);
            const ann = client(nfB.port, who.ann.url);
            const bob = client(nfB.port, who.bob.url);
            try {
                await connected(ann);
                await connected(bob);
                const loopOf = (pc) => pc.connection.socket_id.split('.')[0];
                assert.notEqual(loopOf(ann), loopOf(bob), 'ann and bob live on the two loops of B');
                const rc = cat.subscribe(ch);
                await once(rc, 'pusher:subscription_succeeded');
                for (const [pc, id] of [[ann, 'ann'], [bob, 'bob']]) {
                    const added = once(rc, 'pusher:member_added');
                    await once(pc.subscribe(ch), 'pusher:subscription_succeeded');
                    assert.equal((await added).id, id);
                }
                const removed = [];
                const bothGone = withDeadline(new Promise((resolve) => rc.bind('pusher:member_removed', (m) => {
                    removed.push(m.id);
                    if (removed.length === 2) resolve();
                })), DEADLINE_MS, 'member_removed for both of B\'s users');
                const exit = await nfB.stop('SIGTERM');
                assert.equal(exit.code, 0, `B stopped cleanly: ${JSON.stringify(exit)}`);
                await bothGone;
                assert.deepEqual(removed.sort(), ['ann', 'bob']);
                assert.equal(rc.members.count, 1);
            } finally {
                for (const pc of [ann, bob, cat]) pc.disconnect();
                for (const a of Object.values(who)) a.srv.close();
            }
        });

        test('SIGTERM: a user still connected on another instance is not removed', opts, async () => {
            const nfA = await instance(LONG);
            const nfB = await instance(LONG);
            const ch = `presence-stay${process.pid}x${++room}`;
            const who = {};
            for (const u of ['ann', 'bob', 'cat']) who[u] = await authEndpoint({ user_id: u, user_info: null });
            const cat = client(nfA.port, who.cat.url);
            const annA = client(nfA.port, who.ann.url);
            const annB = client(nfB.port, who.ann.url);
            const bob = client(nfB.port, who.bob.url);
            try {
                const rc = cat.subscribe(ch);
                await once(rc, 'pusher:subscription_succeeded');
                // ann joins on B first (so A knows that connection), then on A too.
                let added = once(rc, 'pusher:member_added');
                await once(annB.subscribe(ch), 'pusher:subscription_succeeded');
                assert.equal((await added).id, 'ann');
                await once(annA.subscribe(ch), 'pusher:subscription_succeeded');
                added = once(rc, 'pusher:member_added');
                await once(bob.subscribe(ch), 'pusher:subscription_succeeded');
                assert.equal((await added).id, 'bob', 'ann\'s second connection added no one');
                const removed = [];
                rc.bind('pusher:member_removed', (m) => removed.push(m.id));
                const bobGone = once(rc, 'pusher:member_removed');
                const exit = await nfB.stop('SIGTERM');
                assert.equal(exit.code, 0, `B stopped cleanly: ${JSON.stringify(exit)}`);
                assert.equal((await bobGone).id, 'bob');
                // Everything A sent on the bye came before this event.
                const marker = once(rc, 'marker');
                await server(nfA).trigger(ch, 'marker', 1);
                await marker;
                assert.deepEqual(removed, ['bob'], 'ann still has her connection on A');
                assert.notEqual(rc.members.get('ann'), null);
                assert.equal(rc.members.count, 2);
            } finally {
                for (const pc of [annA, annB, bob, cat]) pc.disconnect();
                for (const a of Object.values(who)) a.srv.close();
            }
        });
    });
}

/* ---- the bye when the broker cannot take it ---- */

describe('Pusher presence: SIGTERM without a working broker', { skip: !HAVE_REDIS && 'no redis server' }, () => {
    test('a hung broker (bounded wait for the bye) or a gone one: the notifier still stops cleanly', opts, async () => {
        const redis = await startRedis();
        const start = () => startNotifier(['--broker', redis.url(), '--pusher-app-id', APP.appId,
            '--pusher-key', APP.key, '--pusher-secret', APP.secret, '--pusher-presence-timeout', '60']);
        const a = await authEndpoint({ user_id: 'ann', user_info: null });
        const pcs = [];
        try {
            for (const how of ['hung', 'gone']) {
                const nf = await start();
                const pc = client(nf.port, a.url);
                pcs.push(pc);
                await once(pc.subscribe(`presence-nobroker${process.pid}x${++room}`), 'pusher:subscription_succeeded');
                if (how === 'hung') redis.proc.kill('SIGSTOP'); // the connection stays, nothing answers
                else await redis.stop();
                // A stop that hung would end in the harness's SIGKILL.
                const exit = await nf.stop('SIGTERM');
                if (how === 'hung') redis.proc.kill('SIGCONT');
                assert.equal(exit.code, 0, `${how} broker: stopped cleanly ${JSON.stringify(exit)}`);
                if (how === 'hung') assert.match(nf.stderr(), /presence bye instances=\d+/, 'the bye was sent');
            }
        } finally {
            for (const pc of pcs) pc.disconnect();
            a.srv.close();
            await redis.stop();
        }
    });
});
