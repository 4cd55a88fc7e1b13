// Process lifecycle of herald-notifier (SPEC §1): SIGTERM closes every
// client with 1001 and exits 0; the close handshake; --help and --version;
// bad flags exit 2 with one line on stderr; HERALD_* environment variables,
// with the command line winning.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { describe } from 'node:test';
import {
    connect, connectWelcome, directOnly, freePort, gatewayOnly, httpGet, metrics, metricSum,
    NOTIFIER_SHUTDOWN_CODE, OP, publish, publishOk, rawConnect, runProgram, startNotifier, test,
    waitFor, withDeadline,
} from './lib/harness.mjs';

describe('shutdown and close', () => {
    // Through the gateway, clients of a notifier that shuts down get 1012
    // (upstream lost: reconnect at once) where direct clients get 1001
    // (NOTIFIER_SHUTDOWN_CODE); the gateway's own SIGTERM gives them 1001.
    test(`notifier SIGTERM closes every client with ${NOTIFIER_SHUTDOWN_CODE} and exits 0`, async () => {
        const srv = await startNotifier();
        const clients = [];
        for (let i = 0; i < 5; i++) {
            const [c] = await connectWelcome(srv.wsUrl('/ws', { channels: `sd${i}` }));
            clients.push(c);
        }
        const raw = await rawConnect(srv.wsPort);
        await raw.upgrade('/ws');
        const exit = await srv.stop('SIGTERM');
        for (const c of clients) {
            const { code } = await c.waitClose();
            assert.equal(code, NOTIFIER_SHUTDOWN_CODE);
        }
        const rc = await raw.waitClose();
        assert.equal(rc.code, NOTIFIER_SHUTDOWN_CODE);
        assert.deepEqual(exit, { code: 0, signal: null }, `exit ${JSON.stringify(exit)}`);
    });

    test('notifier killed (SIGKILL) behind the gateway: clients get 1012', gatewayOnly('the gateway\'s upstream handling'), async () => {
        const srv = await startNotifier();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { channels: 'kill' }));
        await srv.stop('SIGKILL');
        srv.exitInfo = { ...srv.exitInfo, signal: 'SIGKILL (by the test)' };
        assert.equal((await c.waitClose()).code, 1012);
    });

    test('gateway SIGTERM closes its clients with 1001, the notifier stays up', gatewayOnly('the gateway\'s upstream handling'), async () => {
        const srv = await startNotifier();
        const clients = [];
        for (let i = 0; i < 3; i++) clients.push((await connectWelcome(srv.wsUrl('/ws', { channels: 'gwsd' })))[0]);
        const exit = await srv.gateway.stop('SIGTERM');
        for (const c of clients) assert.equal((await c.waitClose()).code, 1001);
        assert.deepEqual(exit, { code: 0, signal: null }, `gateway exit ${JSON.stringify(exit)}`);
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
        // The notifier let go of those sessions.
        await waitFor(async () => metricSum(await metrics(srv), /^herald_notifier_(connections|link_sessions)$/) === 0,
            'the notifier to drop the gateway\'s sessions');
    });

    test('SIGTERM exits 0 despite a half-sent request and a client that does not read', async () => {
        const srv = await startNotifier();
        const half = await rawConnect(srv.port);
        half.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgr');
        const idleHttp = await rawConnect(srv.port); // connected, sends nothing
        const stuck = await rawConnect(srv.wsPort); // through the gateway, if any
        await stuck.upgrade('/ws?channels=stuck');
        stuck.sock.pause();
        for (let i = 0; i < 20; i++) {
            await publishOk(srv, { channel: 'stuck', data: crypto.randomBytes(30000).toString('base64') });
        }
        const exit = await srv.stop('SIGTERM');
        assert.deepEqual(exit, { code: 0, signal: null }, `exit ${JSON.stringify(exit)}`);
        assert.ok(idleHttp);
    });

    test('SIGTERM with no clients exits 0', async () => {
        const srv = await startNotifier();
        const exit = await srv.stop('SIGTERM');
        assert.deepEqual(exit, { code: 0, signal: null });
    });

    test('a client close 1000 is echoed with 1000', async () => {
        const srv = await startNotifier();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { channels: 'bye' }));
        const info = await c.close(1000, 'done');
        assert.equal(info.code, 1000);
        // The server is fine afterwards.
        const [c2] = await connectWelcome(srv.wsUrl('/ws', { channels: 'bye' }));
        const id = await publishOk(srv, { channel: 'bye', data: 1 });
        assert.equal((await c2.nextOfType('event')).id, id);
    });

    test('a client that vanishes without a close does not disturb others', async () => {
        const srv = await startNotifier();
        const [gone] = await connectWelcome(srv.wsUrl('/ws', { channels: 'v' }));
        const [stay] = await connectWelcome(srv.wsUrl('/ws', { channels: 'v' }));
        gone.terminate();
        for (let i = 0; i < 20; i++) await publishOk(srv, { channel: 'v', data: i });
        const evs = await stay.events(20);
        assert.deepEqual(evs.map((e) => e.data), [...Array(20).keys()]);
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
    });
});

