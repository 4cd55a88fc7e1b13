// The BFF form of the transformation layer (SPEC §7, issue 12 item 5):
// examples/bff/bff.mjs between the real gateway and the real notifier.
// The gateway authenticates (JWT) and proxies to the BFF, the BFF forwards
// the identity and reshapes each event for its user; the notifier trusts the
// BFF's address for the identity headers.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'node:test';
import {
    connectWelcome, freePort, nowS, publishOk, signJwt, spawnServer, startNotifier, test, tmpFile, waitFor, gatewayUp,
} from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BFF = path.resolve(here, '../../examples/bff/bff.mjs');
const WS_MODULE = path.resolve(here, 'node_modules/ws/wrapper.mjs');
const SECRET = 'bff-e2e-secret';

async function startBff(nf) {
    const port = await freePort();
    const proc = spawn(process.execPath, [BFF], {
        env: { ...process.env, PORT: String(port), UPSTREAM: `ws://127.0.0.1:${nf.port}`, WS_MODULE },
        stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    proc.stderr.on('data', (d) => { err += d; });
    await waitFor(async () => {
        if (proc.exitCode !== null) throw new Error(`bff exited: ${err}`);
        return /listening/.test(err);
    }, 'the BFF to listen');
    return { port, proc, stderr: () => err };
}

async function startGateway(bff) {
    const listen = await freePort();
    const admin = await freePort();
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        auth: { jwt: { algorithms: ['HS256'], secret: SECRET } },
        limits: { drain_timeout_s: 5 },
        upstreams: { bff: { servers: [`127.0.0.1:${bff.port}`] } },
        routes: [{ path: '/ws', upstream: 'bff', websocket: true, auth: 'optional', strip_token: true }],
        access_log: false,
    };
    const gw = spawnServer('herald-gateway', ['--config', tmpFile('bff-gw.yaml', JSON.stringify(cfg))], {}, listen);
    gw.admin = `http://127.0.0.1:${admin}`;
    // Every worker listening (gatewayUp), not only worker 0's /healthz: until then
    // which worker a client meets depends on start-up timing.
    return gatewayUp(gw);
}

describe('BFF example', () => {
    test('a BFF between gateway and notifier reshapes events per user', async () => {
        assert.ok(fs.existsSync(BFF));
        const nf = await startNotifier(['--trusted-proxy', '127.0.0.1/32'], { direct: true });
        const bff = await startBff(nf);
        try {
            const gw = await startGateway(bff);
            const token = (sub) => signJwt({ sub, exp: nowS() + 3600 }, { key: SECRET });
            const url = (q) => `ws://127.0.0.1:${gw.port}/ws${q}`;
            const [alice, wa] = await connectWelcome(url(`?token=${token('alice')}`));
            const [bob, wb] = await connectWelcome(url(`?token=${token('bob')}`));
            const [anon, wn] = await connectWelcome(url(''));
            assert.deepEqual([wa.user, wb.user, wn.user], ['alice', 'bob', null]);
            for (const c of [alice, bob, anon]) {
                const r = await c.request({ type: 'subscribe', channels: ['orders'] });
                assert.equal(r.type, 'subscribed');
            }
            // the BFF forwards the identity: alice may subscribe to her own channel
            assert.equal((await alice.request({ type: 'subscribe', channels: ['user:alice'] })).type, 'subscribed');
            assert.equal((await bob.request({ type: 'subscribe', channels: ['user:alice'] })).type, 'error');
            await publishOk(nf, { channel: 'orders', data: { order: 7, customer: 'alice', address: 'x st', total: 12 } });
            const [ea] = await alice.events(1);
            const [eb] = await bob.events(1);
            const [en] = await anon.events(1);
            assert.deepEqual(ea.data, { order: 7, customer: 'alice', address: 'x st', total: 12, for: 'alice' });
            assert.deepEqual(eb.data, { order: 7, total: 12, for: 'bob' });
            assert.deepEqual(en.data, { order: 7, total: 12, for: 'anonymous' });
            assert.equal(ea.id, eb.id);
            await publishOk(nf, { channel: 'user:alice', data: { note: 'hi' } });
            assert.deepEqual((await alice.events(1))[0].data, { note: 'hi', for: 'alice' });
            // closing the client closes its upstream connection through the BFF
            await bob.close();
            await waitFor(async () => {
                const r = await fetch(`${nf.base}/metrics`);
                const t = await r.text();
                const m = /^herald_notifier_connections (\d+)/m.exec(t);
                return m !== null && Number(m[1]) === 2;
            }, 'the notifier to see bob leave');
        } finally {
            bff.proc.kill('SIGTERM');
        }
    });
});
