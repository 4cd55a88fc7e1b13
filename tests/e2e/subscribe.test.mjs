// Client protocol on herald-notifier (SPEC §2): welcome, subscribe and
// unsubscribe replies, ?channels= at connect, event shape, and command
// errors (bad_request, too_many_channels, 1008 after repeated bad commands).

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
    connect, connectWelcome, expectRefused, frame, OP, publishOk, rawConnect, startNotifier, stopAll, test,
} from './lib/harness.mjs';

let n = 0;
const uniq = (p = 'ch') => `${p}${process.pid}_${++n}`;

describe('welcome and subscriptions', () => {
    let srv;
    before(async () => { srv = await startNotifier(); });
    after(stopAll);

    test('first message is a welcome with a connection id and user null', async () => {
        const c = await connect(srv.wsUrl());
        const w = await c.next();
        assert.equal(w.type, 'welcome');
        assert.equal(typeof w.connection, 'string');
        assert.ok(w.connection.length > 0, 'connection id is not empty');
        assert.deepEqual(w, { type: 'welcome', connection: w.connection, user: null });
        const [, w2] = await connectWelcome(srv.wsUrl());
        assert.notEqual(w2.connection, w.connection, 'connection ids differ');
    });

    test('an upgrade on another path than /ws is refused with 404 (the same through the gateway)', async () => {
        for (const p of ['/other', '/wsx', '/ws/extra', '/']) {
            assert.equal((await expectRefused(srv.wsUrl(p))).statusCode, 404, p);
        }
    });

    test('subscribe replies subscribed with the channels and ref echoed', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const b = uniq();
        const r = await c.request({ type: 'subscribe', channels: [a, b], ref: '1' });
        assert.equal(r.type, 'subscribed');
        assert.deepEqual(r.channels, [a, b]);
        assert.equal(r.ref, '1');
        if ('recovered' in r) assert.equal(r.recovered, true);
        const keys = Object.keys(r).sort();
        assert.ok(keys.every((k) => ['type', 'channels', 'recovered', 'ref'].includes(k)), `unexpected keys ${keys}`);
    });

    test('subscribe without ref replies without ref', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const r = await c.request({ type: 'subscribe', channels: [a] });
        assert.equal(r.type, 'subscribed');
        assert.deepEqual(r.channels, [a]);
        assert.equal(r.ref, undefined);
    });

    test('events have the exact shape {type,channel,id,data}', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        await c.request({ type: 'subscribe', channels: [a], ref: 'x' });
        const id = await publishOk(srv, { channel: a, data: { order: 17, state: 'paid' } });
        assert.equal(typeof id, 'string');
        const e = await c.nextOfType('event');
        assert.deepEqual(e, { type: 'event', channel: a, id, data: { order: 17, state: 'paid' } });
    });

    test('data may be any JSON value', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        await c.request({ type: 'subscribe', channels: [a] });
        const values = [
            { k: 'v' },
            [1, 2, [3, { x: null }]],
            'plain string',
            42,
            -3.5,
            0,
            true,
            false,
            null,
            {},
            [],
            '',
            { 'ünïcödé': 'héllo wörld ✓ 日本語 🚀', esc: 'quote " backslash \\ nl \n tab \t ctl \u0001' },
            { deep: { deeper: { deepest: [{ a: [{ b: [{ c: 'z' }] }] }] } } },
        ];
        const ids = [];
        for (const v of values) ids.push(await publishOk(srv, { channel: a, data: v }));
        const evs = await c.events(values.length);
        for (let i = 0; i < values.length; i++) {
            assert.equal(evs[i].channel, a);
            assert.equal(evs[i].id, ids[i]);
            assert.deepEqual(evs[i].data, values[i], `value #${i}`);
        }
    });

    test('?channels= subscribes at connect', async () => {
        const a = uniq();
        const b = uniq();
        const c = await connect(srv.wsUrl('/ws', { channels: `${a},${b}` }));
        const w = await c.next();
        assert.equal(w.type, 'welcome', 'welcome comes first');
        const idA = await publishOk(srv, { channel: a, data: 1 });
        const idB = await publishOk(srv, { channel: b, data: 2 });
        const evs = await c.events(2);
        assert.deepEqual(evs.map((e) => [e.channel, e.id, e.data]), [[a, idA, 1], [b, idB, 2]]);
    });

    test('only subscribed channels are delivered', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const other = uniq();
        await c.request({ type: 'subscribe', channels: [a] });
        await publishOk(srv, { channel: other, data: 'not for you' });
        const id = await publishOk(srv, { channel: a, data: 'yours' });
        const e = await c.nextOfType('event');
        assert.equal(e.id, id);
        assert.equal(e.data, 'yours');
    });

    test('unsubscribe replies unsubscribed with ref and stops delivery', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const b = uniq();
        await c.request({ type: 'subscribe', channels: [a, b], ref: 's' });
        const r = await c.request({ type: 'unsubscribe', channels: [a], ref: '2' });
        assert.deepEqual(r, { type: 'unsubscribed', channels: [a], ref: '2' });
        await publishOk(srv, { channel: a, data: 'gone' });
        const idB = await publishOk(srv, { channel: b, data: 'still here' });
        const e = await c.nextOfType('event');
        assert.equal(e.channel, b, 'the unsubscribed channel is not delivered');
        assert.equal(e.id, idB);
    });

    test('subscribing twice does not duplicate events', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const b = uniq();
        await c.request({ type: 'subscribe', channels: [a], ref: '1' });
        await c.request({ type: 'subscribe', channels: [a, b], ref: '2' });
        const idA = await publishOk(srv, { channel: a, data: 'once' });
        const idB = await publishOk(srv, { channel: b, data: 'sentinel' });
        const evs = await c.events(2);
        assert.deepEqual(evs.map((e) => e.id), [idA, idB]);
    });

    test('every subscriber of a channel receives its events (fan-out)', async () => {
        const a = uniq();
        const clients = [];
        for (let i = 0; i < 20; i++) {
            const [c] = await connectWelcome(srv.wsUrl());
            await c.request({ type: 'subscribe', channels: [a] });
            clients.push(c);
        }
        const id = await publishOk(srv, { channel: a, data: { fan: 'out' } });
        for (const c of clients) {
            const e = await c.nextOfType('event');
            assert.equal(e.id, id);
        }
    });

    test('?channels= with an invalid name: welcome, then bad_request, connection open', async () => {
        const c = await connect(srv.wsUrl('/ws', { channels: `${uniq()},bad name` }));
        assert.equal((await c.next()).type, 'welcome');
        const e = await c.nextOfType('error');
        assert.equal(e.code, 'bad_request');
        const a = uniq();
        assert.equal((await c.request({ type: 'subscribe', channels: [a] })).type, 'subscribed');
        const id = await publishOk(srv, { channel: a, data: 1 });
        assert.equal((await c.nextOfType('event')).id, id);
    });

    test('?channels= naming a protected channel: welcome, then forbidden, connection open', async () => {
        const c = await connect(srv.wsUrl('/ws', { channels: 'user:bob' }));
        assert.equal((await c.next()).type, 'welcome');
        const e = await c.nextOfType('error');
        assert.equal(e.code, 'forbidden');
        const a = uniq();
        assert.equal((await c.request({ type: 'subscribe', channels: [a] })).type, 'subscribed');
    });

    test('the default --max-channels is 128', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const names = [];
        for (let i = 0; i < 128; i++) names.push(uniq('many'));
        const r = await c.request({ type: 'subscribe', channels: names.slice(0, 100), ref: 'a' });
        assert.equal(r.type, 'subscribed');
        const r2 = await c.request({ type: 'subscribe', channels: names.slice(100), ref: 'b' });
        assert.equal(r2.type, 'subscribed', JSON.stringify(r2));
        const e = await c.request({ type: 'subscribe', channels: [uniq('many')], ref: 'c' });
        assert.equal(e.type, 'error');
        assert.equal(e.code, 'too_many_channels');
        assert.equal(e.ref, 'c');
    });

    test('a client offering permessage-deflate gets the same protocol and events', async () => {
        const a = uniq();
        const clients = [];
        const offers = [
            { threshold: 0 },
            { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
            { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 9 },
            false,
        ];
        for (const pmd of offers) {
            const c = await connect(srv.wsUrl('/ws', { channels: a }), { perMessageDeflate: pmd });
            // docs/protocol.md: negotiated when the client offers it.
            assert.equal(/permessage-deflate/.test(c.ws.extensions), pmd !== false, `offer ${JSON.stringify(pmd)}`);
            assert.equal((await c.next()).type, 'welcome');
            clients.push(c);
        }
        const values = [{ small: 1 }, { big: 'abc'.repeat(50000) }, { rnd: Math.random().toString(36).repeat(100) }, 'last'];
        const ids = [];
        for (const v of values) ids.push(await publishOk(srv, { channel: a, data: v }));
        for (const c of clients) {
            const evs = await c.events(values.length);
            assert.deepEqual(evs.map((e) => e.id), ids);
            assert.deepEqual(evs.map((e) => e.data), values);
        }
        // Commands sent compressed are understood too.
        const b = uniq();
        const r = await clients[0].request({ type: 'subscribe', channels: [b], ref: 'z'.repeat(100) });
        assert.equal(r.type, 'subscribed');
    });

    test('a command split over fragments, with a ping between, is understood', async () => {
        const a = uniq();
        const raw = await rawConnect(srv.wsPort);
        await raw.upgrade('/ws');
        const msg = Buffer.from(JSON.stringify({ type: 'subscribe', channels: [a], ref: 'frag' }));
        raw.write(Buffer.concat([
            frame(OP.TEXT, msg.subarray(0, 5), { fin: false }),
            frame(OP.PING, 'p'),
            frame(OP.CONT, msg.subarray(5, 20), { fin: false }),
            frame(OP.CONT, msg.subarray(20)),
        ]));
        let reply = null;
        let pong = false;
        while (!reply || !pong) {
            const f = await raw.readFrame();
            assert.ok(f, 'connection open');
            if (f.opcode === OP.PONG) { pong = true; continue; }
            if (f.opcode !== OP.TEXT) continue;
            const m = JSON.parse(f.payload.toString());
            if (m.type === 'subscribed' || m.type === 'error') reply = m;
        }
        assert.deepEqual(reply, { type: 'subscribed', channels: [a], recovered: reply.recovered, ref: 'frag' });
        const id = await publishOk(srv, { channel: a, data: 1 });
        for (;;) {
            const f = await raw.readMessage();
            const m = JSON.parse(f.payload.toString());
            if (m.type === 'event') { assert.equal(m.id, id); break; }
        }
    });

    test('refs with any text are echoed exactly', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        for (const ref of ['ü✓ "quoted" \\ back', '0', 'x'.repeat(64)]) {
            const r = await c.request({ type: 'subscribe', channels: [uniq()], ref });
            assert.equal(r.ref, ref);
        }
    });

    test('unknown fields in a command are ignored', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const r = await c.request({ type: 'subscribe', channels: [a], ref: 'f', future: { x: 1 } });
        assert.equal(r.type, 'subscribed');
        const id = await publishOk(srv, { channel: a, data: 1 });
        assert.equal((await c.nextOfType('event')).id, id);
    });

    test('a channel named twice in one subscribe is delivered once', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const b = uniq();
        const r = await c.request({ type: 'subscribe', channels: [a, a, b] });
        assert.equal(r.type, 'subscribed');
        const idA = await publishOk(srv, { channel: a, data: 1 });
        const idB = await publishOk(srv, { channel: b, data: 2 });
        const evs = await c.events(2);
        assert.deepEqual(evs.map((e) => e.id), [idA, idB]);
    });

    test('a channel name of 128 characters is accepted', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const name = `A-z_0.9@x${'q'.repeat(119)}`;
        assert.equal(name.length, 128);
        const r = await c.request({ type: 'subscribe', channels: [name], ref: 'L' });
        assert.equal(r.type, 'subscribed');
        const id = await publishOk(srv, { channel: name, data: 1 });
        assert.equal((await c.nextOfType('event')).id, id);
    });
});