// The notifier's --ping-interval/--idle-timeout apply to its own client
// connections; a client of the gateway is pinged by the gateway
// (limits.ping_interval_s, tested in gateway.test.mjs), and herald-link
// sessions have no WebSocket of their own at the notifier.
describe('keepalive', directOnly('the notifier\'s own pings; the gateway pings its clients itself'), () => {
    test('the server pings; a client that answers stays, one that never answers is closed', async () => {
        const srv = await startNotifier(['--ping-interval', '1', '--idle-timeout', '3']);
        const [good] = await connectWelcome(srv.wsUrl('/ws', { channels: 'ka' })); // ws answers pings
        const raw = await rawConnect(srv.port);
        await raw.upgrade('/ws');
        let ping = null;
        while (!ping) {
            const f = await raw.readFrame(15000);
            assert.ok(f, 'the connection stays open until a ping');
            if (f.opcode === OP.PING) ping = f;
        }
        // The raw client never answers: it must be closed (code not fixed by SPEC).
        await raw.waitClose(30000).catch(() => null);
        assert.ok(await raw.waitEnd(30000), 'a silent client is closed');
        // The answering client is still there.
        assert.equal(good.closeInfo, null, `answering client closed: ${JSON.stringify(good.closeInfo)}`);
        const id = await publishOk(srv, { channel: 'ka', data: 1 });
        assert.equal((await good.nextOfType('event')).id, id);
    });
});

describe('flags and environment', directOnly('process flags, no client path to vary'), () => {
    test('--help exits 0', async () => {
        const r = await runProgram('herald-notifier', ['--help']);
        assert.equal(r.code, 0);
        assert.match(r.stdout + r.stderr, /--listen/);
    });

    test('--version exits 0', async () => {
        const r = await runProgram('herald-notifier', ['--version']);
        assert.equal(r.code, 0);
        assert.ok((r.stdout + r.stderr).trim().length > 0);
    });

    test('--broker memory and --log-level debug are accepted', async () => {
        const srv = await startNotifier(['--broker', 'memory', '--log-level', 'debug']);
        assert.equal((await httpGet(srv, '/readyz')).status, 200);
    });

    const badArgs = [
        ['--log-level', 'loud'],
        ['--broker', 'carrier-pigeon://x'],
        ['--no-such-flag'],
        ['--history', 'lots'],
        ['--max-channels', '12x'],
        ['--send-queue-limit', '-5'],
        ['--listen'],
        ['positional'],
    ];
    for (const args of badArgs) {
        test(`bad flags (${args.join(' ')}) -> exit 2 with one line on stderr`, async () => {
            const r = await runProgram('herald-notifier', args);
            assert.equal(r.code, 2, `exit ${r.code} stderr ${r.stderr}`);
            const lines = r.stderr.trim().split('\n');
            assert.equal(lines.length, 1, `one line on stderr, got ${JSON.stringify(r.stderr)}`);
            assert.ok(lines[0].length > 0);
        });
    }

    test('an unreadable --jwt-public-key file -> exit 2', async () => {
        const r = await runProgram('herald-notifier',
            ['--listen', '127.0.0.1:0', '--jwt-public-key', '/nonexistent/herald-e2e.pem']);
        assert.equal(r.code, 2, `exit ${r.code} stderr ${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${JSON.stringify(r.stderr)}`);
    });

    test('HERALD_LISTEN is honoured', async () => {
        const port = await freePort();
        const srv = await startNotifier([], { noListen: true, port, env: { HERALD_LISTEN: `127.0.0.1:${port}` } });
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
    });

    test('--listen wins over HERALD_LISTEN', async () => {
        const envPort = await freePort();
        const port = await freePort();
        const srv = await startNotifier([], { port, env: { HERALD_LISTEN: `127.0.0.1:${envPort}` } });
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
        const refused = await withDeadline(new Promise((resolve) => {
            const s = net.connect(envPort, '127.0.0.1');
            s.on('connect', () => { s.destroy(); resolve(false); });
            s.on('error', () => resolve(true));
        }), 5000, 'connect to the env port');
        assert.ok(refused, 'nothing listens on the HERALD_LISTEN port');
    });

    test('--listen localhost:PORT listens on 127.0.0.1; another host name is refused, naming the forms', async () => {
        const port = await freePort();
        const srv = await startNotifier(['--listen', `localhost:${port}`], { noListen: true, port });
        assert.equal((await httpGet(srv, '/healthz')).status, 200);
        const r = await runProgram('herald-notifier', ['--listen', `example.invalid:${port}`]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /--listen example\.invalid:\d+: expected ADDR:PORT with a numeric address or localhost/);
    });

    test('HERALD_API_KEY is honoured', async () => {
        const srv = await startNotifier([], { env: { HERALD_API_KEY: 'envkey' } });
        assert.equal((await publish(srv, { channel: 'e', data: 1 })).status, 401);
        assert.equal((await publish(srv, { channel: 'e', data: 1 }, { authorization: 'Bearer envkey' })).status, 200);
    });

    test('--api-key wins over HERALD_API_KEY', async () => {
        const srv = await startNotifier(['--api-key', 'flagkey'], { env: { HERALD_API_KEY: 'envkey' } });
        assert.equal((await publish(srv, { channel: 'e', data: 1 }, { authorization: 'Bearer envkey' })).status, 401);
        assert.equal((await publish(srv, { channel: 'e', data: 1 }, { authorization: 'Bearer flagkey' })).status, 200);
    });

    test('HERALD_MAX_CHANNELS is honoured', async () => {
        const srv = await startNotifier([], { env: { HERALD_MAX_CHANNELS: '1' } });
        const c = await connect(srv.wsUrl());
        assert.equal((await c.next()).type, 'welcome');
        assert.equal((await c.request({ type: 'subscribe', channels: ['a'] })).type, 'subscribed');
        const e = await c.request({ type: 'subscribe', channels: ['b'], ref: 'm' });
        assert.equal(e.code, 'too_many_channels');
    });
});
