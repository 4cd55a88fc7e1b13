// Publishing API of herald-notifier with the memory broker (SPEC §3):
// POST /publish (single, multi-channel, batch), 400 on bad input with nothing
// published, --api-key, /healthz, /readyz, /metrics, and ordering over
// thousands of events.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe } from 'node:test';
import {
    compareIds, connect, connectWelcome, freePort, gatewayOnly, httpGet, metrics, metricSum, parseMetrics,
    publish, publishOk, startNotifier, stopAll, test, UPSTREAM, waitFor,
} from './lib/harness.mjs';

let n = 0;
const uniq = (p = 'pub') => `${p}${process.pid}_${++n}`;

async function subscriber(srv, channels) {
    const [c] = await connectWelcome(srv.wsUrl());
    const r = await c.request({ type: 'subscribe', channels });
    assert.equal(r.type, 'subscribed');
    return c;
}

function assertIncreasing(ids) {
    for (let i = 1; i < ids.length; i++) {
        assert.ok(compareIds(ids[i - 1], ids[i]) < 0, `ids not increasing at ${i}: ${ids[i - 1]} then ${ids[i]}`);
    }
}

describe('POST /publish', () => {
    let srv;
    before(async () => { srv = await startNotifier(); });
    after(stopAll);

    test('a single event replies 200 {"id"} and is delivered', async () => {
        const a = uniq();
        const c = await subscriber(srv, [a]);
        const r = await publish(srv, { channel: a, data: { hello: 'world' } });
        assert.equal(r.status, 200);
        assert.equal(typeof r.json?.id, 'string', `reply ${r.text}`);
        assert.ok(r.json.id.length > 0);
        const e = await c.nextOfType('event');
        assert.deepEqual(e, { type: 'event', channel: a, id: r.json.id, data: { hello: 'world' } });
    });

    test('a body sent as curl -d sends it (form Content-Type) is accepted', async () => {
        const a = uniq();
        const c = await subscriber(srv, [a]);
        const r = await publish(srv, JSON.stringify({ channel: a, data: 'curl' }), { 'content-type': 'application/x-www-form-urlencoded' });
        assert.equal(r.status, 200, r.text);
        assert.equal((await c.nextOfType('event')).id, r.json.id);
    });

    test('publishing to a channel nobody reads still succeeds', async () => {
        const r = await publish(srv, { channel: uniq(), data: 1 });
        assert.equal(r.status, 200);
        assert.equal(typeof r.json.id, 'string');
    });

    test('ids increase in publish order', async () => {
        const a = uniq();
        const ids = [];
        for (let i = 0; i < 20; i++) ids.push(await publishOk(srv, { channel: a, data: i }));
        assertIncreasing(ids);
    });

    test('"channels":[a,b] delivers to both channels', async () => {
        const a = uniq();
        const b = uniq();
        const ca = await subscriber(srv, [a]);
        const cb = await subscriber(srv, [b]);
        const r = await publish(srv, { channels: [a, b], data: { multi: true } });
        assert.equal(r.status, 200, r.text);
        assert.equal(typeof r.json.id, 'string');
        const ea = await ca.nextOfType('event');
        const eb = await cb.nextOfType('event');
        assert.equal(ea.channel, a);
        assert.equal(eb.channel, b);
        assert.deepEqual(ea.data, { multi: true });
        assert.deepEqual(eb.data, { multi: true });
        assert.equal(ea.id, r.json.id);
        assert.equal(eb.id, r.json.id);
    });

    test('a batch replies {"ids":[...]} and delivers in order', async () => {
        const a = uniq();
        const b = uniq();
        const c = await subscriber(srv, [a, b]);
        const batch = [
            { channel: a, data: 1 },
            { channel: b, data: 'two' },
            { channel: a, data: [3] },
        ];
        const r = await publish(srv, batch);
        assert.equal(r.status, 200, r.text);
        assert.ok(Array.isArray(r.json.ids), `reply ${r.text}`);
        assert.equal(r.json.ids.length, 3);
        assertIncreasing(r.json.ids);
        const evs = await c.events(3);
        assert.deepEqual(evs.map((e) => [e.channel, e.id, e.data]),
            [[a, r.json.ids[0], 1], [b, r.json.ids[1], 'two'], [a, r.json.ids[2], [3]]]);
    });

    test('data strings may hold any character, \\u0000 included (any JSON value)', async () => {
        const a = uniq();
        const c = await subscriber(srv, [a]);
        const body = `{"channel":"${a}","data":{"s":"nul \\u0000 here","t":"\\u001f\\u007f\\ud83d\\ude80"}}`;
        const r = await publish(srv, body);
        assert.equal(r.status, 200, r.text);
        const e = await c.nextOfType('event');
        assert.deepEqual(e.data, { s: 'nul \u0000 here', t: '\u001f\u007f🚀' });
    });

    test('a chunked request body is accepted', async () => {
        const a = uniq();
        const c = await subscriber(srv, [a]);
        const text = JSON.stringify({ channel: a, data: { chunked: 'x'.repeat(5000) } });
        const stream = new ReadableStream({
            start(ctl) {
                for (let i = 0; i < text.length; i += 1000) ctl.enqueue(new TextEncoder().encode(text.slice(i, i + 1000)));
                ctl.close();
            },
        });
        const r = await fetch(`${srv.base}/publish`, {
            method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': 'application/json' },
        });
        const reply = await r.json();
        assert.equal(r.status, 200);
        const e = await c.nextOfType('event');
        assert.equal(e.id, reply.id);
        assert.equal(e.data.chunked.length, 5000);
    });

    test('Expect: 100-continue (curl for larger bodies) is honoured', async () => {
        const a = uniq();
        const c = await subscriber(srv, [a]);
        const body = JSON.stringify({ channel: a, data: 'x'.repeat(4000) });
        const status = await new Promise((resolve, reject) => {
            const req = http.request(`${srv.base}/publish`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
            });
            req.on('continue', () => req.end(body));
            req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
            req.on('error', reject);
            req.setTimeout(10000, () => req.destroy(new Error('no answer to Expect: 100-continue')));
        });
        assert.equal(status, 200);
        assert.equal((await c.nextOfType('event')).data.length, 4000);
    });

    test('protected channels can be published to (the API is internal)', async () => {
        const r = await publish(srv, { channel: 'user:someone', data: 1 });
        assert.equal(r.status, 200, r.text);
    });

    // Each bad request is followed by a good one on a sentinel channel; the
    // subscriber's first event must be the sentinel: nothing else was published.
    async function assertRejected(body, what) {
        const a = uniq('rej');
        const sentinel = uniq('sent');
        const c = await subscriber(srv, [a, sentinel]);
        const bodyStr = typeof body === 'function' ? body(a) : body;
        const r = await publish(srv, bodyStr);
        assert.equal(r.status, 400, `${what}: status ${r.status} ${r.text}`);
        assert.notEqual(r.json, undefined, `${what}: the 400 body is JSON (got ${JSON.stringify(r.text)})`);
        const id = await publishOk(srv, { channel: sentinel, data: 'sentinel' });
        const e = await c.nextOfType('event');
        assert.equal(e.id, id, `${what}: something was published: ${JSON.stringify(e)}`);
    }

    test('invalid JSON -> 400, nothing published', async () => {
        await assertRejected((a) => `{"channel":"${a}","data":1`, 'truncated JSON');
        await assertRejected((a) => `{"channel":"${a}","data":tru}`, 'bad literal');
        await assertRejected('not json', 'plain text');
    });

    test('empty body -> 400', async () => {
        await assertRejected('', 'empty body');
    });

    test('missing data -> 400, nothing published', async () => {
        await assertRejected((a) => JSON.stringify({ channel: a }), 'no data');
    });

    test('bad or missing channel -> 400', async () => {
        await assertRejected(JSON.stringify({ channel: 'bad name', data: 1 }), 'space in name');
        await assertRejected(JSON.stringify({ channel: '', data: 1 }), 'empty name');
        await assertRejected(JSON.stringify({ channel: 'x'.repeat(129), data: 1 }), '129 chars');
        await assertRejected(JSON.stringify({ channel: 7, data: 1 }), 'number name');
        await assertRejected(JSON.stringify({ data: 1 }), 'no channel');
        await assertRejected((a) => JSON.stringify({ channels: [a, 'bad/name'], data: 1 }), 'one bad of channels');
    });

    test('a JSON body that is not an event -> 400', async () => {
        await assertRejected('42', 'number');
        await assertRejected('"str"', 'string');
        await assertRejected('null', 'null');
    });

    test('a batch with one bad item -> 400 and nothing of it is published', async () => {
        await assertRejected((a) => JSON.stringify([
            { channel: a, data: 1 },
            { channel: a, data: 2 },
            { channel: 'bad name', data: 3 },
        ]), 'bad channel in batch');
        await assertRejected((a) => JSON.stringify([
            { channel: a, data: 1 },
            { channel: a },
        ]), 'missing data in batch');
    });
});

