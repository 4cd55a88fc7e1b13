// Streaming through herald-gateway (SPEC §8: "the gateway streams such
// responses, it does not buffer them"): a real gateway in front of small
// node upstreams that write their bodies piece by piece. Each test makes the
// upstream wait for the client before writing the rest, so a gateway that
// buffered the response would never deliver anything: the tests assert on
// what arrives, never on timing.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { describe } from 'node:test';
import { freePort, spawnServer, test, tmpFile, waitFor, withDeadline, DEADLINE_MS } from './lib/harness.mjs';

/** Starts herald-gateway with one upstream and a stripped /up/ route. */
async function startGateway(upPort) {
    const listen = await freePort();
    const admin = await freePort();
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        upstreams: { up: { servers: [`127.0.0.1:${upPort}`] } },
        routes: [{ path: '/up/', upstream: 'up', strip_prefix: true }],
    };
    const srv = spawnServer('herald-gateway', ['--config', tmpFile('gateway.yaml', JSON.stringify(cfg))], {}, listen);
    await waitFor(async () => {
        if (srv.exitInfo) throw new Error(`gateway exited: ${srv.stderr()}`);
        const r = await fetch(`http://127.0.0.1:${admin}/healthz`, { signal: AbortSignal.timeout(1000) });
        return r.status === 200;
    }, 'the gateway admin /healthz', 20000);
    srv.url = (p) => `http://127.0.0.1:${listen}/up${p}`;
    return srv;
}

/** A node http server on a free port; handler(req, res). */
function upstream(handler) {
    return new Promise((resolve) => {
        const srv = http.createServer(handler);
        srv.listen(0, '127.0.0.1', () => resolve({ srv, port: srv.address().port }));
    });
}

/** A promise with its resolve function outside. */
function signal() {
    let fire;
    const p = new Promise((r) => { fire = r; });
    return { p, fire };
}

/** Reads a fetch body until pred(text so far) holds; returns the text. */
async function readUntil(reader, pred, what, sofar = '') {
    const dec = new TextDecoder();
    while (!pred(sofar)) {
        const { value, done } = await withDeadline(reader.read(), DEADLINE_MS, what);
        if (done) throw new Error(`body ended before ${what}: ${JSON.stringify(sofar)}`);
        sofar += dec.decode(value, { stream: true });
    }
    return sofar;
}

