// herald-echo (SPEC §1): every message comes back unchanged, text as text and
// binary as binary, on any path; fragmented messages are reassembled;
// permessage-deflate on and off (--deflate); 1 MiB messages; invalid UTF-8
// across fragments -> 1007; --max-message-bytes -> 1009; flags and SIGTERM.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { after, before, describe } from 'node:test';
import {
    connect, frame, freePort, OP, rawConnect, runProgram, startEcho, startNotifier, stopAll, test,
} from './lib/harness.mjs';

/** Sends one message and returns the echo as {binary, data(Buffer)}. */
async function roundTrip(c, payload, binary) {
    c.ws.send(payload, { binary });
    const m = await c.next(30000);
    return { binary: m.binary, data: m.data };
}

/**
 * Raw: reads one whole data message, reassembling fragments; control frames
 * met on the way are pushed to controls.
 */
async function readWholeMessage(raw, controls = []) {
    let opcode = null;
    const parts = [];
    for (;;) {
        const f = await raw.readFrame();
        assert.ok(f, 'the connection ended before a message');
        if (f.opcode >= 8) {
            assert.notEqual(f.opcode, OP.CLOSE, `closed: ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : ''}`);
            controls.push(f);
            continue;
        }
        assert.equal(f.masked, false, 'server frames are not masked');
        if (opcode === null) opcode = f.opcode;
        parts.push(f.payload);
        if (f.fin) return { opcode, payload: Buffer.concat(parts) };
    }
}

// Raw text messages echo back as-is; the client parses them as JSON only if
// they are JSON, so use JSON-free strings through this helper.
function textOf(r) {
    return r.data.toString('utf8');
}

for (const deflate of ['on', 'off']) {
    describe(`herald-echo --deflate ${deflate}`, () => {
        let srv;
        before(async () => { srv = await startEcho(['--deflate', deflate]); });
        after(stopAll);

        for (const clientDeflate of [true, false]) {
            const opts = { perMessageDeflate: clientDeflate ? { threshold: 0 } : false };
            const label = `client deflate ${clientDeflate ? 'on' : 'off'}`;

            test(`${label}: extension negotiated only when both sides want it`, async () => {
                const c = await connect(srv.wsUrl('/'), { ...opts, rawText: true });
                const negotiated = /permessage-deflate/.test(c.ws.extensions);
                assert.equal(negotiated, clientDeflate && deflate === 'on', `extensions "${c.ws.extensions}"`);
            });

            test(`${label}: text comes back as text, binary as binary`, async () => {
                const c = await connect(srv.wsUrl('/echo'), { ...opts, rawText: true });
                const t = await roundTrip(c, 'hello, wörld ✓ 🚀', false);
                assert.equal(t.binary, false);
                assert.equal(textOf(t), 'hello, wörld ✓ 🚀');
                const bin = crypto.randomBytes(300);
                bin[0] = 0xff; // not UTF-8
                const b = await roundTrip(c, bin, true);
                assert.equal(b.binary, true);
                assert.ok(b.data.equals(bin));
            });

            test(`${label}: empty messages and JSON are echoed unchanged`, async () => {
                const c = await connect(srv.wsUrl('/'), { ...opts, rawText: true });
                const t = await roundTrip(c, '', false);
                assert.equal(t.binary, false);
                assert.equal(textOf(t), '');
                const e = await roundTrip(c, Buffer.alloc(0), true);
                assert.equal(e.binary, true);
                assert.equal(e.data.length, 0);
                assert.equal(textOf(await roundTrip(c, '{"a": [1,  2]}', false)), '{"a": [1,  2]}');
            });

            test(`${label}: 500 messages come back in order`, async () => {
                const c = await connect(srv.wsUrl('/x/y?z=1'), { ...opts, rawText: true });
                for (let i = 0; i < 500; i++) c.ws.send(`m${i}`);
                for (let i = 0; i < 500; i++) {
                    const m = await c.next();
                    assert.equal(m.text, `m${i}`);
                }
            });

            test(`${label}: 1 MiB text and binary messages`, async () => {
                const c = await connect(srv.wsUrl('/'), { ...opts, rawText: true });
                const text = 'abcdefghij'.repeat(104858).slice(0, 1 << 20);
                const t = await roundTrip(c, text, false);
                assert.equal(t.binary, false);
                assert.equal(t.data.length, 1 << 20);
                assert.ok(t.data.equals(Buffer.from(text)));
                const bin = crypto.randomBytes(1 << 20);
                const b = await roundTrip(c, bin, true);
                assert.equal(b.binary, true);
                assert.ok(b.data.equals(bin), 'random 1 MiB binary intact');
            });
        }
    });
}

