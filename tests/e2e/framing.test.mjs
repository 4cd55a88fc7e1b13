// RFC 6455 edge cases over raw sockets, against both herald-notifier (/ws)
// and herald-echo (any path): the handshake (accept key, 400, 426, 431),
// unmasked frames, reserved bits and opcodes, fragmentation rules, control
// frame rules, close codes, invalid UTF-8 (1007), ping/pong and the close
// handshake.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
    acceptFor, closePayload, frame, OP, rawConnect, startEcho, startNotifier, stopAll, test,
} from './lib/harness.mjs';

const targets = [
    { name: 'herald-notifier', start: () => startNotifier(), path: '/ws' },
    { name: 'herald-echo', start: () => startEcho(), path: '/any/path' },
];

for (const target of targets) {
    describe(`${target.name}: framing`, () => {
        let srv;
        before(async () => { srv = await target.start(); });
        after(stopAll);

        async function open() {
            const raw = await rawConnect(srv.port);
            await raw.upgrade(target.path);
            return raw;
        }

        async function expectClose(bytes, code, what) {
            const raw = await open();
            raw.write(bytes);
            const c = await raw.waitClose();
            assert.equal(c.code, code, `${what}: expected close ${code}, got ${c.code === null ? 'no close frame' : c.code}`);
            assert.ok(await raw.waitEnd(), `${what}: the server closes the TCP connection`);
        }

        test('the handshake answers 101 with the RFC accept key', async () => {
            const raw = await rawConnect(srv.port);
            const h = await raw.handshake(target.path, {}, { key: 'dGhlIHNhbXBsZSBub25jZQ==' });
            assert.equal(h.status, 101);
            assert.equal(h.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
            assert.equal(acceptFor('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
            assert.match(h.headers.upgrade || '', /^websocket$/i);
            assert.match(h.headers.connection || '', /upgrade/i);
        });

        test('Connection: keep-alive, Upgrade and Upgrade: WebSocket (Firefox) are accepted', async () => {
            const raw = await rawConnect(srv.port);
            const h = await raw.handshake(target.path, { Connection: 'keep-alive, Upgrade', Upgrade: 'WebSocket' });
            assert.equal(h.status, 101);
            raw.write(frame(OP.PING, 'ff'));
            for (;;) {
                const f = await raw.readFrame();
                assert.ok(f);
                if (f.opcode === OP.PONG) break;
            }
        });

        test('an offered subprotocol does not break the handshake', async () => {
            const raw = await rawConnect(srv.port);
            const h = await raw.handshake(target.path, { 'Sec-WebSocket-Protocol': 'herald.v1, chat' });
            assert.equal(h.status, 101);
            const p = h.headers['sec-websocket-protocol'];
            assert.ok(p === undefined || p === 'herald.v1' || p === 'chat', `selected ${p}`);
        });

        test('missing Sec-WebSocket-Key -> 400', async () => {
            const raw = await rawConnect(srv.port);
            const h = await raw.handshake(target.path, { 'Sec-WebSocket-Key': null });
            assert.equal(h.status, 400);
        });

        test('a Sec-WebSocket-Key that is not 16 bytes -> 400', async () => {
            const raw = await rawConnect(srv.port);
            const h = await raw.handshake(target.path, { 'Sec-WebSocket-Key': 'c2hvcnQ=' });
            assert.equal(h.status, 400);
        });

        test('Sec-WebSocket-Version 12 -> 426 with Sec-WebSocket-Version: 13', async () => {
            const raw = await rawConnect(srv.port);
            const h = await raw.handshake(target.path, { 'Sec-WebSocket-Version': '12' });
            assert.equal(h.status, 426);
            assert.equal(h.headers['sec-websocket-version'], '13');
        });

        test('request headers over 8 KiB -> 431', async () => {
            const raw = await rawConnect(srv.port);
            const extra = {};
            for (let i = 0; i < 10; i++) extra[`X-Filler-${i}`] = 'f'.repeat(1000);
            const h = await raw.handshake(target.path, extra);
            assert.equal(h.status, 431);
        });

        test('an unmasked client frame -> close 1002', async () => {
            await expectClose(frame(OP.TEXT, '{"type":"x"}', { mask: false }), 1002, 'unmasked');
        });

        for (const rsv of [4, 2, 1]) {
            test(`reserved bits ${rsv.toString(2).padStart(3, '0')} without an extension -> close 1002`, async () => {
                await expectClose(frame(OP.TEXT, 'hi', { rsv }), 1002, `rsv ${rsv}`);
            });
        }

        for (const op of [3, 7, 0xb, 0xf]) {
            test(`reserved opcode ${op} -> close 1002`, async () => {
                await expectClose(frame(op, 'x'), 1002, `opcode ${op}`);
            });
        }

        test('a continuation frame with nothing to continue -> close 1002', async () => {
            await expectClose(frame(OP.CONT, 'x'), 1002, 'stray continuation');
        });

        test('a new data frame inside a fragmented message -> close 1002', async () => {
            await expectClose(Buffer.concat([
                frame(OP.TEXT, '{"ty', { fin: false }),
                frame(OP.TEXT, 'pe":"x"}'),
            ]), 1002, 'text inside text');
        });

        test('a fragmented control frame -> close 1002', async () => {
            await expectClose(frame(OP.PING, 'x', { fin: false }), 1002, 'fragmented ping');
        });

        test('a control frame over 125 bytes -> close 1002', async () => {
            await expectClose(frame(OP.PING, Buffer.alloc(126, 0x70)), 1002, 'ping of 126 bytes');
        });

        test('a close frame with a 1-byte payload -> close 1002', async () => {
            await expectClose(frame(OP.CLOSE, Buffer.from([0x03])), 1002, 'close of 1 byte');
        });

        for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]) {
            test(`a close frame with invalid code ${code} -> close 1002`, async () => {
                await expectClose(frame(OP.CLOSE, closePayload(code)), 1002, `close ${code}`);
            });
        }

        const badUtf8 = {
            'lone continuation byte': Buffer.from([0x80]),
            'truncated sequence': Buffer.from([0x7b, 0xc3]),
            'invalid continuation': Buffer.from([0xc3, 0x28]),
            'overlong slash': Buffer.from([0xc0, 0xaf]),
            'UTF-16 surrogate': Buffer.from([0xed, 0xa0, 0x80]),
            'past U+10FFFF': Buffer.from([0xf4, 0x90, 0x80, 0x80]),
            'byte 0xff': Buffer.from([0x61, 0xff]),
        };
        for (const [what, bytes] of Object.entries(badUtf8)) {
            test(`a text message with invalid UTF-8 (${what}) -> close 1007`, async () => {
                await expectClose(frame(OP.TEXT, bytes), 1007, what);
            });
        }

        test('invalid UTF-8 split across fragments -> close 1007', async () => {
            await expectClose(Buffer.concat([
                frame(OP.TEXT, Buffer.from([0x22, 0xe2, 0x82]), { fin: false }),
                frame(OP.CONT, Buffer.from([0x28, 0x22])),
            ]), 1007, 'bad continuation in the second fragment');
        });

        test('a ping is answered with a pong carrying the same payload', async () => {
            const raw = await open();
            raw.write(frame(OP.PING, 'ping-payload-1'));
            for (;;) {
                const f = await raw.readFrame();
                assert.ok(f, 'the connection stays open');
                if (f.opcode === OP.PONG) {
                    assert.equal(f.payload.toString(), 'ping-payload-1');
                    assert.equal(f.masked, false, 'server frames are not masked');
                    break;
                }
            }
        });

        test('a ping of 125 bytes (the maximum) gets a pong with the same bytes', async () => {
            const raw = await open();
            const payload = Buffer.from(Array.from({ length: 125 }, (_, i) => i));
            raw.write(frame(OP.PING, payload));
            for (;;) {
                const f = await raw.readFrame();
                assert.ok(f);
                if (f.opcode === OP.PONG) { assert.ok(f.payload.equals(payload)); break; }
            }
        });

        test('an unsolicited pong is ignored', async () => {
            const raw = await open();
            raw.write(frame(OP.PONG, 'unsolicited'));
            raw.write(frame(OP.PING, 'after'));
            for (;;) {
                const f = await raw.readFrame();
                assert.ok(f, 'still open');
                if (f.opcode === OP.PONG) { assert.equal(f.payload.toString(), 'after'); break; }
            }
        });

        test('a close reason that is not UTF-8 fails the connection (1007 or 1002)', async () => {
            const raw = await open();
            raw.write(frame(OP.CLOSE, closePayload(1000, Buffer.from([0xc3, 0x28]))));
            const c = await raw.waitClose();
            assert.ok(c.code === 1007 || c.code === 1002, `close ${c.code}`);
        });

        test('the client close 1000 is echoed, then the server closes TCP', async () => {
            const raw = await open();
            raw.write(frame(OP.CLOSE, closePayload(1000, 'bye')));
            const c = await raw.waitClose();
            assert.equal(c.code, 1000);
            assert.ok(await raw.waitEnd(), 'the TCP connection ends');
        });

        test('a close without a code is answered with a close', async () => {
            const raw = await open();
            raw.write(frame(OP.CLOSE));
            const c = await raw.waitClose();
            assert.ok(c.code === 1005 || c.code === 1000, `answer to an empty close: ${c.code}`);
            assert.ok(await raw.waitEnd());
        });

        test('close 4000 (application range) is valid and echoed', async () => {
            const raw = await open();
            raw.write(frame(OP.CLOSE, closePayload(4000)));
            const c = await raw.waitClose();
            assert.ok(c.code === 4000 || c.code === 1000, `answer to close 4000: ${c.code}`);
        });
    });
}
