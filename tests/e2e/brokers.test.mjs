// Scale-out brokers end to end (SPEC §3, issues 4 and 14): herald-notifier on
// a real redis-server (Redis Streams), a real nats-server -js (JetStream) and
// a real rabbitmq-server (a RabbitMQ stream queue), each started once per
// suite on free ports in a temp dir. The same suite runs against all three:
// services publishing straight into the broker, POST /publish through it,
// two notifier instances (directly and behind herald-gateway) giving the same
// ids, resume on the other instance and after a notifier restart (warm
// history), the broker killed and restarted under 100 connected clients,
// gaps the broker no longer holds (recovered:false), malformed records
// skipped, and authentication.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
    connect, directOnly, freePort, httpGet, metrics, metricSum, publish, publishOk, runProgram, spawnServer,
    startNotifier, stopAll, test, tmpFile, waitFor, gatewayUp,
} from './lib/harness.mjs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
    HAVE_NATS, HAVE_RABBITMQ, HAVE_REDIS, startNats, startRabbit, startRedis,
} from './lib/servers.mjs';

const HAVE_AMQP_PUBLISH = spawnSync('sh', ['-c', 'command -v amqp-publish']).status === 0;

let n = 0;
const uniq = (p = 'bk') => `${p}${process.pid}_${++n}`;

/** Per-broker operations used by the shared suite. */
const KINDS = {
    redis: {
        have: HAVE_REDIS,
        start: (opts) => startRedis(opts),
        async client(b) { return b.client(); },
        /** A service publishing one event; resolves to the event id the notifier will use. */
        async publish(cl, channel, data) { return cl.xadd(channel, data); },
        async publishRaw(cl, fields) { return cl.cmd('XADD', 'herald:events', '*', ...fields); },
        malformed: [
            ['channel', 'bad name!', 'data', '1'],
            ['channel', 'ok', 'data', '{not json'],
            ['channel', 'ok'],
            ['data', '{"no":"channel"}'],
        ],
        /** Keeps only the newest keep of ids in the broker; resolves to the ids it still holds. */
        async trim(cl, keep, { ids }) {
            await cl.cmd('XTRIM', 'herald:events', 'MAXLEN', String(keep));
            return ids.slice(ids.length - keep);
        },
    },
    nats: {
        have: HAVE_NATS,
        start: (opts) => startNats(opts),
        async client(b) { return b.client(); },
        async publish(cl, channel, data) {
            return String((await cl.publish(`herald.events.${channel}`, data)).seq);
        },
        async publishRaw(cl, rec) { return cl.publish(rec.subject, rec.data, null, true); },
        malformed: [
            { subject: 'herald.events.bad!name', data: '1' },
            { subject: 'herald.events.ok', data: '{not json' },
            { subject: 'herald.events.ok', data: '' },
        ],
        async trim(cl, keep, { ids }) {
            const r = await cl.request('$JS.API.STREAM.PURGE.HERALD', { keep });
            assert.equal(r.success, true, JSON.stringify(r));
            return ids.slice(ids.length - keep);
        },
    },
    rabbitmq: {
        have: HAVE_RABBITMQ,
        start: () => startRabbit(),
        /** Connects once the node serves streams (after a restart its stream coordinator needs a moment). */
        async client(b) {
            return waitFor(async () => {
                const c = await b.client();
                try {
                    await c.declareStream(b.stream, { 'x-max-age': '86400s' });
                    await c.reader(b.stream);
                    return c;
                } catch (e) {
                    c.close();
                    throw e;
                }
            }, 'RabbitMQ serving streams', 60000, 200);
        },
        async publish(cl, channel, data, stream) { return cl.publish(channel, data, stream); },
        async publishRaw(cl, rec) { return cl.publishRaw(rec.headers, rec.body); },
        malformed: [
            { headers: { channel: 'bad name!' }, body: '1' },
            { headers: { channel: 'ok' }, body: '{not json' },
            { headers: { channel: 'ok' }, body: '' },
            { headers: { channel: 12 }, body: '1' },
            { headers: {}, body: '{"no":"channel"}' },
        ],
        /**
         * RabbitMQ drops whole segments only, and has no purge for streams:
         * the stream was declared with tiny segments; a policy with
         * max-length-bytes=1 makes retention drop every segment but the
         * active one (watched in the stream's directory: segment files are
         * named by their first offset), then the policy goes and two new
         * events are published: those are what the stream holds of ch.
         */
        async scratchStream(cl, name) {
            await cl.declareStream(name, { 'x-stream-max-segment-size-bytes': 300 });
            return name;
        },
        async trim(cl, keep, { broker: b, ch, ids, stream }) {
            const last = Number(ids[ids.length - 1]) - 1;
            const dir = path.join(b.dir, 'mnesia', b.env.RABBITMQ_NODENAME, 'stream');
            const firstHeld = () => {
                const d = fs.readdirSync(dir).find((f) => f.startsWith(`__${stream}_`));
                const segs = fs.readdirSync(path.join(dir, d)).filter((f) => f.endsWith('.segment')).sort();
                return Number(segs[0].slice(0, -'.segment'.length));
            };
            b.ctl('set_policy', '--apply-to', 'queues', `trim-${stream}`, `^${stream}$`, '{"max-length-bytes":1}');
            // Each publish may roll a segment and so re-run retention.
            await waitFor(async () => {
                if (firstHeld() > last) return true;
                await cl.publishRaw({ channel: 'filler' }, '0', stream);
                return firstHeld() > last;
            }, 'retention to drop the published events', 30000, 100);
            b.ctl('clear_policy', `trim-${stream}`);
            return [await cl.publish(ch, 'after', stream), await cl.publish(ch, 'after', stream)];
        },
    },
};

