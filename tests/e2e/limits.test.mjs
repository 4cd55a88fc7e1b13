// Bounds of herald-notifier (SPEC §2, STYLE §6): a reader that never reads
// is closed (1013) once its send queue passes --send-queue-limit while a
// normal reader gets every event, and the slow-reader counter moves; a client
// message over the notifier's cap is refused with 1009.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe } from 'node:test';
import {
    connect, frame, httpGet, metrics, metricSum, OP, publishOk, rawConnect, startNotifier, test,
    waitFor,
} from './lib/harness.mjs';

let n = 0;
const uniq = (p = 'lim') => `${p}${process.pid}_${++n}`;

describe('slow reader', () => {
    for (const ext of [null, 'permessage-deflate']) {
        test(`a client that never reads is closed, a normal reader gets every event (${ext ?? 'no extension'})`, async () => {
            const srv = await startNotifier(['--send-queue-limit', '65536']);
            const x = uniq();
            const normal = await connect(srv.wsUrl('/ws', { channels: x }));
            assert.equal((await normal.next()).type, 'welcome');

            const raw = await rawConnect(srv.wsPort);
            const head = await raw.upgrade(`/ws?channels=${x}`, ext ? { 'Sec-WebSocket-Extensions': ext } : {});
            if (ext) assert.match(head.headers['sec-websocket-extensions'] || '', /permessage-deflate/);
            raw.sock.pause(); // from here on the kernel buffers fill up, then the server's queue

            // One 32 KB event at a time, each read by the normal reader before the
            // next: its queue stays far below the limit, while the one that never
            // reads fills its kernel buffers and then its send queue. Random
            // payloads so that deflate cannot shrink them.
            const slow0 = metricSum(await metrics(srv), /slow/);
            const ids = [];
            let slow1 = slow0;
            for (let i = 0; i < 1024 && slow1 === slow0; i++) {
                const payload = crypto.randomBytes(24000).toString('base64');
                const id = await publishOk(srv, { channel: x, data: { i, payload } });
                ids.push(id);
                const e = await normal.nextOfType('event', 30000);
                assert.equal(e.id, id, 'the normal reader gets every event, in order');
                if (i % 16 === 15) slow1 = metricSum(await metrics(srv), /slow/);
            }
            assert.ok(slow1 > slow0, `a herald_*slow* counter moved (${slow0} -> ${slow1}) after ${ids.length} events`);

            // Read what the kernel kept: events, then a close frame 1013 or the end.
            raw.sock.resume();
            const closed = await raw.waitClose(30000);
            if (closed.code !== null) assert.equal(closed.code, 1013, 'close code for a slow reader');
            assert.ok(await raw.waitEnd(), 'the slow connection ends');
            assert.equal(normal.closeInfo, null, 'the normal reader is still open');

            // And the normal reader still works.
            const live = await publishOk(srv, { channel: x, data: 'after' });
            assert.equal((await normal.nextOfType('event')).id, live);
        });
    }

    test('a large replay to a client that does not read stays bounded', async () => {
        const srv = await startNotifier(['--send-queue-limit', '65536', '--history', '1000']);
        const x = uniq();
        const ids = [];
        for (let b = 0; b < 20; b++) {
            const items = [];
            for (let i = 0; i < 20; i++) items.push({ channel: x, data: { b, i, p: crypto.randomBytes(24000).toString('base64') } });
            ids.push(...await publishOk(srv, items));
        }
        const slow0 = metricSum(await metrics(srv), /slow/);
        const raw = await rawConnect(srv.wsPort);
        await raw.upgrade(`/ws?channels=${x}&since=${encodeURIComponent(ids[0])}`);
        raw.sock.pause();
        // ~13 MB of replay against a 64 KiB queue: the server either closes
        // the reader with 1013 or paces the replay. Give it a moment to decide
        // (no timing is asserted), then read.
        await waitFor(async () => metricSum(await metrics(srv), /slow/) > slow0, 'a slow-reader close', 5000)
            .catch(() => {});
        raw.sock.resume();
        const got = [];
        let closeCode = null;
        for (;;) {
            const f = await raw.readFrame(30000);
            if (!f) break;
            if (f.opcode === OP.CLOSE) { closeCode = f.payload.readUInt16BE(0); break; }
            if (f.opcode !== OP.TEXT) continue;
            const m = JSON.parse(f.payload.toString());
            if (m.type === 'event') got.push(m.id);
            if (got.length === ids.length - 1) break;
        }
        if (got.length === ids.length - 1) {
            assert.deepEqual(got, ids.slice(1), 'a paced replay is complete and in order');
        } else {
            assert.equal(closeCode, 1013, `replay cut after ${got.length} events without a 1013`);
            assert.deepEqual(got, ids.slice(1, 1 + got.length), 'what arrived is in order');
        }
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
    });
});

describe('message size', () => {
    // Over the notifier's cap (--max-message-bytes, 64 KiB): 1009 for that
    // client alone. Through the gateway (whose own cap the harness sets to
    // 16 MiB) the notifier's cap is what the client meets; over herald-link a
    // message past the link reader's bound once failed the whole link (1012
    // for every session on it), so three more clients share the links here.
    for (const size of [1 << 20, 100000]) {
        test(`a client message of ${size} bytes on the notifier -> close 1009, other clients unaffected`, async () => {
            const srv = await startNotifier();
            const x = uniq();
            const others = [];
            for (let i = 0; i < 3; i++) {
                const c = await connect(srv.wsUrl('/ws', { channels: x }));
                assert.equal((await c.next()).type, 'welcome');
                assert.equal((await c.next()).type, 'subscribed');
                others.push(c);
            }
            const raw = await rawConnect(srv.wsPort);
            await raw.upgrade('/ws');
            const big = Buffer.alloc(size, 0x61);
            const full = frame(OP.TEXT, big);
            // Header plus the first 64 KiB: a server may refuse on the header alone.
            raw.write(full.subarray(0, 65536));
            let closed = await raw.waitClose(3000).catch(() => null);
            if (!closed) {
                raw.write(full.subarray(65536));
                closed = await raw.waitClose();
            }
            assert.equal(closed.code, 1009, `close ${JSON.stringify(closed.code)}`);
            const id = await publishOk(srv, { channel: x, data: 'still here' });
            for (const c of others) assert.equal((await c.nextOfType('event')).id, id);
        });
    }
});