describe('command errors', () => {
    let srv;
    before(async () => { srv = await startNotifier(); });
    after(stopAll);

    function assertError(m, code, ref) {
        assert.equal(m.type, 'error', `expected an error, got ${JSON.stringify(m)}`);
        assert.equal(m.code, code);
        assert.equal(typeof m.message, 'string');
        if (ref !== undefined) assert.equal(m.ref, ref);
    }

    async function stillWorks(c) {
        const a = uniq();
        const r = await c.request({ type: 'subscribe', channels: [a], ref: 'ok' });
        assert.equal(r.type, 'subscribed', 'the connection still works after the error');
        const id = await publishOk(srv, { channel: a, data: 'alive' });
        assert.equal((await c.nextOfType('event')).id, id);
    }

    test('malformed JSON gets bad_request and the connection stays open', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        assertError(await c.request('{"type":"subscribe",'), 'bad_request');
        assertError(await c.request('not json at all'), 'bad_request');
        await stillWorks(c);
    });

    test('a JSON value that is not a command object gets bad_request', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        for (const bad of ['[1,2]', '"subscribe"', '42', 'null', '{}']) {
            assertError(await c.request(bad), 'bad_request');
        }
        await stillWorks(c);
    });

    test('an unknown type gets bad_request with the ref', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        assertError(await c.request({ type: 'frobnicate', ref: '9' }), 'bad_request', '9');
        await stillWorks(c);
    });

    test('invalid channel names get bad_request with the ref', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const bad = ['has space', 'slash/no', '', 'x'.repeat(129), 'ünï', 'a,b', 'star*', 'q?x'];
        let i = 0;
        for (const name of bad) {
            const ref = `r${i++}`;
            assertError(await c.request({ type: 'subscribe', channels: [name], ref }), 'bad_request', ref);
        }
        await stillWorks(c);
    });

    test('wrong field types get bad_request', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        assertError(await c.request({ type: 'subscribe', ref: 'm' }), 'bad_request', 'm');
        assertError(await c.request({ type: 'subscribe', channels: 'abc', ref: 'n' }), 'bad_request', 'n');
        assertError(await c.request({ type: 'subscribe', channels: [1], ref: 'o' }), 'bad_request', 'o');
        await stillWorks(c);
    });

    test('100 bad commands within a minute close the connection with 1008', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        for (let i = 0; i < 150 && !c.closeInfo; i++) {
            c.send('{bad');
        }
        const { code } = await c.waitClose();
        assert.equal(code, 1008);
        let errors = 0;
        for (const m of c.queue) if (m.type === 'error') errors++;
        assert.ok(errors >= 1, 'errors were sent before the close');
    });

    test('90 bad commands do not close the connection', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        for (let i = 0; i < 90; i++) assertError(await c.request('{bad'), 'bad_request');
        await stillWorks(c);
    });
});

