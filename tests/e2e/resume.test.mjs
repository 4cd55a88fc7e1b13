// Resume with since= on herald-notifier (SPEC §2): subscribed recovered:true
// then exactly the retained events after since, in id order, then live
// events; recovered:false past the history (--history); a cursor over two
// channels merges in id order; the subscribe command's since; no duplicates
// or gaps while events are being published.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe } from 'node:test';
import {
    compareIds, connect, publishOk, startNotifier, stopAll, test,
} from './lib/harness.mjs';

let n = 0;
const uniq = (p = 'res') => `${p}${process.pid}_${++n}`;

async function publishN(srv, channel, count, tag = 'v') {
    const ids = [];
    for (let i = 0; i < count; i++) ids.push(await publishOk(srv, { channel, data: { [tag]: i } }));
    return ids;
}

/** Connects with a query; returns [client, subscribed reply] after the welcome. */
async function connectResume(srv, query) {
    const c = await connect(srv.wsUrl('/ws', query));
    const w = await c.next();
    assert.equal(w.type, 'welcome', `first message ${JSON.stringify(w)}`);
    const s = await c.next();
    assert.equal(s.type, 'subscribed', `after the welcome: ${JSON.stringify(s)}`);
    return [c, s];
}

describe('resume with the default history', () => {
    let srv;
    before(async () => { srv = await startNotifier(); });
    after(stopAll);

    test('?channels=x&since=<5th> -> recovered:true, events 6..10, then live', async () => {
        const x = uniq();
        const ids = await publishN(srv, x, 10);
        const [c, s] = await connectResume(srv, { channels: x, since: ids[4] });
        assert.deepEqual(s.channels, [x]);
        assert.equal(s.recovered, true);
        const evs = await c.events(5);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(5));
        assert.deepEqual(evs.map((e) => e.data.v), [5, 6, 7, 8, 9]);
        for (const e of evs) assert.equal(e.channel, x);
        const live = await publishOk(srv, { channel: x, data: 'live' });
        const next = await c.next();
        assert.equal(next.type, 'event', `no duplicate or stray message: ${JSON.stringify(next)}`);
        assert.equal(next.id, live);
    });

    test('since = the latest id -> recovered:true and nothing replayed', async () => {
        const x = uniq();
        const ids = await publishN(srv, x, 3);
        const [c, s] = await connectResume(srv, { channels: x, since: ids[2] });
        assert.equal(s.recovered, true);
        const live = await publishOk(srv, { channel: x, data: 'live' });
        const e = await c.next();
        assert.equal(e.type, 'event');
        assert.equal(e.id, live);
    });

    test('since over two channels merges them in id order', async () => {
        const a = uniq();
        const b = uniq();
        const ids = [];
        for (let i = 0; i < 10; i++) {
            const ch = i % 3 === 0 ? a : b;
            ids.push([ch, await publishOk(srv, { channel: ch, data: i })]);
        }
        const [c, s] = await connectResume(srv, { channels: `${a},${b}`, since: ids[2][1] });
        assert.equal(s.recovered, true);
        assert.deepEqual([...s.channels].sort(), [a, b].sort());
        const evs = await c.events(7);
        assert.deepEqual(evs.map((e) => [e.channel, e.id]), ids.slice(3));
        for (let i = 1; i < evs.length; i++) assert.ok(compareIds(evs[i - 1].id, evs[i].id) < 0);
    });

    test('events of other channels are not replayed', async () => {
        const x = uniq();
        const other = uniq();
        const first = await publishOk(srv, { channel: x, data: 0 });
        await publishOk(srv, { channel: other, data: 'no' });
        const second = await publishOk(srv, { channel: x, data: 1 });
        const [c] = await connectResume(srv, { channels: x, since: first });
        const e = await c.next();
        assert.equal(e.id, second);
        const live = await publishOk(srv, { channel: x, data: 2 });
        assert.equal((await c.next()).id, live);
    });

    test('the subscribe command with since works the same', async () => {
        const x = uniq();
        const ids = await publishN(srv, x, 10);
        const c = await connect(srv.wsUrl());
        assert.equal((await c.next()).type, 'welcome');
        const s = await c.request({ type: 'subscribe', channels: [x], since: ids[4], ref: '1' });
        assert.deepEqual(s, { type: 'subscribed', channels: [x], recovered: true, ref: '1' });
        const evs = await c.events(5);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(5));
        const live = await publishOk(srv, { channel: x, data: 'live' });
        const next = await c.next();
        assert.equal(next.id, live);
    });

    test('no duplicates and no gaps while events keep coming', async () => {
        const x = uniq();
        const ids = [];
        let stop = false;
        const publisher = (async () => {
            for (let i = 0; i < 300 && !stop; i++) ids.push(await publishOk(srv, { channel: x, data: i }));
        })();
        while (ids.length < 40) await new Promise((r) => setTimeout(r, 5));
        const since = ids[20];
        const c = await connect(srv.wsUrl('/ws', { channels: x, since }));
        assert.equal((await c.next()).type, 'welcome');
        const s = await c.next();
        assert.equal(s.type, 'subscribed');
        assert.equal(s.recovered, true);
        await publisher;
        stop = true;
        const expected = ids.slice(21);
        const evs = await c.events(expected.length, 30000);
        assert.deepEqual(evs.map((e) => e.id), expected);
        const live = await publishOk(srv, { channel: x, data: 'end' });
        assert.equal((await c.next()).id, live, 'nothing extra after the last event');
    });

    test('one since cursor covers every channel of a subscribe command', async () => {
        const a = uniq();
        const b = uniq();
        const seq = [];
        for (let i = 0; i < 8; i++) {
            const ch = i % 2 ? a : b;
            seq.push([ch, await publishOk(srv, { channel: ch, data: i })]);
        }
        const c = await connect(srv.wsUrl());
        assert.equal((await c.next()).type, 'welcome');
        const s = await c.request({ type: 'subscribe', channels: [a, b], since: seq[3][1], ref: 'two' });
        assert.equal(s.type, 'subscribed');
        assert.equal(s.recovered, true);
        const evs = await c.events(4);
        assert.deepEqual(evs.map((e) => [e.channel, e.id]), seq.slice(4));
    });

    test('the default history keeps 1000 events per channel', async () => {
        const x = uniq();
        const ids = [];
        for (let b = 0; b < 10; b++) {
            const items = [];
            for (let i = 0; i < 101; i++) items.push({ channel: x, data: b * 101 + i });
            ids.push(...await publishOk(srv, items));
        }
        // 1010 published: since the 5th is past the history, since the 20th is inside.
        const [c1, s1] = await connectResume(srv, { channels: x, since: ids[4] });
        assert.equal(s1.recovered, false);
        const evs1 = await c1.events(1000, 30000);
        assert.deepEqual(evs1.map((e) => e.id), ids.slice(10));
        const [c2, s2] = await connectResume(srv, { channels: x, since: ids[19] });
        assert.equal(s2.recovered, true);
        const evs2 = await c2.events(990, 30000);
        assert.deepEqual(evs2.map((e) => e.id), ids.slice(20));
    });

    test('a reader resumes over 2 MB of retained history with the default limits', async () => {
        // 1000 events of ~2 KB fit the default history (1000) but not the
        // default send queue (1 MiB) at once: the replay must still arrive.
        const x = uniq();
        const ids = [];
        for (let b = 0; b < 10; b++) {
            const items = [];
            for (let i = 0; i < 100; i++) items.push({ channel: x, data: { b, i, p: crypto.randomBytes(1500).toString('base64') } });
            ids.push(...await publishOk(srv, items));
        }
        const [c, s] = await connectResume(srv, { channels: x, since: ids[0] });
        assert.equal(s.recovered, true);
        const evs = await c.events(999, 60000);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(1));
        const live = await publishOk(srv, { channel: x, data: 'live' });
        assert.equal((await c.next()).id, live);
    });

    test('a multi-channel event replays exactly as it was delivered live', async () => {
        const a = uniq();
        const b = uniq();
        const c = await connect(srv.wsUrl('/ws', { channels: `${a},${b}` }));
        assert.equal((await c.next()).type, 'welcome');
        await c.nextOfType('subscribed');
        const before = await publishOk(srv, { channel: uniq('other'), data: 0 });
        await publishOk(srv, { channels: [a, b], data: 'both' });
        const last = await publishOk(srv, { channel: a, data: 'a only' });
        const live = [];
        while (live.length === 0 || live[live.length - 1].id !== last) live.push(await c.nextOfType('event'));
        const [r, s] = await connectResume(srv, { channels: `${a},${b}`, since: before });
        assert.equal(s.recovered, true);
        const replay = await r.events(live.length);
        assert.deepEqual(replay.map((e) => [e.channel, e.id, e.data]), live.map((e) => [e.channel, e.id, e.data]));
        const next = await publishOk(srv, { channel: b, data: 'live' });
        assert.equal((await r.next()).id, next, 'nothing extra after the replay');
    });

    test('a client resumes after reconnecting', async () => {
        const x = uniq();
        const c1 = await connect(srv.wsUrl('/ws', { channels: x }));
        assert.equal((await c1.next()).type, 'welcome');
        const ids = await publishN(srv, x, 4);
        const got = await c1.events(2);
        await c1.close();
        ids.push(...await publishN(srv, x, 3, 'w'));
        const [c2, s] = await connectResume(srv, { channels: x, since: got[1].id });
        assert.equal(s.recovered, true);
        const evs = await c2.events(5);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(2));
    });
});

