// Bounds of herald-notifier (SPEC §2, STYLE §6): a reader that never reads
// is closed (1013) once its send queue passes --send-queue-limit while a
// normal reader gets every event, and the slow-reader counter moves; a client
// message over the notifier's cap is refused with 1009.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
    connect, frame, metrics, metricSum, OP, publishOk, rawConnect, startNotifier, test,
} from './lib/harness.mjs';

let n = 0;
const uniq = (p = 'lim') => `${p}${process.pid}_${++n}`;

describe('slow reader', () => {
    test('a client that never reads is closed, a normal reader gets every event', async () => {
        const srv = await startNotifier(['--send-queue-limit', '65536']);
        const x = uniq();
        const normal = await connect(srv.wsUrl('/ws', { channels: x }));
        assert.equal((await normal.next()).type, 'welcome');

        const raw = await rawConnect(srv.port);
        await raw.upgrade(`/ws?channels=${x}`);
        raw.sock.pause(); // from here on the kernel buffers fill up, then the server's queue

        // One 32 KB event at a time, each read by the normal reader before the
        // next: its queue stays far below the limit, while the one that never
        // reads fills its kernel buffers and then its send queue.
        const slow0 = metricSum(await metrics(srv), /slow/);
        const payload = 'x'.repeat(32000);
        const ids = [];
        let slow1 = slow0;
        for (let i = 0; i < 1024 && slow1 === slow0; i++) {
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
});

describe('message size', () => {
    test('a client message of 1 MiB on the notifier -> close 1009', async () => {
        const srv = await startNotifier();
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/ws');
        const big = Buffer.alloc(1 << 20, 0x61);
        const full = frame(OP.TEXT, big);
        // Header plus the first 64 KiB: a server may refuse on the header alone.
        raw.write(full.subarray(0, 65536));
        let closed = await raw.waitClose(3000).catch(() => null);
        if (!closed) {
            raw.write(full.subarray(65536));
            closed = await raw.waitClose();
        }
        assert.equal(closed.code, 1009, `close ${JSON.stringify(closed.code)}`);
    });
});
