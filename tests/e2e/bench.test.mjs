// herald-bench smoke tests (issue 6): the load generator against a real
// notifier with a handful of clients, through each publish path it offers
// (the notifier's POST /publish, Redis XADD, NATS), and its churn mode.
// Counts are asserted (delivered == expected, no loss, no failures), never
// times: the numbers belong in docs/BENCHMARKS.md.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { runProgram, startNotifier, test } from './lib/harness.mjs';
import { HAVE_NATS, HAVE_REDIS, startNats, startRedis } from './lib/servers.mjs';

const N = 50;

/** Runs herald-bench with flags; resolves to its JSON line (parsed). */
async function bench(args) {
    const r = await runProgram('herald-bench', ['--timeout', '60', '--drain', '20', ...args], {}, 90000);
    assert.equal(r.code, 0, `herald-bench exited ${r.code}: ${r.stderr}`);
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    assert.ok(line, `no JSON line in:\n${r.stdout}`);
    return JSON.parse(line);
}

function assertAllDelivered(j, clients, events) {
    assert.equal(j.ready, clients, JSON.stringify(j));
    assert.equal(j.failed, 0);
    assert.equal(j.published, events);
    assert.equal(j.publish_errors, 0);
    assert.equal(j.expected, clients * events);
    assert.equal(j.delivered, j.expected);
    assert.equal(j.lossy_conns, 0);
    assert.equal(j.duplicates, 0);
    assert.equal(j.min_per_conn, events);
}

describe('herald-bench', () => {
    test('N clients, K events through POST /publish: every event reaches every client', async () => {
        const srv = await startNotifier();
        const j = await bench(['--url', `ws://127.0.0.1:${srv.port}/ws?channels={ch}`,
            '--publish', `http://127.0.0.1:${srv.port}/publish`, '--clients', String(N),
            '--events', '20', '--pids', `notifier=${srv.proc.pid}`, '--label', 'smoke']);
        assertAllDelivered(j, N, 20);
        assert.equal(j.label, 'smoke');
        assert.ok(j.procs.notifier.rss_idle > 0);
    });

    test('many channels: client i on channel i % C, every channel published', async () => {
        const srv = await startNotifier();
        const j = await bench(['--url', `ws://127.0.0.1:${srv.port}/ws?channels={ch}`,
            '--publish', `http://127.0.0.1:${srv.port}/publish`, '--clients', String(N),
            '--channels', '5', '--events', '10', '--rate', '200', '--workers', '2']);
        assert.equal(j.published, 10 * 5);
        assert.equal(j.expected, N * 10);
        assert.equal(j.delivered, j.expected);
        assert.equal(j.lossy_conns, 0);
    });

    test('publishing with Redis XADD', { skip: !HAVE_REDIS }, async () => {
        const r = await startRedis();
        const srv = await startNotifier(['--broker', r.url()]);
        const j = await bench(['--url', `ws://127.0.0.1:${srv.port}/ws?channels={ch}`,
            '--publish', r.url(), '--clients', String(N), '--events', '10']);
        assertAllDelivered(j, N, 10);
    });

    test('publishing with NATS', { skip: !HAVE_NATS }, async (t) => {
        const b = await startNats();
        let srv;
        try {
            srv = await startNotifier(['--broker', b.url()]);
        } catch (e) {
            // The NATS adapter may not be in this build yet: nothing to bench.
            if (/unsupported broker/.test(String(e.message))) return t.skip('notifier without NATS');
            throw e;
        }
        const j = await bench(['--url', `ws://127.0.0.1:${srv.port}/ws?channels={ch}`,
            '--publish', b.url(), '--clients', String(N), '--events', '10']);
        assertAllDelivered(j, N, 10);
    });

    test('churn mode counts complete connect/subscribe/close cycles', async () => {
        const srv = await startNotifier();
        const j = await bench(['--url', `ws://127.0.0.1:${srv.port}/ws?channels={ch}`,
            '--publish', 'none', '--clients', '20', '--events', '0', '--churn', '1']);
        assert.equal(j.failed, 0, JSON.stringify(j));
        assert.ok(j.churn_cycles >= 20, JSON.stringify(j));
    });

    test('bad flags exit 2 with one line', async () => {
        const r = await runProgram('herald-bench', ['--clients', 'x']);
        assert.equal(r.code, 2);
        assert.equal(r.stderr.trim().split('\n').length, 1);
        const u = await runProgram('herald-bench', ['--url', 'http://x']);
        assert.equal(u.code, 2);
    });
});