describe('herald-echo: fragmentation over raw sockets', () => {
    let srv;
    before(async () => { srv = await startEcho(['--deflate', 'off']); });
    after(stopAll);

    test('a text message in three fragments is echoed whole', async () => {
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        raw.write(Buffer.concat([
            frame(OP.TEXT, 'Hello, ', { fin: false }),
            frame(OP.CONT, 'fragmented ', { fin: false }),
            frame(OP.CONT, 'world'),
        ]));
        const m = await readWholeMessage(raw);
        assert.equal(m.opcode, OP.TEXT);
        assert.equal(m.payload.toString(), 'Hello, fragmented world');
    });

    test('a binary message in fragments, with a ping in between, is echoed whole', async () => {
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        const a = crypto.randomBytes(1000);
        const b = crypto.randomBytes(70000);
        raw.write(Buffer.concat([
            frame(OP.BINARY, a, { fin: false }),
            frame(OP.PING, 'mid'),
            frame(OP.CONT, b),
        ]));
        const controls = [];
        const m = await readWholeMessage(raw, controls);
        if (controls.length === 0) controls.push(await raw.readFrame());
        assert.equal(controls[0].opcode, OP.PONG, 'the ping between fragments is answered');
        assert.equal(controls[0].payload.toString(), 'mid');
        assert.equal(m.opcode, OP.BINARY);
        assert.ok(m.payload.equals(Buffer.concat([a, b])));
    });

    test('UTF-8 split across fragments is valid and echoed', async () => {
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        const euro = Buffer.from('€uro 😀', 'utf8'); // e2 82 ac ...
        raw.write(Buffer.concat([
            frame(OP.TEXT, euro.subarray(0, 1), { fin: false }),
            frame(OP.CONT, euro.subarray(1, 2), { fin: false }),
            frame(OP.CONT, euro.subarray(2, 7), { fin: false }),
            frame(OP.CONT, euro.subarray(7)),
        ]));
        const m = await readWholeMessage(raw);
        assert.equal(m.opcode, OP.TEXT);
        assert.equal(m.payload.toString(), '€uro 😀');
    });

    test('invalid UTF-8 across fragments -> close 1007', async () => {
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        raw.write(Buffer.concat([
            frame(OP.TEXT, Buffer.from([0x61, 0xe2, 0x82]), { fin: false }),
            frame(OP.CONT, Buffer.from([0x28])),
        ]));
        const c = await raw.waitClose();
        assert.equal(c.code, 1007);
    });

    test('a message ending inside a UTF-8 sequence -> close 1007', async () => {
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        raw.write(Buffer.concat([
            frame(OP.TEXT, Buffer.from([0x61]), { fin: false }),
            frame(OP.CONT, Buffer.from([0xf0, 0x9f, 0x98])),
        ]));
        const c = await raw.waitClose();
        assert.equal(c.code, 1007);
    });
});

