// herald-gateway worker processes (issue 7): the supervisor restarts a dead
// worker, forwards SIGHUP and SIGTERM, and the admin /metrics page sums the
// counters of every worker (shared memory slots). Connections are steered to
// a worker by client address (127.0.0.2 and 127.0.0.3 land on different
// workers of two), so per-IP limits and max_connections hold gateway-wide.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe } from 'node:test';
import {
    connectWelcome, expectRefused, freePort, freePorts, gatewayUp, parseMetrics, spawnServer, startNotifier, test,
    tmpFile, waitFor,
} from './lib/harness.mjs';

/** Awaits p while keeping the event loop alive (the harness unrefs servers). */
async function held(p) {
    const t = setInterval(() => {}, 1000);
    try { return await p; } finally { clearInterval(t); }
}


async function startGateway(nf, args, limits = {}) {
    const [listen, admin] = await freePorts(2);
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        limits: { drain_timeout_s: 5, ...limits },
        upstreams: { up: { servers: [`127.0.0.1:${nf.port}`] } },
        routes: [{ path: '/ws', upstream: 'up', websocket: true }],
    };
    const cfgPath = tmpFile('gateway.yaml', JSON.stringify(cfg));
    const gw = spawnServer('herald-gateway', ['--config', cfgPath, ...args], {}, listen);
    gw.admin = `http://127.0.0.1:${admin}`;
    return gatewayUp(gw);
}

/** Pids of the direct children of pid (Linux /proc). */
function children(pid) {
    const out = [];
    for (const d of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
            const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
            if (ppid === pid) out.push(Number(d));
        } catch { /* gone */ }
    }
    return out.sort();
}

async function value(gw, name) {
    const r = await fetch(`${gw.admin}/metrics`, { signal: AbortSignal.timeout(2000) });
    assert.equal(r.status, 200);
    const s = parseMetrics(await r.text()).filter((x) => x.name === name);
    return s.reduce((a, x) => a + x.value, 0);
}

const notifier = () => startNotifier(['--trusted-proxy', '127.0.0.1/32']);

describe('gateway workers', () => {
    test('/metrics sums the connections and reloads of every worker', async () => {
        const nf = await notifier();
        const gw = await startGateway(nf, ['--workers', '2']);
        await waitFor(async () => children(gw.proc.pid).length === 2, 'two workers');
        const clients = [];
        // Two client addresses, one per worker: worker 0's page counts them all,
        // labelled series included.
        for (let i = 0; i < 12; i++) {
            const localAddress = i % 2 ? '127.0.0.3' : '127.0.0.2';
            clients.push((await connectWelcome(gw.wsUrl('/ws'), { localAddress }))[0]);
        }
        assert.equal(await value(gw, 'herald_gateway_ws_open'), 12);
        assert.equal(await value(gw, 'herald_gateway_ws_connections_total'), 12);
        assert.equal(await value(gw, 'herald_gateway_ws_connections'), 12);
        assert.equal(await value(gw, 'herald_gateway_upstream_connections'), 12);
        assert.equal(await value(gw, 'herald_gateway_upstream_up'), 1);
        gw.proc.kill('SIGHUP');
        await waitFor(async () => (await value(gw, 'herald_gateway_reloads_total')) === 1,
            'one reload (every worker reloaded once)');
        for (const c of clients) c.terminate();
        await waitFor(async () => (await value(gw, 'herald_gateway_ws_open')) === 0, 'all closed');
    });

    test('per-IP limits and max_connections hold for the whole gateway, not per worker', async () => {
        const nf = await notifier();
        const gw = await startGateway(nf, ['--workers', '2'],
            { max_connections: 5, max_connections_per_ip: 3 });
        await waitFor(async () => children(gw.proc.pid).length === 2, 'two workers');
        const open = [];
        const refused = async (localAddress) => {
            const r = await expectRefused(gw.wsUrl('/ws'), { localAddress });
            assert.equal(r.statusCode, 503);
        };
        // Three from one address, wherever they land; the fourth is refused.
        for (let i = 0; i < 3; i++) open.push((await connectWelcome(gw.wsUrl('/ws'), { localAddress: '127.0.0.2' }))[0]);
        await refused('127.0.0.2');
        // Two more from another address (the other worker): five in all, the cap.
        for (let i = 0; i < 2; i++) open.push((await connectWelcome(gw.wsUrl('/ws'), { localAddress: '127.0.0.3' }))[0]);
        await refused('127.0.0.3');
        await refused('127.0.0.4');
        assert.equal(await value(gw, 'herald_gateway_ws_open'), 5);
        open.pop().terminate();
        await waitFor(async () => (await value(gw, 'herald_gateway_ws_open')) === 4, 'one closed');
        open.push((await connectWelcome(gw.wsUrl('/ws'), { localAddress: '127.0.0.4' }))[0]);
        for (const c of open) c.terminate();
    });

    test('a killed worker is restarted; SIGTERM still drains every worker with 1001', async () => {
        const nf = await notifier();
        const gw = await startGateway(nf, ['--workers', '2']);
        await waitFor(async () => children(gw.proc.pid).length === 2, 'two workers');
        const before = children(gw.proc.pid);
        process.kill(before[1], 'SIGKILL');
        await waitFor(async () => {
            const now = children(gw.proc.pid);
            return now.length === 2 && !now.includes(before[1]);
        }, 'a new worker in place of the killed one');
        assert.match(gw.stderr(), /worker=\d died \(signal 9\)/);
        // Keep killing worker 0 too: the admin listener comes back with it.
        process.kill(before[0], 'SIGKILL');
        await waitFor(async () => {
            const now = children(gw.proc.pid);
            if (now.length !== 2 || now.includes(before[0])) return false;
            const r = await fetch(`${gw.admin}/healthz`, { signal: AbortSignal.timeout(1000) })
                .catch(() => null);
            return r !== null && r.status === 200;
        }, 'worker 0 restarted with its admin listener');
        const clients = [];
        for (let i = 0; i < 8; i++) clients.push((await connectWelcome(gw.wsUrl('/ws')))[0]);
        assert.equal(await value(gw, 'herald_gateway_ws_open'), 8);
        gw.proc.kill('SIGTERM');
        for (const c of clients) assert.equal((await c.waitClose()).code, 1001);
        assert.equal((await held(gw.exited)).code, 0, gw.stderr());
    });

    test('--workers 0 is one per core; a worker that cannot listen stops the gateway', async () => {
        const nf = await notifier();
        const gw = await startGateway(nf, ['--workers', '0']);
        const cores = (await import('node:os')).availableParallelism();
        if (cores > 1)
            await waitFor(async () => children(gw.proc.pid).length === cores, 'one worker per core');
        const [c] = await connectWelcome(gw.wsUrl('/ws'));
        c.terminate();
        // A second gateway on the same admin port cannot listen: exit 1, no restart loop.
        const cfg = { listen: `127.0.0.1:${await freePort()}`,
            admin_listen: gw.admin.replace('http://', ''), upstreams: { up: { servers: [`127.0.0.1:${nf.port}`] } },
            routes: [{ path: '/ws', upstream: 'up', websocket: true }] };
        const bad = spawnServer('herald-gateway', ['--config', tmpFile('bad.yaml', JSON.stringify(cfg)),
            '--workers', '2']);
        assert.equal((await held(bad.exited)).code, 1, bad.stderr());
    });
});
