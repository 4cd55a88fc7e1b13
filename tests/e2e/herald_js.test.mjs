// Tests for web/herald.js, the browser client, run in node with the `ws`
// package as its WebSocket implementation.
//
// Part 1 drives herald.js against the real herald-notifier: subscribe and
// receive, resume across a cut connection (a TCP proxy in the test drops and
// refuses connections while events are published), restart of the notifier
// (close 1001), JWT identity and refusals.
// Part 2 covers the reconnect policy for close codes the notifier cannot be
// made to send on demand (1012 from a gateway, 1013, 401) with a scripted
// `ws` server standing in for the gateway.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, after } from 'node:test';
import { WebSocketServer } from 'ws';
import {
    test, startNotifier, publishOk, signJwt, nowS, waitFor, sleep, freePort, WebSocket, NOTIFIER_SHUTDOWN_CODE,
    DEADLINE_MS, directOnly, withDeadline,
} from './lib/harness.mjs';
import { Herald, backoffDelay, isValidChannel } from '../../web/herald.js';

const SECRET = 'herald-js-test-secret';
const clients = new Set();

/** A Herald client that the test's cleanup closes. */
function herald(url, opts = {}) {
    const h = new Herald(url, { WebSocket, backoffInitialMs: 50, backoffMaxMs: 400, ...opts });
    clients.add(h);
    return h;
}

function closeClients() {
    for (const h of clients) h.close();
    clients.clear();
}
after(closeClients);

/** Collects what a handler receives on channel. */
function collect(h, channel) {
    const got = [];
    const off = h.subscribe(channel, (data, ev) => got.push({ data, ...ev }));
    return { got, off };
}

/** Resolves with the next `type` event of h (listen before causing it). */
function nextEvent(h, type) {
    let off;
    return withDeadline(new Promise((r) => {
        off = h.on(type, r);
    }), DEADLINE_MS, `herald '${type}' event`).finally(() => off());
}

function waitState(h, state, what = `state ${state}`) {
    return waitFor(() => h.state === state, what);
}

function recordStates(h) {
    const seen = [];
    h.on('state', (s) => seen.push(s));
    return seen;
}

/**
 * A TCP proxy in front of the notifier. cut() drops every connection and
 * refuses new ones until heal(); this is what a network outage looks like to
 * the client.
 */
async function startProxy(targetPort) {
    const port = await freePort();
    const socks = new Set();
    let down = false;
    const server = net.createServer((c) => {
        if (down) {
            c.destroy();
            return;
        }
        const u = net.connect(targetPort, '127.0.0.1');
        socks.add(c);
        socks.add(u);
        c.pipe(u);
        u.pipe(c);
        const done = () => {
            c.destroy();
            u.destroy();
            socks.delete(c);
            socks.delete(u);
        };
        c.on('error', done).on('close', done);
        u.on('error', done).on('close', done);
    });
    await new Promise((r) => server.listen(port, '127.0.0.1', r));
    return {
        url: `ws://127.0.0.1:${port}/ws`,
        cut() {
            down = true;
            for (const s of socks) s.destroy();
        },
        heal() {
            down = false;
        },
        close() {
            for (const s of socks) s.destroy();
            return new Promise((r) => server.close(r));
        },
    };
}