describe('herald-echo: permessage-deflate over raw sockets (RFC 7692)', () => {
    let srv;
    before(async () => { srv = await startEcho(['--deflate', 'on']); });
    after(stopAll);

    function deflate(text) {
        const d = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        assert.ok(d.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff])));
        return d.subarray(0, -4);
    }

    async function openDeflate() {
        const raw = await rawConnect(srv.port);
        const h = await raw.handshake('/', {
            'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
        });
        assert.equal(h.status, 101);
        assert.match(h.headers['sec-websocket-extensions'] || '', /permessage-deflate/);
        return raw;
    }

    async function readText(raw) {
        const m = await readWholeMessage(raw);
        assert.equal(m.opcode, OP.TEXT);
        return m;
    }

    test('a compressed message in two fragments (RSV1 on the first only) is echoed', async () => {
        const raw = await openDeflate();
        const text = `compressed ${'hello '.repeat(200)} end`;
        const z = deflate(text);
        raw.write(Buffer.concat([
            frame(OP.TEXT, z.subarray(0, 10), { fin: false, rsv: 4 }),
            frame(OP.CONT, z.subarray(10)),
        ]));
        const f = await raw.readFrame();
        assert.ok(f && f.opcode === OP.TEXT, 'a text frame back');
        // Reassemble; the reply may be compressed (RSV1 on its first frame).
        const parts = [f.payload];
        let last = f;
        while (!last.fin) { last = await raw.readFrame(); parts.push(last.payload); }
        const body = Buffer.concat(parts);
        const out = (f.rsv & 4) ? zlib.inflateRawSync(Buffer.concat([body, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }) : body;
        assert.equal(out.toString(), text);
    });

    test('RSV1 on a continuation frame -> close 1002', async () => {
        const raw = await openDeflate();
        const z = deflate('abcabcabcabc');
        raw.write(Buffer.concat([
            frame(OP.TEXT, z.subarray(0, 3), { fin: false, rsv: 4 }),
            frame(OP.CONT, z.subarray(3), { rsv: 4 }),
        ]));
        assert.equal((await raw.waitClose()).code, 1002);
    });

    test('RSV1 on a control frame -> close 1002', async () => {
        const raw = await openDeflate();
        raw.write(frame(OP.PING, 'x', { rsv: 4 }));
        assert.equal((await raw.waitClose()).code, 1002);
    });

    test('data that does not inflate fails the connection', async () => {
        const raw = await openDeflate();
        raw.write(frame(OP.TEXT, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x12]), { rsv: 4 }));
        const c = await raw.waitClose();
        assert.ok(c.code === 1002 || c.code === 1007 || c.code === null, `close ${c.code}`);
        assert.ok(await raw.waitEnd());
    });

    test('a compressed text message that inflates to invalid UTF-8 -> close 1007', async () => {
        const raw = await openDeflate();
        const d = zlib.deflateRawSync(Buffer.from([0x61, 0xc3, 0x28, 0x62]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        raw.write(frame(OP.TEXT, d.subarray(0, -4), { rsv: 4 }));
        assert.equal((await raw.waitClose()).code, 1007);
    });

    test('the ws client fragmenting a compressed message gets it back whole', async () => {
        const c = await connect(srv.wsUrl('/'), { perMessageDeflate: { threshold: 0 }, rawText: true });
        const parts = ['part one, ', 'part two, ', 'part three'];
        c.ws.send(parts[0], { fin: false, compress: true });
        c.ws.send(parts[1], { fin: false, compress: true });
        c.ws.send(parts[2], { fin: true, compress: true });
        const m = await c.next();
        assert.equal(m.text, parts.join(''));
    });
});

describe('herald-echo --max-message-bytes 1000', () => {
    let srv;
    before(async () => { srv = await startEcho(['--max-message-bytes', '1000']); });
    after(stopAll);

    test('a message of exactly 1000 bytes is echoed', async () => {
        const c = await connect(srv.wsUrl('/'));
        const r = await roundTrip(c, Buffer.alloc(1000, 7), true);
        assert.equal(r.data.length, 1000);
    });

    test('a message of 1001 bytes -> close 1009', async () => {
        const c = await connect(srv.wsUrl('/'));
        c.ws.send(Buffer.alloc(1001, 7));
        assert.equal((await c.waitClose()).code, 1009);
    });

    test('fragments adding up past the limit -> close 1009', async () => {
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        raw.write(Buffer.concat([
            frame(OP.BINARY, Buffer.alloc(600, 1), { fin: false }),
            frame(OP.CONT, Buffer.alloc(600, 2)),
        ]));
        const c = await raw.waitClose();
        assert.equal(c.code, 1009);
    });

    test('a frame header declaring a huge length -> close 1009', async () => {
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        raw.write(frame(OP.BINARY, Buffer.alloc(16), { len: 2 ** 40 }).subarray(0, 14 + 16));
        const c = await raw.waitClose();
        assert.equal(c.code, 1009);
    });

    test('a small compressed message that inflates past the limit -> close 1009', async () => {
        const c = await connect(srv.wsUrl('/'), { perMessageDeflate: { threshold: 0 } });
        assert.match(c.ws.extensions, /permessage-deflate/);
        c.ws.send('a'.repeat(100000));
        assert.equal((await c.waitClose()).code, 1009);
    });
});

describe('herald-echo default message cap (16 MiB)', () => {
    test('a frame declaring 16 MiB + 1 -> close 1009', async () => {
        const srv = await startEcho();
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        raw.write(frame(OP.BINARY, Buffer.alloc(64), { len: 16 * 1024 * 1024 + 1 }).subarray(0, 14 + 64));
        assert.equal((await raw.waitClose()).code, 1009);
    });
});

