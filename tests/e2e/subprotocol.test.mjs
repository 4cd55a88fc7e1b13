// WebSocket subprotocol negotiation through herald-gateway (RFC 6455 §4.1):
// the client's Sec-WebSocket-Protocol offer goes upstream unchanged and the
// upstream's choice comes back in the client's 101. The upstream is a small
// `ws` WebSocketServer whose handleProtocols picks the second offer (or
// nothing, or a protocol nobody offered: the gateway must not relay that).

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { WebSocketServer } from 'ws';
import {
    acceptFor, DEADLINE_MS, freePort, rawConnect, spawnServer, test, tmpFile, waitFor, withDeadline,
    WebSocket, gatewayUp,
} from './lib/harness.mjs';

/** A ws echo server on a free port; pick(offers) chooses the protocol. */
async function startUpstream(pick) {
    const seen = [];
    const wss = new WebSocketServer({
        host: '127.0.0.1',
        port: 0,
        handleProtocols: (protocols) => pick([...protocols]),
    });
    wss.on('connection', (ws, req) => {
        seen.push(req.headers['sec-websocket-protocol'] ?? null);
        ws.on('message', (data, binary) => ws.send(data, { binary }));
    });
    await new Promise((resolve) => wss.once('listening', resolve));
    return { wss, port: wss.address().port, seen };
}

function stopUpstream(up) {
    for (const c of up.wss.clients) c.terminate();
    return new Promise((resolve) => up.wss.close(() => resolve()));
}

async function startGateway(upPort) {
    const listen = await freePort();
    const admin = await freePort();
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        upstreams: { up: { servers: [`127.0.0.1:${upPort}`] } },
        routes: [{ path: '/', upstream: 'up', websocket: true }],
    };
    const cfgPath = tmpFile('gateway.yaml', JSON.stringify(cfg, null, 1));
    const srv = spawnServer('herald-gateway', ['--config', cfgPath], {}, listen);
    srv.admin = `http://127.0.0.1:${admin}`;
    // Every worker listening (gatewayUp), not only worker 0's /healthz: until then
    // which worker a client meets depends on start-up timing.
    return gatewayUp(srv);
}

/** Opens a ws client offering protocols; resolves to the open socket. */
function open(url, protocols) {
    return withDeadline(new Promise((resolve, reject) => {
        const ws = new WebSocket(url, protocols, { handshakeTimeout: DEADLINE_MS, perMessageDeflate: false });
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (req, res) => {
            res.resume();
            ws.terminate();
            reject(new Error(`unexpected HTTP ${res.statusCode}`));
        });
        ws.once('error', reject);
    }), DEADLINE_MS, 'the WebSocket handshake');
}

function echo(ws, text) {
    return withDeadline(new Promise((resolve) => {
        ws.once('message', (data) => resolve(data.toString()));
        ws.send(text);
    }), DEADLINE_MS, 'the echo');
}

describe('gateway: WebSocket subprotocols', () => {
    test("the upstream's choice (the second offer) reaches the client", async () => {
        const up = await startUpstream((offers) => offers[1] ?? false);
        try {
            const gw = await startGateway(up.port);
            const ws = await open(gw.wsUrl('/chat'), ['chat.v1', 'chat.v2']);
            assert.equal(ws.protocol, 'chat.v2');
            assert.deepEqual(up.seen, ['chat.v1,chat.v2']);
            assert.equal(await echo(ws, 'hello'), 'hello');
            ws.close(1000);
        } finally {
            await stopUpstream(up);
        }
    });

    test('no offer, or an upstream that selects none: no protocol in the 101', async () => {
        const up = await startUpstream(() => false);
        try {
            const gw = await startGateway(up.port);
            const a = await open(gw.wsUrl('/chat'), []);
            assert.equal(a.protocol, '');
            // ws clients refuse a 101 without a protocol after an offer, so
            // this one is a raw handshake (RFC 6455 allows the answer).
            const raw = await rawConnect(gw.port);
            const h = await raw.upgrade('/chat', { 'Sec-WebSocket-Protocol': 'chat.v1' });
            assert.equal(h.headers['sec-websocket-accept'], acceptFor(h.key));
            assert.equal(h.headers['sec-websocket-protocol'], undefined);
            assert.deepEqual(up.seen, [null, 'chat.v1']);
            a.close(1000);
            raw.destroy();
        } finally {
            await stopUpstream(up);
        }
    });

    test('an upstream selecting a protocol nobody offered is not relayed', async () => {
        const up = await startUpstream(() => 'evil');
        try {
            const gw = await startGateway(up.port);
            await assert.rejects(open(gw.wsUrl('/chat'), ['chat.v1']), /unexpected HTTP 50[23]/);
            assert.deepEqual(up.seen, ['chat.v1']);
        } finally {
            await stopUpstream(up);
        }
    });
});