describe('resume past the history age (--history-ttl 1)', () => {
    test('expired events are not replayed and recovered is false', async () => {
        const srv = await startNotifier(['--history-ttl', '1']);
        const x = uniq();
        const ids = await publishN(srv, x, 3);
        // Wait (bounded) until the history has aged out; no timing is asserted.
        let last;
        const end = Date.now() + 15000;
        for (;;) {
            const [c, s] = await connectResume(srv, { channels: x, since: ids[0] });
            if (s.recovered === false) { last = c; break; }
            c.terminate();
            assert.ok(Date.now() < end, 'history never expired with --history-ttl 1');
            await new Promise((r) => setTimeout(r, 250));
        }
        const live = await publishOk(srv, { channel: x, data: 'live' });
        const e = await last.next();
        assert.equal(e.type, 'event');
        assert.equal(e.id, live, 'expired events are not sent');
    });
});

describe('resume past the history (--history 5)', () => {
    let srv;
    before(async () => { srv = await startNotifier(['--history', '5']); });
    after(stopAll);

    test('since older than the history -> recovered:false and the retained events', async () => {
        const x = uniq();
        const ids = await publishN(srv, x, 20);
        const [c, s] = await connectResume(srv, { channels: x, since: ids[0] });
        assert.equal(s.recovered, false);
        const evs = await c.events(5);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(15));
        const live = await publishOk(srv, { channel: x, data: 'live' });
        assert.equal((await c.next()).id, live);
    });

    test('since = the newest evicted id -> recovered:true (nothing after it is lost)', async () => {
        const x = uniq();
        const ids = await publishN(srv, x, 7); // 0 and 1 evicted, 2..6 retained
        const [c, s] = await connectResume(srv, { channels: x, since: ids[1] });
        assert.equal(s.recovered, true);
        const evs = await c.events(5);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(2));
    });

    test('since older than a channel\'s first event, nothing evicted -> recovered:true, all of it', async () => {
        const x = uniq();
        const before = await publishOk(srv, { channel: uniq('other'), data: 0 });
        const ids = await publishN(srv, x, 3);
        const [c, s] = await connectResume(srv, { channels: x, since: before });
        assert.equal(s.recovered, true);
        const evs = await c.events(3);
        assert.deepEqual(evs.map((e) => e.id), ids);
    });

    test('since on a channel with no events -> recovered:true, nothing replayed', async () => {
        const since = await publishOk(srv, { channel: uniq('other'), data: 0 });
        const x = uniq();
        const [c, s] = await connectResume(srv, { channels: x, since });
        assert.equal(s.recovered, true);
        const live = await publishOk(srv, { channel: x, data: 'first' });
        assert.equal((await c.next()).id, live);
    });

    test('since still inside the history -> recovered:true', async () => {
        const x = uniq();
        const ids = await publishN(srv, x, 20);
        const [c, s] = await connectResume(srv, { channels: x, since: ids[15] });
        assert.equal(s.recovered, true);
        const evs = await c.events(4);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(16));
    });

    test('the subscribe command reports recovered:false the same way', async () => {
        const x = uniq();
        const ids = await publishN(srv, x, 12);
        const c = await connect(srv.wsUrl());
        assert.equal((await c.next()).type, 'welcome');
        const s = await c.request({ type: 'subscribe', channels: [x], since: ids[2], ref: 'h' });
        assert.deepEqual(s, { type: 'subscribed', channels: [x], recovered: false, ref: 'h' });
        const evs = await c.events(5);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(7));
    });
});