describe('ordering', () => {
    let srv;
    before(async () => { srv = await startNotifier(); });
    after(stopAll);

    test('5,000 events published in batches arrive in id order, none missing', async () => {
        const a = uniq('order');
        const c = await subscriber(srv, [a]);
        const c2 = await subscriber(srv, [a]);
        const all = [];
        for (let batch = 0; batch < 50; batch++) {
            const items = [];
            for (let i = 0; i < 100; i++) items.push({ channel: a, data: { seq: batch * 100 + i } });
            const ids = await publishOk(srv, items);
            assert.equal(ids.length, 100);
            all.push(...ids);
        }
        assertIncreasing(all);
        for (const client of [c, c2]) {
            const evs = await client.events(5000, 60000);
            for (let i = 0; i < 5000; i++) {
                if (evs[i].id !== all[i] || evs[i].data.seq !== i) {
                    assert.fail(`event ${i}: got id ${evs[i].id} seq ${evs[i].data.seq}, expected ${all[i]} seq ${i}`);
                }
            }
        }
    });

    test('concurrent publishers: one channel is delivered in strictly increasing id order', async () => {
        const a = uniq('conc');
        const c = await subscriber(srv, [a]);
        const publishers = [];
        for (let p = 0; p < 8; p++) {
            publishers.push((async () => {
                const ids = [];
                for (let i = 0; i < 50; i++) ids.push(await publishOk(srv, { channel: a, data: { p, i } }));
                return ids;
            })());
        }
        const idLists = await Promise.all(publishers);
        for (const l of idLists) assertIncreasing(l);
        const expected = idLists.flat().sort(compareIds);
        const evs = await c.events(expected.length, 60000);
        const got = evs.map((e) => e.id);
        assertIncreasing(got);
        assert.deepEqual(got, expected);
        // Per publisher, its own events keep their order.
        const lastI = new Map();
        for (const e of evs) {
            const prev = lastI.get(e.data.p) ?? -1;
            assert.equal(e.data.i, prev + 1);
            lastI.set(e.data.p, e.data.i);
        }
    });
});