describe('herald-echo: a client that does not read', () => {
    test('its echoes are bounded: closed with 1013 or throttled, never lost out of order', async () => {
        const srv = await startEcho();
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/');
        raw.sock.pause();
        const count = 400; // 400 x 64 KiB = 25 MiB of echoes nobody reads
        for (let i = 0; i < count && !raw.sock.destroyed; i++) {
            const body = Buffer.alloc(64 * 1024, i & 0xff);
            body.writeUInt32BE(i, 0);
            if (!raw.sock.write(frame(OP.BINARY, body))) {
                await new Promise((r) => {
                    const t = setTimeout(r, 1000);
                    raw.sock.once('drain', () => { clearTimeout(t); r(); });
                });
            }
        }
        raw.sock.resume();
        let next = 0;
        let closeCode = null;
        for (;;) {
            const f = await raw.readFrame(30000);
            if (!f) break;
            if (f.opcode === OP.CLOSE) { closeCode = f.payload.readUInt16BE(0); break; }
            if (f.opcode !== OP.BINARY) continue;
            assert.equal(f.payload.readUInt32BE(0), next, 'echoes in order, none skipped');
            next++;
            if (next === count) break;
        }
        if (next < count) assert.ok(closeCode === 1013 || closeCode === null, `cut after ${next} echoes with close ${closeCode}`);
        const c = await connect(srv.wsUrl('/'), { rawText: true });
        assert.equal(textOf(await roundTrip(c, 'still fine', false)), 'still fine');
    });
});

describe('herald-echo process', () => {
    test('--help exits 0; an unknown flag exits 2 with one line', async () => {
        const h = await runProgram('herald-echo', ['--help']);
        assert.equal(h.code, 0);
        const v = await runProgram('herald-echo', ['--version']);
        assert.equal(v.code, 0);
        const bad = await runProgram('herald-echo', ['--no-such-flag']);
        assert.equal(bad.code, 2);
        assert.equal(bad.stderr.trim().split('\n').length, 1, JSON.stringify(bad.stderr));
        const badDeflate = await runProgram('herald-echo', ['--deflate', 'maybe']);
        assert.equal(badDeflate.code, 2);
    });

    // The same boolean forms in herald-echo and herald-notifier.
    test('--deflate on|off and --deflate[=true|false] mean the same in echo and notifier', async () => {
        const forms = [[[], true], [['--deflate'], true], [['--deflate', 'on'], true],
            [['--deflate=true'], true], [['--deflate', 'off'], false], [['--deflate=off'], false],
            [['--deflate=false'], false], [['--deflate', 'false'], false]];
        for (const [args, on] of forms) {
            for (const start of [startEcho, (a) => startNotifier(a, { direct: true })]) {
                const srv = await start(args);
                const c = await connect(srv.wsUrl('/ws'), { perMessageDeflate: true, rawText: true });
                assert.equal(/permessage-deflate/.test(c.ws.extensions), on, `${srv.name} ${args.join(' ')}`);
                c.terminate();
                await srv.stop();
            }
        }
    });

    test('HERALD_LISTEN is honoured', async () => {
        const port = await freePort();
        const srv = await startEcho([], { noListen: true, port, env: { HERALD_LISTEN: `127.0.0.1:${port}` } });
        const c = await connect(srv.wsUrl('/'), { rawText: true });
        assert.equal(textOf(await roundTrip(c, 'env', false)), 'env');
    });

    test('HERALD_MAX_MESSAGE_BYTES is honoured', async () => {
        const srv = await startEcho([], { env: { HERALD_MAX_MESSAGE_BYTES: '100' } });
        const c = await connect(srv.wsUrl('/'));
        c.ws.send(Buffer.alloc(101));
        assert.equal((await c.waitClose()).code, 1009);
    });

    test('SIGTERM closes clients and exits 0', async () => {
        const srv = await startEcho();
        const c = await connect(srv.wsUrl('/'), { rawText: true });
        assert.equal(textOf(await roundTrip(c, 'x', false)), 'x');
        const exit = await srv.stop('SIGTERM');
        const { code } = await c.waitClose();
        assert.ok(code === 1001 || code === 1000, `close code ${code}`);
        assert.deepEqual(exit, { code: 0, signal: null });
    });
});