describe('--max-channels', () => {
    let srv;
    before(async () => { srv = await startNotifier(['--max-channels', '2']); });
    after(stopAll);

    test('subscribing past the limit gets too_many_channels', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const b = uniq();
        const r = await c.request({ type: 'subscribe', channels: [a, b], ref: '1' });
        assert.equal(r.type, 'subscribed');
        const e = await c.request({ type: 'subscribe', channels: [uniq()], ref: '2' });
        assert.equal(e.type, 'error');
        assert.equal(e.code, 'too_many_channels');
        assert.equal(e.ref, '2');
        // Still open and still subscribed to a and b.
        const id = await publishOk(srv, { channel: b, data: 1 });
        assert.equal((await c.nextOfType('event')).id, id);
    });

    test('one command asking for more than the limit gets too_many_channels', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const e = await c.request({ type: 'subscribe', channels: [uniq(), uniq(), uniq()], ref: '3' });
        assert.equal(e.type, 'error');
        assert.equal(e.code, 'too_many_channels');
        assert.equal(e.ref, '3');
    });

    test('unsubscribing frees a slot', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        const a = uniq();
        const b = uniq();
        const d = uniq();
        assert.equal((await c.request({ type: 'subscribe', channels: [a, b] })).type, 'subscribed');
        assert.equal((await c.request({ type: 'unsubscribe', channels: [a] })).type, 'unsubscribed');
        const r = await c.request({ type: 'subscribe', channels: [d], ref: '4' });
        assert.equal(r.type, 'subscribed');
        assert.deepEqual(r.channels, [d]);
    });
});