describe('--api-key', () => {
    let srv;
    before(async () => { srv = await startNotifier(['--api-key', 'k3y-s3cret']); });
    after(stopAll);

    test('publish without a bearer -> 401', async () => {
        const r = await publish(srv, { channel: 'x', data: 1 });
        assert.equal(r.status, 401);
    });

    test('publish with a wrong bearer -> 401', async () => {
        for (const h of ['Bearer wrong', 'Bearer k3y-s3cre', 'Bearer k3y-s3cret2', 'k3y-s3cret', 'Basic k3y-s3cret']) {
            const r = await publish(srv, { channel: 'x', data: 1 }, { authorization: h });
            assert.equal(r.status, 401, `Authorization: ${h}`);
        }
    });

    test('publish with the bearer -> 200 and delivered; 401 publishes nothing', async () => {
        const a = uniq();
        const c = await subscriber(srv, [a]);
        assert.equal((await publish(srv, { channel: a, data: 'no' })).status, 401);
        const r = await publish(srv, { channel: a, data: 'yes' }, { authorization: 'Bearer k3y-s3cret' });
        assert.equal(r.status, 200, r.text);
        const e = await c.nextOfType('event');
        assert.equal(e.id, r.json.id);
        assert.equal(e.data, 'yes');
    });
});