async function subscriber(srv, channels, since) {
    const c = await connect(srv.wsUrl('/ws', { channels: channels.join(','), since }));
    const w = await c.next();
    assert.equal(w.type, 'welcome');
    const s = await c.next();
    assert.equal(s.type, 'subscribed', JSON.stringify(s));
    return [c, s];
}

async function ready(srv) {
    const r = await httpGet(srv, '/readyz');
    return r.status;
}

async function startGateway(servers) {
    const listen = await freePort();
    const admin = await freePort();
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        upstreams: { nf: { servers: servers.map((s) => `127.0.0.1:${s.port}`), balance: 'round_robin' } },
        routes: [{ path: '/ws', upstream: 'nf', websocket: true }],
    };
    const gw = spawnServer('herald-gateway', ['--config', tmpFile('gateway.yaml', JSON.stringify(cfg))], {}, listen);
    gw.admin = `http://127.0.0.1:${admin}`;
    // Every worker listening (gatewayUp), not only worker 0's /healthz: until then
    // which worker a client meets depends on start-up timing.
    return gatewayUp(gw);
}

for (const [kind, K] of Object.entries(KINDS)) {
    describe(`broker ${kind}`, { skip: K.have ? false : `${kind} server not installed` }, () => {
        let broker;
        let cl;
        const url = () => broker.url();
        const nf = (args = []) => startNotifier(['--broker', url(), ...args]);

        before(async () => {
            broker = await K.start();
            cl = await K.client(broker);
        });
        after(async () => {
            cl?.close();
            await stopAll();
            await broker?.stop();
        });

        test('a service publishing into the broker reaches subscribers with the broker id', async () => {
            const srv = await nf();
            const ch = uniq();
            const [c] = await subscriber(srv, [ch]);
            const id = await K.publish(cl, ch, { hello: kind });
            const e = await c.next();
            assert.deepEqual(e, { type: 'event', channel: ch, id, data: { hello: kind } });
        });

        test('POST /publish goes through the broker (single, multi-channel, batch)', async () => {
            const srv = await nf();
            const [a, b] = [uniq(), uniq()];
            const [ca] = await subscriber(srv, [a]);
            const [cb] = await subscriber(srv, [b]);
            const id1 = await publishOk(srv, { channel: a, data: 1 });
            const id2 = await publishOk(srv, { channels: [a, b], data: 2 });
            const r = await publish(srv, [{ channel: a, data: 3 }, { channel: b, data: 4 }]);
            assert.equal(r.status, 200);
            const [id3, id4] = r.json.ids;
            assert.deepEqual((await ca.events(3)).map((e) => [e.id, e.data]), [[id1, 1], [id2, 2], [id3, 3]]);
            assert.deepEqual((await cb.events(2)).map((e) => [e.id, e.data]), [[id2, 2], [id4, 4]]);
            // A second subscriber sees the service's and the API's events interleaved in id order.
            const svc = await K.publish(cl, a, 'svc');
            assert.equal((await ca.next()).id, svc);
        });

        test('two notifier instances give every event the same id; direct and behind the gateway', async () => {
            const [n1, n2] = [await nf(), await nf()];
            const gw = await startGateway([n1, n2]);
            const ch = uniq();
            const direct = [await subscriber(n1, [ch]), await subscriber(n2, [ch])].map(([c]) => c);
            const viaGw = [];
            for (let i = 0; i < 4; i++) viaGw.push((await subscriber(gw, [ch]))[0]);
            const ids = [await publishOk(n1, { channel: ch, data: 'a' }), await K.publish(cl, ch, 'b'),
                await publishOk(n2, { channel: ch, data: 'c' })];
            for (const c of [...direct, ...viaGw]) {
                assert.deepEqual((await c.events(3)).map((e) => [e.id, e.data]), [[ids[0], 'a'], [ids[1], 'b'], [ids[2], 'c']]);
            }
        });

        test('a client resumes on the other instance without loss or duplicates', async () => {
            const [n1, n2] = [await nf(), await nf()];
            const ch = uniq();
            const [c1] = await subscriber(n1, [ch]);
            const consumed = async (srv) => metricSum(await metrics(srv), /^herald_broker_events_consumed_total$/);
            const base = await consumed(n2);
            const first = [];
            for (let i = 0; i < 3; i++) first.push(await K.publish(cl, ch, i));
            const got = await c1.events(3);
            assert.deepEqual(got.map((e) => e.id), first);
            await c1.close();
            const later = [];
            for (let i = 3; i < 6; i++) later.push(await publishOk(n1, { channel: ch, data: i }));
            // n2 has read them too (same stream, the same events as n1 once it
            // caught up); resume there from the last id seen on n1.
            await waitFor(async () => (await consumed(n2)) >= base + 6, 'n2 to read the six events');
            const [c2, s] = await subscriber(n2, [ch], got[2].id);
            assert.equal(s.recovered, true);
            const replay = await c2.events(3);
            assert.deepEqual(replay.map((e) => e.id), later);
            assert.deepEqual(replay.map((e) => e.data), [3, 4, 5]);
            const live = await K.publish(cl, ch, 'live');
            const next = await c2.next();
            assert.equal(next.id, live, `no duplicate before the live event: ${JSON.stringify(next)}`);
        });

        test('a restarted notifier warms its history from the broker', async () => {
            const ch = uniq();
            const s1 = await nf();
            const ids = [];
            for (let i = 0; i < 5; i++) ids.push(await publishOk(s1, { channel: ch, data: i }));
            await s1.stop();
            const s2 = await nf();
            const [c, s] = await subscriber(s2, [ch], ids[1]);
            assert.equal(s.recovered, true);
            const evs = await c.events(3);
            assert.deepEqual(evs.map((e) => e.id), ids.slice(2));
            assert.deepEqual(evs.map((e) => e.data), [2, 3, 4]);
        });

        test('records the broker no longer holds: resume reports recovered:false', async () => {
            const ch = uniq();
            const stream = K.scratchStream ? await K.scratchStream(cl, uniq('gap')) : undefined;
            const ids = [];
            for (let i = 0; i < 5; i++) ids.push(await K.publish(cl, ch, i, stream));
            const held = await K.trim(cl, 2, { broker, ch, ids, stream });
            const srv = await (stream ? startNotifier(['--broker', broker.url(`?stream=${stream}`)]) : nf());
            const [c, s] = await subscriber(srv, [ch], ids[0]);
            assert.equal(s.recovered, false);
            assert.deepEqual((await c.events(held.length)).map((e) => e.id), held);
            const [c2, s2] = await subscriber(srv, [ch], held[0]);
            assert.equal(s2.recovered, true);
            assert.deepEqual((await c2.events(held.length - 1)).map((e) => e.id), held.slice(1));
        });

        test('malformed records are counted and skipped; the consumer goes on', async () => {
            const srv = await nf();
            const ch = uniq();
            const [c] = await subscriber(srv, [ch, 'ok']);
            for (const rec of K.malformed) await K.publishRaw(cl, rec);
            const good = await K.publish(cl, ch, { fine: true });
            const e = await c.next();
            assert.equal(e.id, good, `only the valid record arrives: ${JSON.stringify(e)}`);
            const m = await metrics(srv);
            assert.ok(metricSum(m, /^herald_broker_malformed_total$/) >= K.malformed.length);
            assert.equal((srv.stderr().match(/skipping/g) || []).length, 1, 'logged once');
        });

        test('broker killed and restarted: 100 clients stay connected and get every event exactly once', async () => {
            const srv = await nf();
            const ch = uniq();
            const clients = [];
            for (let i = 0; i < 100; i++) clients.push((await subscriber(srv, [ch]))[0]);
            const ids = [];
            for (let i = 0; i < 10; i++) ids.push(await K.publish(cl, ch, i));
            await broker.kill();
            await waitFor(async () => (await ready(srv)) === 503, '/readyz 503 while the broker is down');
            const refused = await publish(srv, { channel: ch, data: 'x' });
            assert.equal(refused.status, 503);
            cl.close();
            await broker.restart();
            cl = await K.client(broker);
            await waitFor(async () => (await ready(srv)) === 200, '/readyz 200 after the broker is back', 30000);
            for (let i = 10; i < 15; i++) ids.push(await K.publish(cl, ch, i));
            for (let i = 15; i < 20; i++) ids.push(await publishOk(srv, { channel: ch, data: i }));
            for (const c of clients) {
                const evs = await c.events(20, 30000);
                assert.deepEqual(evs.map((e) => e.id), ids);
                assert.deepEqual(evs.map((e) => e.data), [...Array(20).keys()]);
                assert.equal(c.closeInfo, null, 'still connected');
            }
            assert.ok(metricSum(await metrics(srv), /^herald_broker_reconnects_total$/) >= 1);
        });

        if (kind !== 'rabbitmq') return;
        // Authentication and TLS on the suite's own node (starting another takes seconds).
        const noClientPath = directOnly('the notifier\'s broker connection, no client path to vary');

        test('rabbitmq: user, password and vhost in the URL; a wrong password keeps the notifier not ready', noClientPath, async () => {
            const pw = 'p@ss word/1';
            broker.ctl('add_vhost', 'hv');
            broker.ctl('add_user', 'herald', pw);
            broker.ctl('set_permissions', '-p', 'hv', 'herald', '.*', '.*', '.*');
            const url = broker.url().replace('amqp://', `amqp://herald:${encodeURIComponent(pw)}@`);
            const srv = await startNotifier(['--broker', `${url}/hv`]);
            const ch = uniq('auth');
            const [c] = await subscriber(srv, [ch]);
            const id = await publishOk(srv, { channel: ch, data: 1 });
            assert.match(id, /^\d+$/);
            assert.deepEqual(await c.next(), { type: 'event', channel: ch, id, data: 1 });
            const port = await freePort();
            const bad = spawnServer('herald-notifier', ['--listen', `127.0.0.1:${port}`, '--broker',
                `${url.replace(encodeURIComponent(pw), 'wrong')}/hv`], {}, port);
            await waitFor(() => /ACCESS_REFUSED/.test(bad.stderr()), 'the login failure in the log');
            assert.equal(await ready(bad), 503);
            await bad.stop();
        });

        test('rabbitmq: amqps:// verifies the certificate and host; an untrusted one keeps it not ready', noClientPath, async () => {
            const srv = await startNotifier(['--broker', broker.tlsUrl(`?tls_ca=${encodeURIComponent(broker.caFile)}`)]);
            const ch = uniq('tls');
            const [c] = await subscriber(srv, [ch]);
            const id = await publishOk(srv, { channel: ch, data: { over: 'tls' } });
            assert.deepEqual(await c.next(), { type: 'event', channel: ch, id, data: { over: 'tls' } });
            const port = await freePort();
            const bad = spawnServer('herald-notifier', ['--listen', `127.0.0.1:${port}`, '--broker', broker.tlsUrl()], {}, port);
            await waitFor(() => /TLS handshake failed/.test(bad.stderr()), 'the verification failure in the log');
            assert.equal(await ready(bad), 503);
            await bad.stop();
            // Trusted, but issued for localhost, not 127.0.0.1: the host check refuses it.
            const port2 = await freePort();
            const wrongHost = spawnServer('herald-notifier', ['--listen', `127.0.0.1:${port2}`, '--broker',
                broker.tlsUrl(`?tls_ca=${encodeURIComponent(broker.caFile)}`).replace('localhost', '127.0.0.1')], {}, port2);
            await waitFor(() => /TLS handshake failed/.test(wrongHost.stderr()), 'the host check failure in the log');
            assert.equal(await ready(wrongHost), 503);
            await wrongHost.stop();
        });

        test('rabbitmq: a service publishing with amqp-publish (Debian amqp-tools)', { skip: !HAVE_AMQP_PUBLISH }, async () => {
            const srv = await nf();
            const ch = uniq();
            const [c] = await subscriber(srv, [ch]);
            const before = await K.publish(cl, ch, 'first');
            assert.equal((await c.next()).id, before);
            const r = spawnSync('amqp-publish', ['-u', broker.url(), '-r', broker.stream, '-p',
                '-C', 'application/json', '-H', `channel: ${ch}`, '-b', '{"id":7,"state":"paid"}'], { encoding: 'utf8' });
            assert.equal(r.status, 0, r.stderr);
            const e = await c.next();
            assert.deepEqual(e.data, { id: 7, state: 'paid' });
            assert.ok(Number(e.id) > Number(before), `${e.id} after ${before}`);
        });
    });
}

