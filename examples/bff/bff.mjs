// A backend-for-frontend between herald-gateway and herald-notifier (docs/transform.md,
// the second form of the transformation layer):
//
//   client ⇄ herald-gateway ⇄ this BFF ⇄ herald-notifier
//
// The gateway authenticates clients and proxies each WebSocket here (the
// BFF is the route's upstream). For every client the BFF opens one
// WebSocket to the notifier, forwarding the identity the gateway vouched for
// (X-Herald-User / X-Herald-Channels: the notifier must trust this BFF's
// address with --trusted-proxy), relays client commands as they are, and
// reshapes every event for the user it is going to: here, an order event
// keeps its customer fields only for that customer, and gets a "for" field.
// Anything else (welcome, subscribed, errors) passes unchanged.
//
// Run: PORT=8090 UPSTREAM=ws://127.0.0.1:7070 node bff.mjs
// (npm install in this folder first: it needs the `ws` package.)

const { WebSocketServer, WebSocket } = await import(process.env.WS_MODULE || 'ws');

const PORT = Number(process.env.PORT || 8090);
const UPSTREAM = process.env.UPSTREAM || 'ws://127.0.0.1:7070';
const FORWARD = ['x-herald-user', 'x-herald-channels', 'x-request-id', 'x-forwarded-for'];

/** The event as this user may see it (the BFF's whole point). */
function reshape(event, user) {
    const data = event.data;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return event;
    const out = { ...data, for: user ?? 'anonymous' };
    if (data.customer !== undefined && data.customer !== user) {
        delete out.customer;
        delete out.address;
    }
    return { ...event, data: out };
}

function downstream(text, user) {
    let msg;
    try { msg = JSON.parse(text); } catch { return text; }
    if (msg.type !== 'event') return text;
    return JSON.stringify(reshape(msg, user));
}

const wss = new WebSocketServer({ port: PORT, host: '127.0.0.1', perMessageDeflate: false });

wss.on('connection', (client, req) => {
    const user = req.headers['x-herald-user'];
    const headers = {};
    for (const h of FORWARD) if (req.headers[h] !== undefined) headers[h] = req.headers[h];
    const up = new WebSocket(`${UPSTREAM}${req.url}`, { headers, perMessageDeflate: false });
    const pending = [];
    up.on('open', () => { for (const m of pending.splice(0)) up.send(m); });
    up.on('message', (data, isBinary) => {
        if (client.readyState !== WebSocket.OPEN) return;
        client.send(isBinary ? data : downstream(data.toString(), user), { binary: isBinary });
    });
    client.on('message', (data, isBinary) => {
        const m = isBinary ? data : data.toString();
        if (up.readyState === WebSocket.OPEN) up.send(m);
        else pending.push(m);
    });
    const closeCode = (code) => (code >= 1000 && code <= 4999 && code !== 1005 && code !== 1006 ? code : 1011);
    up.on('close', (code, reason) => client.close(closeCode(code), reason));
    up.on('error', () => client.close(1011, 'upstream error'));
    client.on('close', (code) => up.readyState === WebSocket.CONNECTING ? up.terminate() : up.close(closeCode(code)));
    client.on('error', () => up.terminate());
});

wss.on('listening', () => process.stderr.write(`bff listening on 127.0.0.1:${PORT}, upstream ${UPSTREAM}\n`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => wss.close(() => process.exit(0)));