describe('broker not connected', () => {
    test('/readyz is 503 and /healthz 200 while the broker is unreachable; clients still connect', async () => {
        const dead = await freePort(); // nothing listens there
        const srv = await startNotifier(['--broker', `redis://127.0.0.1:${dead}`], { readyPath: '/healthz' });
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
        assert.equal((await httpGet(srv, '/readyz')).status, 503);
        const [, w] = await connectWelcome(srv.wsUrl());
        assert.equal(w.type, 'welcome');
    });
});

describe('health and metrics', () => {
    let srv;
    before(async () => { srv = await startNotifier(); });
    after(stopAll);

    test('/healthz and /readyz answer 200', async () => {
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
        assert.equal((await httpGet(srv, '/readyz')).status, 200);
    });

    test('/metrics is Prometheus text with herald_ metrics', async () => {
        const r = await httpGet(srv, '/metrics');
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type') || '', /^text\/plain/);
        const samples = parseMetrics(r.text);
        assert.ok(samples.some((s) => s.name.startsWith('herald_')), 'has herald_ samples');
        assert.match(r.text, /^# TYPE herald_\S+ (counter|gauge|histogram|summary|untyped)$/m);
    });

    test('metric names follow herald_<component>_<thing>_<unit>, counters end in _total', async () => {
        const r = await httpGet(srv, '/metrics');
        const types = [...r.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
        assert.ok(types.length > 0);
        for (const [name, type] of types) {
            assert.match(name, /^herald_[a-z0-9]+_[a-z0-9_]+$/, `metric name ${name}`);
            if (type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
        }
    });

    test('connection, publish and delivery counters move', async () => {
        const m0 = await metrics(srv);
        const a = uniq('met');
        const c = await subscriber(srv, [a]);
        for (let i = 0; i < 5; i++) await publishOk(srv, { channel: a, data: i });
        await c.events(5);
        const m1 = await waitFor(async () => {
            const m = await metrics(srv);
            const ok = metricSum(m, /connection/) > metricSum(m0, /connection/)
                && metricSum(m, /publish/) >= metricSum(m0, /publish/) + 5
                && metricSum(m, /deliver/) >= metricSum(m0, /deliver/) + 5;
            return ok ? m : null;
        }, 'metrics to move').catch(async () => metrics(srv));
        const names = [...new Set(m1.filter((s) => s.name.startsWith('herald_')).map((s) => s.name))].join(' ');
        assert.ok(metricSum(m1, /connection/) > metricSum(m0, /connection/), `a herald_*connection* metric grew (${names})`);
        assert.ok(metricSum(m1, /publish/) >= metricSum(m0, /publish/) + 5, `a herald_*publish* metric grew by 5 (${names})`);
        assert.ok(metricSum(m1, /deliver/) >= metricSum(m0, /deliver/) + 5, `a herald_*deliver* metric grew by 5 (${names})`);
    });

    test('the gateway in front counts the client, and the link in link mode', gatewayOnly('the gateway\'s own metrics'), async () => {
        const a = uniq('gwm');
        const c = await subscriber(srv, [a]);
        const id = await publishOk(srv, { channel: a, data: 'counted' });
        assert.equal((await c.nextOfType('event')).id, id);
        const gm = parseMetrics((await httpGet({ base: srv.gateway.admin }, '/metrics')).text);
        assert.ok(metricSum(gm, /^herald_gateway_ws_connections$/) >= 1, 'the gateway holds the client');
        assert.ok(metricSum(gm, /^herald_gateway_ws_connections_total$/) >= 1);
        const nm = await metrics(srv);
        if (UPSTREAM === 'link') {
            assert.ok(metricSum(gm, /^herald_gateway_links_open$/) >= 1, 'a link is open');
            assert.ok(metricSum(nm, /^herald_notifier_link_sessions$/) >= 1, 'the notifier holds a link session');
        } else {
            assert.ok(metricSum(nm, /^herald_notifier_connections$/) >= 1, 'the notifier holds the proxied connection');
        }
    });
});
