// Pusher compatibility (SPEC §8), driven by the unchanged official `pusher`
// server package: its events reach Herald's own clients with broker ids,
// channel names mapped as docs/compat.md says; wrong or stale signatures are
// refused with 401.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe } from 'node:test';
import http from 'node:http';
import Pusher from 'pusher';
import PusherClient from 'pusher-js';
import {
    connectWelcome, directOnly, DEADLINE_MS, freePort, nowS, publish, publishOk, signJwt, spawnServer,
    startNotifier, test, tmpFile, waitFor, withDeadline, WebSocket,
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

async function pusherJsScenario(nf, port) {
    const auth = await authEndpoint();
    const pc = client(port, auth.url);
    try {
        await connected(pc);
        assert.match(pc.connection.socket_id, /^\d+\.\d+$/);
        const pub = pc.subscribe('orders');
        await once(pub, 'pusher:subscription_succeeded');
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

    test('through herald-gateway (plain WebSocket route /app/)', opts, async () => {
        const nf = await notifier();
        const port = await freePort();
        const admin = await freePort();
        const cfg = {
            listen: `127.0.0.1:${port}`,
            admin_listen: `127.0.0.1:${admin}`,
            upstreams: { nf: { servers: [`127.0.0.1:${nf.port}`] } },
            routes: [{ path: '/app/', upstream: 'nf', websocket: true }],
        };
        spawnServer('herald-gateway', ['--config', tmpFile('gateway.yaml', JSON.stringify(cfg))], {}, port);
        await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/healthz`)).status === 200,
            'gateway ready', 20000);
        await pusherJsScenario(nf, port);
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

    test('client events (--pusher-client-events): to the other subscribers, never back to the sender', opts, async () => {
        const nf = await startNotifier(['--pusher-app-id', APP.appId, '--pusher-key', APP.key,
            '--pusher-secret', APP.secret, '--pusher-client-events']);
        const auth = await authEndpoint();
        const pa = client(nf.port, auth.url);
        const pb = client(nf.port, auth.url);
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
            // A server event after it: A sees that one and never its own client event.
            const server = new Pusher({ ...APP, host: '127.0.0.1', port: String(nf.port), useTLS: false });
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

    test('shutdown closes Pusher connections with 4200 (reconnect at once)', opts, async () => {
        const nf = await notifier();
        const ws = new WebSocket(`ws://127.0.0.1:${nf.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
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

    test('a client that does not answer pusher:ping is closed with 4201; one that answers stays', opts, async () => {
        const nf = await startNotifier(['--pusher-app-id', APP.appId, '--pusher-key', APP.key,
            '--pusher-secret', APP.secret, '--pusher-activity-timeout', '1']);
        const url = `ws://127.0.0.1:${nf.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`;
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
        assert.equal(code, 4201);
        assert.match(why, /Pong reply not received/);
        assert.ok(seen.includes('pusher:ping'), 'it was pinged first');
        await withDeadline(twoPings, DEADLINE_MS, 'two pings answered');
        assert.equal(talker.readyState, WebSocket.OPEN, 'answering keeps the connection');
        talker.close();
    });

    test('Pusher clients spread over --loops: presence, client events and socket_id across loops', opts, async () => {
        const nf = await startNotifier(['--loops', '2', '--pusher-app-id', APP.appId, '--pusher-key', APP.key,
            '--pusher-secret', APP.secret, '--pusher-client-events']);
        const a = await authEndpoint({ user_id: 'ann', user_info: null });
        const b = await authEndpoint({ user_id: 'bob', user_info: null });
        const pa = client(nf.port, a.url);
        await connected(pa);
        const pb = client(nf.port, b.url);
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

    test('a wrong app key is refused with 4001', opts, async () => {
        const nf = await notifier();
        const pc = new PusherClient('wrong-key', {
            cluster: 'herald', wsHost: '127.0.0.1', wsPort: nf.port, forceTLS: false,
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

        const instance = () => startNotifier(['--broker', broker.url(), '--pusher-app-id', APP.appId,
            '--pusher-key', APP.key, '--pusher-secret', APP.secret, '--pusher-client-events',
            '--pusher-presence-timeout', '3']);

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
    });
}