describe('herald.js against herald-notifier', () => {
    test('subscribe delivers events in order; unsubscribe stops them', async () => {
        const srv = await startNotifier();
        const h = herald(srv.wsUrl('/ws'));
        const subscribed = nextEvent(h, 'subscribed');
        const orders = collect(h, 'orders');
        await subscribed;
        const ids = [];
        for (let i = 0; i < 20; i++) ids.push(await publishOk(srv, { channel: 'orders', data: { n: i } }));
        await publishOk(srv, { channel: 'other', data: 'not for us' });
        await waitFor(() => orders.got.length === 20, '20 orders');
        assert.deepEqual(orders.got.map((e) => e.data.n), [...Array(20).keys()]);
        assert.deepEqual(orders.got.map((e) => e.id), ids.map(String));
        assert.equal(orders.got[0].channel, 'orders');
        assert.equal(h.lastId, String(ids[19]));

        const unsubscribed = nextEvent(h, 'unsubscribed');
        orders.off();
        assert.deepEqual((await unsubscribed).channels, ['orders']);
        const subAlerts = nextEvent(h, 'subscribed');
        const alerts = collect(h, 'alerts');
        await subAlerts;
        await publishOk(srv, { channel: 'orders', data: { n: 99 } });
        await publishOk(srv, { channel: 'alerts', data: 'fence' });
        await waitFor(() => alerts.got.length === 1, 'alert after unsubscribe');
        assert.equal(orders.got.length, 20, 'no orders after unsubscribe');
        h.close();
        assert.equal(h.state, 'closed');
    });

    test('resumes after a network cut: events published meanwhile arrive once, in order', async () => {
        const srv = await startNotifier();
        const proxy = await startProxy(srv.wsPort); // the cut is in front of the gateway, if any
        try {
            const h = herald(proxy.url);
            const states = recordStates(h);
            const first = nextEvent(h, 'subscribed');
            const a = collect(h, 'orders');
            const b = collect(h, 'alerts');
            await first;
            await publishOk(srv, { channel: 'orders', data: 1 });
            await publishOk(srv, { channel: 'alerts', data: 'a1' });
            await waitFor(() => a.got.length === 1 && b.got.length === 1, 'first events');

            proxy.cut();
            await waitFor(() => h.state === 'reconnecting', 'reconnecting after cut');
            for (let i = 2; i <= 6; i++) {
                await publishOk(srv, { channel: 'orders', data: i });
                await publishOk(srv, { channel: 'alerts', data: `a${i}` });
            }
            const resumed = nextEvent(h, 'subscribed');
            proxy.heal();
            const sub = await resumed;
            assert.equal(sub.resumed, true);
            assert.equal(sub.recovered, true);
            await publishOk(srv, { channel: 'orders', data: 7 });
            await waitFor(() => a.got.length === 7, 'orders 1..7');
            assert.deepEqual(a.got.map((e) => e.data), [1, 2, 3, 4, 5, 6, 7]);
            await waitFor(() => b.got.length === 6, 'alerts a1..a6');
            assert.deepEqual(b.got.map((e) => e.data), ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
            assert.ok(states.some((s) => s.state === 'reconnecting' && s.retryAt >= Date.now() - 60000));
        } finally {
            closeClients();
            await proxy.close();
        }
    });

    // Direct, the notifier's SIGTERM is 1001; through the gateway the client
    // learns 1012 (upstream lost) and reconnects to the gateway, which finds
    // the restarted notifier on the same address.
    test(`notifier restart (${NOTIFIER_SHUTDOWN_CODE}) reconnects at once and keeps the subscriptions`, async () => {
        const srv = await startNotifier();
        const h = herald(srv.wsUrl('/ws'), { backoffInitialMs: 200, backoffMaxMs: 1000 });
        const disconnects = [];
        h.on('disconnect', (d) => disconnects.push(d));
        const states = recordStates(h);
        const first = nextEvent(h, 'subscribed');
        const a = collect(h, 'orders');
        await first;
        await publishOk(srv, { channel: 'orders', data: 'before' });
        await waitFor(() => a.got.length === 1, 'event before restart');

        const port = srv.port;
        await srv.stop('SIGTERM');
        await waitFor(() => disconnects.length >= 1, 'disconnect');
        assert.equal(disconnects[0].code, NOTIFIER_SHUTDOWN_CODE);
        const firstRetry = states.find((s) => s.state === 'reconnecting');
        assert.equal(firstRetry.delay, 0, `${NOTIFIER_SHUTDOWN_CODE} reconnects without waiting`);

        const sub = nextEvent(h, 'subscribed');
        const again = await startNotifier([], { port, linkPort: srv.linkPort ?? undefined, withoutGateway: true });
        await withDeadline(sub, DEADLINE_MS * 3, 'resubscribed after restart');
        await publishOk(again, { channel: 'orders', data: 'after' });
        await waitFor(() => a.got.some((e) => e.data === 'after'), 'event after restart');
        assert.equal(a.got.filter((e) => e.data === 'before').length, 1);
    });

    test('JWT: the welcome names the user, user:<id> is allowed, others are refused', async () => {
        const srv = await startNotifier(['--jwt-secret', SECRET]);
        const token = signJwt({ sub: 'alice', exp: nowS() + 600 }, { key: SECRET });
        const h = herald(srv.wsUrl('/ws'), { token });
        const errors = [];
        h.on('error', (e) => errors.push(e));
        await waitState(h, 'open');
        assert.equal(h.user, 'alice');
        const mine = collect(h, 'user:alice');
        collect(h, 'user:bob');
        await waitFor(() => errors.length === 1, 'forbidden error');
        assert.equal(errors[0].code, 'forbidden');
        assert.ok(errors[0].channels.includes('user:bob'));
        assert.ok(!h.channels().includes('user:bob'), 'refused channel dropped');
        await publishOk(srv, { channel: 'user:alice', data: { text: 'hi alice' } });
        await waitFor(() => mine.got.length === 1, 'user event');
        assert.equal(mine.got[0].data.text, 'hi alice');
    });

    test('an invalid token closes the client for good (no reconnect loop)', async () => {
        const srv = await startNotifier(['--jwt-secret', SECRET]);
        const bad = signJwt({ sub: 'mallory', exp: nowS() + 600 }, { key: 'wrong-secret' });
        const h = herald(srv.wsUrl('/ws'), { token: bad, autoConnect: false });
        const states = recordStates(h);
        h.connect();
        await waitState(h, 'closed', 'closed after 401');
        const last = states[states.length - 1];
        assert.equal(last.reason, 'auth');
        assert.equal(last.status, 401);
        await sleep(300);
        assert.equal(states.filter((s) => s.state === 'connecting').length, 1);
    });

    test('a token function is asked again before reconnecting (refresh)', async () => {
        const srv = await startNotifier(['--jwt-secret', SECRET]);
        const calls = [];
        let n = 0;
        const token = ({ reason }) => {
            calls.push(reason);
            n += 1;
            // The first token is already expired: the server refuses it with 401.
            return signJwt({ sub: `u${n}`, exp: n === 1 ? nowS() - 60 : nowS() + 600 }, { key: SECRET });
        };
        const h = herald(srv.wsUrl('/ws'), { token });
        await waitState(h, 'open', 'open with the refreshed token');
        assert.equal(h.user, 'u2');
        assert.deepEqual(calls, ['connect', 'reconnect']);
    });
});

/* ------------------------------------------------------------------ */
/* Part 2: reconnect policy against a scripted server                  */
/* ------------------------------------------------------------------ */

/**
 * A scripted stand-in for the gateway: answers the handshake, sends welcome,
 * records every client command and lets the test send or close. status: when
 * set, refuses handshakes with that HTTP status; refuse: refuses that many
 * more handshakes with 503 (a restarting upstream), then accepts again;
 * welcome: false to accept without sending welcome.
 */
async function scripted() {
    const port = await freePort();
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    const state = { conns: [], commands: [], urls: [], status: 0, refuse: 0, welcome: true };
    const origHandle = wss.handleUpgrade.bind(wss);
    wss.handleUpgrade = (req, sock, head, cb) => {
        state.urls.push(req.url);
        const status = state.status || (state.refuse > 0 ? 503 : 0);
        if (status) {
            if (state.refuse > 0) state.refuse -= 1;
            sock.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
            return;
        }
        origHandle(req, sock, head, cb);
    };
    wss.on('connection', (ws) => {
        state.conns.push(ws);
        ws.on('message', (m) => state.commands.push(JSON.parse(m.toString())));
        if (state.welcome) {
            ws.send(JSON.stringify({ type: 'welcome', connection: `c${state.conns.length}`, user: null }));
        }
    });
    await new Promise((r) => wss.on('listening', r));
    return {
        url: `ws://127.0.0.1:${port}/ws`,
        state,
        last: () => state.conns[state.conns.length - 1],
        send: (obj) => state.conns[state.conns.length - 1].send(JSON.stringify(obj)),
        close: () => new Promise((r) => {
            for (const c of wss.clients) c.terminate();
            wss.close(r);
        }),
    };
}

/** Replies to subscribe commands like the notifier does. */
function ackSubscribes(s, recovered = true) {
    const seen = new Set();
    return setInterval(() => {
        s.state.commands.forEach((c, i) => {
            if (seen.has(i) || c.type !== 'subscribe') return;
            seen.add(i);
            s.send({ type: 'subscribed', channels: c.channels, recovered, ref: c.ref });
        });
    }, 10);
}

describe('herald.js reconnect policy (scripted server)', directOnly('a scripted server, no notifier or gateway'), () => {
    test('1012 reconnects at once, 1013 waits a backoff, both resume with since', async () => {
        const s = await scripted();
        const timer = ackSubscribes(s);
        try {
            const h = herald(s.url, { backoffInitialMs: 300, backoffMaxMs: 300 });
            const states = recordStates(h);
            const got = collect(h, 'orders').got;
            await waitFor(() => s.state.commands.length === 1, 'subscribe');
            assert.deepEqual(s.state.commands[0].channels, ['orders']);
            assert.equal(s.state.commands[0].since, undefined);
            s.send({ type: 'event', channel: 'orders', id: '5', data: 'x' });
            await waitFor(() => got.length === 1, 'event');

            s.last().close(1012, 'upstream lost');
            await waitFor(() => s.state.commands.length === 2, 'resubscribe after 1012');
            assert.equal(s.state.commands[1].since, '5');
            const r1012 = states.filter((st) => st.state === 'reconnecting');
            assert.equal(r1012[0].delay, 0);
            assert.equal(r1012[0].code, 1012);

            s.send({ type: 'event', channel: 'orders', id: '6', data: 'y' });
            await waitFor(() => got.length === 2, 'event 6');
            s.last().close(1013, 'overloaded');
            await waitFor(() => s.state.commands.length === 3, 'resubscribe after 1013');
            const r1013 = states.filter((st) => st.state === 'reconnecting')[1];
            assert.equal(r1013.code, 1013);
            assert.ok(r1013.delay >= 0 && r1013.delay < 300, `backoff delay ${r1013.delay}`);
            assert.ok(r1013.retryAt >= Date.now() - 10000);
            assert.equal(s.state.commands[2].since, '6');
        } finally {
            clearInterval(timer);
            closeClients();
            await s.close();
        }
    });

    test('duplicates and replays are never delivered twice; recovered:false is a gap', async () => {
        const s = await scripted();
        const timer = ackSubscribes(s, false);
        try {
            const h = herald(s.url);
            const gaps = [];
            h.on('gap', (g) => gaps.push(g));
            const got = collect(h, 'orders').got;
            const all = [];
            h.on('event', (e) => all.push(e.id));
            await waitFor(() => s.state.commands.length === 1, 'subscribe');
            for (const id of ['1', '2', '2', '3', '1']) {
                s.send({ type: 'event', channel: 'orders', id, data: id });
            }
            s.send({ type: 'event', channel: 'nobody', id: '9', data: 'unsubscribed channel' });
            await sleep(100);
            assert.deepEqual(got.map((e) => e.id), ['1', '2', '3']);
            assert.deepEqual(all, ['1', '2', '3']);
            assert.equal(gaps.length, 1, 'first subscribe reported recovered:false');
            assert.equal(gaps[0].since, null);
        } finally {
            clearInterval(timer);
            closeClients();
            await s.close();
        }
    });

    test('401 stops the client; the token is not retried without a refresh function', async () => {
        const s = await scripted();
        s.state.status = 401;
        try {
            const h = herald(s.url, { token: 'expired' });
            await waitState(h, 'closed');
            await sleep(200);
            assert.equal(s.state.urls.length, 1);
            assert.match(s.state.urls[0], /token=expired/);
        } finally {
            closeClients();
            await s.close();
        }
    });

    test('an expired JWT counts as an auth failure even when the status is hidden', async () => {
        const s = await scripted();
        s.state.status = 503; // what a browser would see: a failed handshake, no reason
        try {
            const expired = signJwt({ sub: 'x', exp: nowS() - 5 }, { key: 'k' });
            const h = herald(s.url, { token: expired });
            await waitState(h, 'closed');
            await sleep(200);
            assert.equal(s.state.urls.length, 1);
        } finally {
            closeClients();
            await s.close();
        }
    });

    test('connection refused backs off with capped, jittered delays', async () => {
        const port = await freePort();
        const h = herald(`ws://127.0.0.1:${port}/ws`, { backoffInitialMs: 20, backoffMaxMs: 80 });
        const states = recordStates(h);
        await waitFor(() => states.filter((s) => s.state === 'reconnecting').length >= 6, 'six retries',
            DEADLINE_MS);
        h.close();
        const delays = states.filter((s) => s.state === 'reconnecting').map((s) => s.delay);
        assert.ok(delays.every((d) => d >= 0 && d < 80), `delays ${delays}`);
        assert.equal(h.state, 'closed');
    });

    test('close() then connect() (a new identity) opens exactly one socket and resumes', async () => {
        const s = await scripted();
        const timer = ackSubscribes(s);
        try {
            let token = 'anon';
            const h = herald(s.url, { token: async () => token });
            const got = collect(h, 'orders').got;
            await waitFor(() => s.state.commands.length === 1, 'subscribe');
            s.send({ type: 'event', channel: 'orders', id: '7', data: 'x' });
            await waitFor(() => got.length === 1, 'event');
            token = 'signed-in';
            h.close();
            h.connect();
            h.close();
            h.connect();
            await waitFor(() => s.state.commands.length === 2, 'resubscribe');
            await sleep(100);
            assert.equal(s.state.conns.filter((c) => c.readyState === 1).length, 1);
            assert.match(s.state.urls[s.state.urls.length - 1], /token=signed-in/);
            assert.equal(s.state.commands[1].since, '7');
        } finally {
            clearInterval(timer);
            closeClients();
            await s.close();
        }
    });

    test('a rate_limited subscribe is asked again later; forbidden is final', async () => {
        const s = await scripted();
        try {
            const h = herald(s.url);
            const errors = [];
            h.on('error', (e) => errors.push(e));
            await waitState(h, 'open');
            const got = collect(h, 'busy').got;
            await waitFor(() => s.state.commands.length === 1, 'first subscribe');
            s.send({ type: 'error', code: 'rate_limited', message: 'slow down', ref: s.state.commands[0].ref });
            await waitFor(() => s.state.commands.length === 2, 'subscribe asked again');
            assert.deepEqual(s.state.commands[1].channels, ['busy']);
            s.send({ type: 'subscribed', channels: ['busy'], recovered: true, ref: s.state.commands[1].ref });
            s.send({ type: 'event', channel: 'busy', id: '1', data: 1 });
            await waitFor(() => got.length === 1, 'event after the retry');
            assert.deepEqual(errors.map((e) => e.code), ['rate_limited']);

            collect(h, 'team:secret');
            await waitFor(() => s.state.commands.length === 3, 'forbidden subscribe');
            s.send({ type: 'error', code: 'forbidden', message: 'no', ref: s.state.commands[2].ref });
            await waitFor(() => errors.length === 2, 'forbidden error');
            assert.deepEqual(errors[1].channels, ['team:secret']);
            assert.deepEqual(errors[1].dropped, ['team:secret']);
            assert.deepEqual(errors[0].dropped, [], 'rate_limited drops nothing');
            assert.deepEqual(h.channels(), ['busy']);
            await sleep(300);
            assert.equal(s.state.commands.length, 3, 'not asked again');
        } finally {
            closeClients();
            await s.close();
        }
    });

    test('subscribe calls in one tick become one command; names are validated', async () => {
        const s = await scripted();
        const timer = ackSubscribes(s);
        try {
            const h = herald(s.url);
            await waitState(h, 'open');
            h.subscribe('a', () => {});
            h.subscribe('b', () => {});
            const offC = h.subscribe('c', () => {});
            offC();
            await waitFor(() => s.state.commands.length >= 1, 'subscribe');
            await sleep(50);
            assert.equal(s.state.commands.length, 1);
            assert.deepEqual(s.state.commands[0].channels, ['a', 'b']);
            assert.throws(() => h.subscribe('bad name', () => {}), TypeError);
            assert.throws(() => h.subscribe('x'.repeat(129), () => {}), TypeError);
        } finally {
            clearInterval(timer);
            closeClients();
            await s.close();
        }
    });
});

describe('herald.js reconnect delays during a restart storm (scripted server)',
    directOnly('a scripted server, no notifier or gateway'), () => {
        test('1012, then N refused attempts: every delay stays under the cap, the code stays 1012', async () => {
            const s = await scripted();
            try {
                const cap = 120;
                const h = herald(s.url, { backoffInitialMs: 10, backoffMaxMs: cap });
                const states = recordStates(h);
                await waitState(h, 'open');
                const refusals = 12; // enough for 10 * 2^n to pass the cap several times
                s.state.refuse = refusals;
                const opened = nextEvent(h, 'welcome');
                s.last().close(1012, 'upstream lost');
                await opened;
                const waits = states.filter((st) => st.state === 'reconnecting');
                assert.equal(waits.length, refusals + 1, 'one wait after the close, one per refusal');
                assert.equal(waits[0].delay, 0, '1012: the first attempt at once');
                const delays = waits.slice(1).map((w) => w.delay);
                assert.ok(delays.every((d) => d >= 0 && d < cap), `delays ${delays} under ${cap}`);
                assert.ok(new Set(delays).size > 1, `jittered: ${delays}`);
                // The page shows the close it was given, not the failed retries'.
                assert.ok(waits.every((w) => w.code === 1012), JSON.stringify(waits.map((w) => w.code)));
                assert.ok(waits.slice(1).every((w) => w.failedCode === 1006),
                    JSON.stringify(waits.map((w) => w.failedCode)));
                assert.equal(s.state.urls.length, 1 + refusals + 1);
            } finally {
                closeClients();
                await s.close();
            }
        });

        test('the default policy: delays never reach 3 s, however many attempts failed', () => {
            const h = new Herald('ws://127.0.0.1:1/ws', { WebSocket, autoConnect: false });
            const { backoffInitialMs, backoffMaxMs } = h.opts;
            assert.equal(backoffMaxMs, 3000);
            for (let attempt = 0; attempt < 64; attempt++) {
                const d = backoffDelay(attempt, backoffInitialMs, backoffMaxMs, () => 0.9999999);
                assert.ok(d < 3000, `attempt ${attempt}: ${d}`);
            }
            // The cap is reached after a few attempts, not after minutes.
            assert.equal(backoffDelay(3, backoffInitialMs, backoffMaxMs, () => 0.9999999), 2999);
        });
    });

/* ------------------------------------------------------------------ */
/* close() and reconnects in every socket state (Node `ws`)            */
/* ------------------------------------------------------------------ */

describe('herald.js never throws from close() or a reconnect, in any socket state',
    directOnly('scripted servers, no notifier or gateway'), () => {
        // An 'error' without a listener on a `ws` socket is thrown from an
        // event: it surfaces here, not at the call.
        const thrown = [];
        const onUncaught = (e) => thrown.push(e);
        let sockets = [];
        /** ws sockets that herald.js opens, kept for the test to inspect and poke. */
        class ProbeSocket extends WebSocket {
            constructor(...args) {
                super(...args);
                sockets.push(this);
                this.whenClosed = null; // a function to run from the socket's own 'close'
                this.on('close', () => this.whenClosed?.());
            }
        }
        const last = () => sockets[sockets.length - 1];

        /** A TCP server that accepts and never answers: handshakes stay CONNECTING. */
        async function silent() {
            const port = await freePort();
            const socks = new Set();
            const server = net.createServer((c) => {
                socks.add(c);
                c.on('error', () => {}).on('close', () => socks.delete(c));
            });
            await new Promise((r) => server.listen(port, '127.0.0.1', r));
            return {
                url: `ws://127.0.0.1:${port}/ws`,
                accepted: () => socks.size,
                close() {
                    for (const c of socks) c.destroy();
                    return new Promise((r) => server.close(r));
                },
            };
        }

        async function settle() {
            for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
            await sleep(50);
        }

        async function closedQuietly(h, what) {
            await settle();
            assert.equal(h.state, 'closed', what);
            assert.deepEqual(thrown.map((e) => e.message), [], what);
        }

        test('CONNECTING, OPEN before and after welcome, CLOSING, CLOSED', async () => {
            process.on('uncaughtException', onUncaught);
            const quiet = await silent();
            const s = await scripted();
            try {
                const opts = { WebSocket: ProbeSocket, connectTimeoutMs: 60000 };
                // CONNECTING: the TCP connection is up, the handshake unanswered.
                sockets = [];
                let h = herald(quiet.url, opts);
                await waitFor(() => quiet.accepted() === 1 && last()?.readyState === WebSocket.CONNECTING,
                    'a connecting socket');
                h.close();
                await closedQuietly(h, 'close() while CONNECTING');

                // OPEN, no welcome yet.
                s.state.welcome = false;
                sockets = [];
                h = herald(s.url, opts);
                await waitFor(() => last()?.readyState === WebSocket.OPEN, 'an open socket');
                assert.equal(h.state, 'connecting');
                h.close();
                await closedQuietly(h, 'close() while OPEN before welcome');
                s.state.welcome = true;

                // OPEN after welcome.
                sockets = [];
                h = herald(s.url, opts);
                await waitState(h, 'open');
                h.close();
                await closedQuietly(h, 'close() while OPEN');

                // CLOSING: the socket's own close handshake under way.
                sockets = [];
                h = herald(s.url, opts);
                await waitState(h, 'open');
                last().close(1000);
                assert.equal(last().readyState, WebSocket.CLOSING);
                h.close();
                await closedQuietly(h, 'close() while CLOSING');

                // CLOSED: from the socket's 'close' event, before herald.js has seen it.
                sockets = [];
                h = herald(s.url, opts);
                await waitState(h, 'open');
                const sock = last();
                let stateThen = -1;
                sock.whenClosed = () => {
                    stateThen = sock.readyState;
                    h.close();
                };
                s.last().close(1012, 'upstream lost');
                await waitFor(() => stateThen !== -1, 'the close event');
                assert.equal(stateThen, WebSocket.CLOSED);
                await closedQuietly(h, 'close() while CLOSED');
                assert.equal(sockets.length, 1, 'no reconnect after close()');

                // close() then connect() (a new identity) in each state, twice over.
                sockets = [];
                h = herald(quiet.url, opts);
                await waitFor(() => last()?.readyState === WebSocket.CONNECTING, 'connecting again');
                h.close();
                h.connect();
                h.close();
                await closedQuietly(h, 'close, connect, close while CONNECTING');
            } finally {
                process.off('uncaughtException', onUncaught);
                closeClients();
                await quiet.close();
                await s.close();
            }
        });

        test('a reconnect that drops a CONNECTING socket (connect timeout) does not throw', async () => {
            process.on('uncaughtException', onUncaught);
            const quiet = await silent();
            try {
                sockets = [];
                const h = herald(quiet.url, {
                    WebSocket: ProbeSocket, connectTimeoutMs: 30, backoffInitialMs: 5, backoffMaxMs: 20,
                });
                const states = recordStates(h);
                await waitFor(() => states.filter((st) => st.state === 'reconnecting').length >= 3,
                    'three reconnects after connect timeouts');
                assert.ok(states.filter((st) => st.state === 'reconnecting')
                    .every((st) => st.failedCode === 4000), JSON.stringify(states));
                h.close();
                await closedQuietly(h, 'reconnects from CONNECTING');
            } finally {
                process.off('uncaughtException', onUncaught);
                closeClients();
                await quiet.close();
            }
        });
    });

test('backoffDelay and isValidChannel', () => {
    assert.equal(backoffDelay(0, 500, 30000, () => 0.999999), 499);
    assert.equal(backoffDelay(3, 500, 30000, () => 0.5), 2000);
    assert.equal(backoffDelay(40, 500, 30000, () => 0.999999), 29999);
    assert.equal(backoffDelay(5, 500, 30000, () => 0), 0);
    assert.ok(isValidChannel('user:alice@example.com'));
    assert.ok(!isValidChannel(''));
    assert.ok(!isValidChannel('a,b'));
});
