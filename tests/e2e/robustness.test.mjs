// herald-notifier under churn (run under ASan/UBSan, where the harness fails
// a test whose server printed a sanitizer report): subscribers coming and
// going during fan-out, clients vanishing mid-replay, pipelined publish
// requests, and SIGTERM while events flow. A steady subscriber must still get
// every event in order.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
    connect, connectWelcome, frame, httpGet, metrics, OP, metricSum, NOTIFIER_SHUTDOWN_CODE, publish, publishOk,
    rawConnect, startNotifier, test,
} from './lib/harness.mjs';

let n = 0;
const uniq = (p = 'rob') => `${p}${process.pid}_${++n}`;

describe('churn', () => {
    test('subscribe/unsubscribe churn during fan-out leaves a steady subscriber intact', async () => {
        // The churners send commands as fast as the replies come: far past the
        // default --commands-per-s (100; rate_limited errors, then 1008), which
        // rate_limit.test.mjs covers. Here the rate is not the subject.
        const srv = await startNotifier(['--commands-per-s', '1000000']);
        const x = uniq();
        const [steady] = await connectWelcome(srv.wsUrl());
        await steady.request({ type: 'subscribe', channels: [x] });
        const churners = [];
        for (let i = 0; i < 10; i++) churners.push((await connectWelcome(srv.wsUrl()))[0]);
        let stop = false;
        const churn = Promise.all(churners.map(async (c, k) => {
            for (let r = 0; !stop && r < 400; r++) {
                c.send({ type: r % 2 ? 'unsubscribe' : 'subscribe', channels: [x, `${x}_${k}`], ref: String(r) });
                await c.next(); // the reply, or an event: either keeps the loop honest
            }
        }));
        const ids = [];
        for (let b = 0; b < 20; b++) {
            const items = [];
            for (let i = 0; i < 25; i++) items.push({ channel: x, data: b * 25 + i });
            ids.push(...await publishOk(srv, items));
        }
        stop = true;
        await churn;
        const evs = await steady.events(ids.length, 30000);
        assert.deepEqual(evs.map((e) => e.id), ids);
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
    });

    test('clients vanishing during fan-out and replay do not disturb the server', async () => {
        const srv = await startNotifier();
        const x = uniq();
        const ids = [];
        for (let b = 0; b < 4; b++) {
            const items = [];
            for (let i = 0; i < 100; i++) items.push({ channel: x, data: { i, pad: 'p'.repeat(500) } });
            ids.push(...await publishOk(srv, items));
        }
        const [steady] = await connectWelcome(srv.wsUrl('/ws', { channels: x }));
        const vanish = [];
        for (let i = 0; i < 30; i++) {
            // Some resume from the start (a replay in flight), some just listen.
            const q = i % 2 ? { channels: x, since: ids[0] } : { channels: x };
            vanish.push(connect(srv.wsUrl('/ws', q)).then((c) => c.terminate(), () => {}));
            if (i % 3 === 0) {
                const raw = await rawConnect(srv.wsPort);
                raw.write(`GET /ws?channels=${x}&since=${encodeURIComponent(ids[0])} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
                raw.destroy(); // gone before the 101 is even read
            }
        }
        const live = [];
        for (let i = 0; i < 50; i++) live.push(await publishOk(srv, { channel: x, data: i }));
        await Promise.all(vanish);
        const evs = await steady.events(50);
        assert.deepEqual(evs.map((e) => e.id), live);
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
    });

    test('a half-sent handshake or frame followed by a reset is harmless', async () => {
        const srv = await startNotifier();
        for (let i = 0; i < 10; i++) {
            const a = await rawConnect(srv.wsPort);
            a.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgr');
            a.sock.resetAndDestroy?.() ?? a.destroy();
            const b = await rawConnect(srv.wsPort);
            await b.upgrade('/ws');
            b.write(Buffer.from([0x81, 0xfe, 0x01])); // a frame header cut in the middle
            b.destroy();
            const c = await rawConnect(srv.port);
            c.write('POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"chan');
            c.destroy();
        }
        const [ok] = await connectWelcome(srv.wsUrl('/ws', { channels: 'fine' }));
        const id = await publishOk(srv, { channel: 'fine', data: 1 });
        assert.equal((await ok.nextOfType('event')).id, id);
    });
});

describe('control-frame floods', () => {
    test('pings from a client that does not read its pongs are bounded (1013 or end)', async () => {
        const srv = await startNotifier(['--send-queue-limit', '65536']);
        const raw = await rawConnect(srv.wsPort);
        await raw.upgrade('/ws');
        raw.sock.pause();
        const ping = frame(OP.PING, Buffer.alloc(125, 1));
        const chunk = Buffer.concat(Array.from({ length: 1000 }, () => ping)); // 1000 pings
        for (let i = 0; i < 200 && !raw.sock.destroyed; i++) {
            if (!raw.sock.write(chunk)) {
                await new Promise((r) => {
                    const t = setTimeout(r, 2000);
                    raw.sock.once('drain', () => { clearTimeout(t); r(); });
                });
            }
            if (raw.sock.writableLength > 32e6) break;
        }
        raw.sock.resume();
        const c = await raw.waitClose(30000);
        if (c.code !== null) assert.equal(c.code, 1013);
        assert.ok(await raw.waitEnd(30000), 'the flooding client is closed');
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
    });
});

describe('many connections', () => {
    test('300 subscribers each get every event in order', async () => {
        const srv = await startNotifier();
        const x = uniq();
        const clients = await Promise.all(Array.from({ length: 300 }, async () => {
            const c = await connect(srv.wsUrl('/ws', { channels: x }));
            assert.equal((await c.next()).type, 'welcome');
            await c.nextOfType('subscribed');
            return c;
        }));
        const ids = await publishOk(srv, Array.from({ length: 20 }, (_, i) => ({ channel: x, data: i })));
        for (const c of clients) {
            const evs = await c.events(20);
            assert.deepEqual(evs.map((e) => e.id), ids);
        }
        const m = await metrics(srv);
        assert.ok(metricSum(m, /^herald_notifier_connections$/) >= 300 || metricSum(m, /connections/) >= 300);
    });
});

describe('HTTP API', () => {
    test('an oversized publish body is refused with 413 and nothing is published', async () => {
        const srv = await startNotifier();
        const x = uniq();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { channels: x }));
        const r = await publish(srv, JSON.stringify({ channel: x, data: 'x'.repeat(4 * 1024 * 1024) }));
        assert.equal(r.status, 413);
        const id = await publishOk(srv, { channel: x, data: 'small' });
        assert.equal((await c.nextOfType('event')).id, id);
    });

    test('pipelined publish requests are answered in order', async () => {
        const srv = await startNotifier();
        const x = uniq();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { channels: x }));
        const raw = await rawConnect(srv.port);
        let req = '';
        for (let i = 0; i < 5; i++) {
            const body = JSON.stringify({ channel: x, data: i });
            req += `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        }
        req += 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
        raw.write(req);
        const ids = [];
        for (let i = 0; i < 5; i++) {
            const h = await raw.readHead();
            assert.equal(h.status, 200);
            const len = Number(h.headers['content-length']);
            assert.ok(len > 0, 'a Content-Length on each answer');
            await raw.waitData(() => raw.buf.length >= len, 'the body');
            ids.push(JSON.parse(raw.buf.subarray(0, len).toString()).id);
            raw.buf = raw.buf.subarray(len);
        }
        const last = await raw.readHead();
        assert.equal(last.status, 200);
        const evs = await c.events(5);
        assert.deepEqual(evs.map((e) => e.id), ids);
        assert.deepEqual(evs.map((e) => e.data), [0, 1, 2, 3, 4]);
    });
});

describe('shutdown under load', () => {
    test(`SIGTERM while events flow: clients get ${NOTIFIER_SHUTDOWN_CODE}, exit 0`, async () => {
        const srv = await startNotifier();
        const x = uniq();
        const clients = [];
        for (let i = 0; i < 10; i++) clients.push((await connectWelcome(srv.wsUrl('/ws', { channels: x })))[0]);
        let stop = false;
        const pub = (async () => {
            while (!stop) {
                try {
                    await publishOk(srv, Array.from({ length: 20 }, (_, i) => ({ channel: x, data: i })));
                } catch {
                    return; // the server is going away
                }
            }
        })();
        await clients[0].events(100);
        const exit = await srv.stop('SIGTERM');
        stop = true;
        await pub;
        for (const c of clients) assert.equal((await c.waitClose()).code, NOTIFIER_SHUTDOWN_CODE);
        assert.deepEqual(exit, { code: 0, signal: null });
    });
});