describe('gateway: streamed HTTP responses', () => {
    test('an event stream reaches the client piece by piece (chunked upstream)', async () => {
        const seen = signal();
        const up = await upstream((req, res) => {
            res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
            res.write('id: 1\nevent: orders\ndata: {"n":1}\n\n');
            seen.p.then(() => res.end('id: 2\nevent: orders\ndata: {"n":2}\n\n'));
        });
        try {
            const gw = await startGateway(up.port);
            const r = await fetch(gw.url('/events'));
            assert.equal(r.status, 200);
            assert.equal(r.headers.get('content-type'), 'text/event-stream');
            assert.equal(r.headers.get('transfer-encoding'), 'chunked');
            const reader = r.body.getReader();
            const first = await readUntil(reader, (t) => t.includes('\n\n'), 'the first event');
            assert.equal(first, 'id: 1\nevent: orders\ndata: {"n":1}\n\n');
            seen.fire(); // only now does the upstream write the second event
            const all = await readUntil(reader, (t) => t.includes('"n":2'), 'the second event', first);
            assert.equal(all, first + 'id: 2\nevent: orders\ndata: {"n":2}\n\n');
            assert.equal((await reader.read()).done, true);
        } finally {
            up.srv.close();
        }
    });

    test('a Content-Length body streams too, and the connection is reused after it', async () => {
        const half = Buffer.alloc(1 << 20, 'a');
        const seen = signal();
        const ports = [];
        const up = await upstream((req, res) => {
            ports.push(req.socket.remotePort);
            if (req.url === '/small') {
                res.end('ok');
                return;
            }
            res.writeHead(200, { 'content-length': String(2 * half.length), 'content-type': 'text/plain' });
            res.write(half);
            seen.p.then(() => res.end(Buffer.alloc(half.length, 'b')));
        });
        try {
            const gw = await startGateway(up.port);
            const r = await fetch(gw.url('/big'));
            assert.equal(r.headers.get('content-length'), String(2 * half.length));
            const reader = r.body.getReader();
            let got = 0;
            let bs = 0;
            for (;;) {
                const { value, done } = await withDeadline(reader.read(), DEADLINE_MS, 'body bytes');
                if (done) break;
                got += value.length;
                bs += value.filter((x) => x === 0x62).length;
                if (got >= 1) seen.fire(); // the first bytes came before the second half was written
            }
            assert.equal(got, 2 * half.length);
            assert.equal(bs, half.length);
            const small = await fetch(gw.url('/small'));
            assert.equal(await small.text(), 'ok');
            assert.equal(ports.length, 2);
            assert.equal(ports[0], ports[1], 'the upstream connection went back to the pool');
        } finally {
            up.srv.close();
        }
    });

    test('a close-delimited upstream body reaches the client whole, re-framed', async () => {
        const seen = signal();
        const srv = net.createServer((sock) => {
            sock.once('data', () => {
                sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nfirst;');
                seen.p.then(() => sock.end('last'));
            });
        });
        await new Promise((r) => srv.listen(0, '127.0.0.1', r));
        try {
            const gw = await startGateway(srv.address().port);
            const r = await fetch(gw.url('/x'));
            const reader = r.body.getReader();
            const first = await readUntil(reader, (t) => t.includes(';'), 'the first piece');
            seen.fire();
            const all = await readUntil(reader, (t) => t.endsWith('last'), 'the last piece', first);
            assert.equal(all, 'first;last');
            assert.equal((await reader.read()).done, true);
        } finally {
            srv.close();
        }
    });

    test('a slow client holds the upstream back instead of filling the gateway', async () => {
        const total = 48 << 20;
        const piece = crypto.randomBytes(1 << 16);
        const blocked = signal();
        const hash = crypto.createHash('sha256');
        const up = await upstream((req, res) => {
            res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
            let sent = 0;
            const more = () => {
                while (sent < total) {
                    hash.update(piece);
                    sent += piece.length;
                    if (!res.write(piece)) {
                        blocked.fire(); // the gateway stopped reading us
                        res.once('drain', more);
                        return;
                    }
                }
                res.end();
            };
            more();
        });
        try {
            const gw = await startGateway(up.port);
            // A raw client that reads nothing until the upstream is blocked.
            const sock = net.connect(Number(new URL(gw.url('/')).port), '127.0.0.1');
            sock.pause();
            await new Promise((r) => sock.once('connect', r));
            sock.write('GET /up/big HTTP/1.1\r\nHost: x\r\n\r\n');
            await withDeadline(blocked.p, DEADLINE_MS, 'backpressure on the upstream');
            const mine = crypto.createHash('sha256');
            let head = Buffer.alloc(0);
            let body = 0;
            const done = new Promise((resolve, reject) => {
                sock.on('data', (d) => {
                    if (head !== null) {
                        head = Buffer.concat([head, d]);
                        const end = head.indexOf('\r\n\r\n');
                        if (end < 0) return;
                        d = head.subarray(end + 4);
                        head = null;
                    }
                    mine.update(d);
                    body += d.length;
                    if (body >= total) resolve();
                });
                sock.on('error', reject);
                sock.on('close', () => (body >= total ? resolve() : reject(new Error(`closed after ${body} bytes`))));
            });
            sock.resume();
            await withDeadline(done, 4 * DEADLINE_MS, 'the whole body');
            sock.destroy();
            assert.equal(body, total);
            assert.equal(mine.digest('hex'), hash.digest('hex'));
        } finally {
            up.srv.close();
        }
    });
});