describe('broker authentication', directOnly('the notifier\'s broker connection, no client path to vary'), () => {
    after(stopAll);

    test('redis: password in the URL; a wrong one keeps the notifier not ready', { skip: !HAVE_REDIS }, async () => {
        const r = await startRedis({ password: 's3cret pw' });
        try {
            const srv = await startNotifier(['--broker', r.url()]);
            const id = await publishOk(srv, { channel: 'auth', data: 1 });
            assert.match(id, /^\d+-\d+$/);
            const port = await freePort();
            const bad = spawnServer('herald-notifier', ['--listen', `127.0.0.1:${port}`, '--broker',
                r.url().replace('s3cret%20pw', 'wrong')], {}, port);
            await waitFor(() => /WRONGPASS|invalid username-password/.test(bad.stderr()), 'the AUTH failure in the log');
            assert.equal(await ready(bad), 503);
            await bad.stop();
        } finally {
            await stopAll();
            await r.stop();
        }
    });

    test('redis: rediss:// through the TLS tunnel; an untrusted certificate keeps it not ready', { skip: !HAVE_REDIS }, async () => {
        const r = await startRedis({ tls: true });
        try {
            const srv = await startNotifier(['--broker', r.url(`?tls_ca=${encodeURIComponent(r.caFile)}`)]);
            const ch = uniq('tls');
            const [c] = await subscriber(srv, [ch]);
            const id = await publishOk(srv, { channel: ch, data: { over: 'tls' } });
            assert.deepEqual(await c.next(), { type: 'event', channel: ch, id, data: { over: 'tls' } });
            const port = await freePort();
            const bad = spawnServer('herald-notifier', ['--listen', `127.0.0.1:${port}`, '--broker', r.url()], {}, port);
            await waitFor(() => /TLS handshake failed/.test(bad.stderr()), 'the verification failure in the log');
            assert.equal(await ready(bad), 503);
        } finally {
            await stopAll();
            await r.stop();
        }
    });

    test('nats: user/password and token', { skip: !HAVE_NATS }, async () => {
        for (const opts of [{ user: 'herald', pass: 'p@ss' }, { token: 't0ken' }]) {
            const b = await startNats(opts);
            try {
                const srv = await startNotifier(['--broker', b.url()]);
                const id = await publishOk(srv, { channel: 'auth', data: 1 });
                assert.match(id, /^\d+$/);
            } finally {
                await stopAll();
                await b.stop();
            }
        }
    });

    test('bad broker URLs exit 2 with one line', async () => {
        for (const u of ['redis://', 'redis://h:99999', 'redis://h/x', 'redis://h?bogus=1', 'redis://h?tls_ca=x',
            'rediss://h?tls_ca=/nonexistent.pem', 'nats://h?bogus=1', 'kafka://h', 'amqp://h?bogus=1',
            'amqp://h?stream=amq.x', 'amqp://h?tls_ca=x', 'amqps://h?tls_ca=/nonexistent.pem', 'amqp://h?warm=x',
            'amqp://h:0', 'amqp://u:p@/v']) {
            // Some URLs are refused only when the broker starts, after the
            // listener opened: an ephemeral port, never the default 7070.
            const r = await runProgram('herald-notifier', ['--listen', '127.0.0.1:0', '--broker', u]);
            assert.equal(r.code, 2, `${u}: ${r.stderr}`);
            assert.match(r.stderr, /--broker/);
        }
    });
});
