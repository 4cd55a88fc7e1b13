// herald-bench smoke tests (issue 6): the load generator against a real
// notifier with a handful of clients, through each publish path it offers
// (the notifier's POST /publish, Redis XADD, NATS), its churn mode and its
// publish phases (--phases).
// Counts are asserted (delivered == expected, no loss, no failures), never
// times: the numbers belong in docs/BENCHMARKS.md.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe } from 'node:test';
import net from 'node:net';
import { BIN, freePort, runProgram, spawnServer, startNotifier, test, tmpFile, waitFor } from './lib/harness.mjs';
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

/** Runs a bench script with env; resolves to {code, stdout, stderr}. */
function runScript(script, env) {
    return new Promise((resolve, reject) => {
        const proc = spawn('bash', [script], { env: { ...process.env, ...env },
            stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => proc.kill('SIGTERM'), 120000);
        proc.on('error', (e) => { clearTimeout(timer); reject(e); });
        proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    });
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

    test('SSE and Pusher clients (issue 15): every event reaches every client', async () => {
        const srv = await startNotifier(['--pusher-app-id', '1', '--pusher-key', 'k',
            '--pusher-secret', 's']);
        const pub = `http://127.0.0.1:${srv.port}/publish`;
        const sse = await bench(['--url', `http://127.0.0.1:${srv.port}/sse?channels={ch}`,
            '--protocol', 'sse', '--publish', pub, '--clients', String(N), '--events', '10']);
        assertAllDelivered(sse, N, 10);
        const pusher = await bench(['--url', `ws://127.0.0.1:${srv.port}/app/k?protocol=7`,
            '--protocol', 'pusher', '--publish', pub, '--clients', String(N), '--events', '10']);
        assertAllDelivered(pusher, N, 10);
    });

    test('churn mode counts complete connect/subscribe/close cycles', async () => {
        const srv = await startNotifier();
        const j = await bench(['--url', `ws://127.0.0.1:${srv.port}/ws?channels={ch}`,
            '--publish', 'none', '--clients', '20', '--events', '0', '--churn', '1']);
        assert.equal(j.failed, 0, JSON.stringify(j));
        assert.ok(j.churn_cycles >= 20, JSON.stringify(j));
    });

    test('bench/scenarios/scale.sh: plain and link with several server workers, every client gets every event', async () => {
        // 200 clients, PER_WORKER=100: the link gateway runs 2 workers, the
        // plain one 4 (two descriptors per client). Ports below the
        // ephemeral range (lib.sh refuses others); a port base that another
        // run holds is retried with another one.
        const script = path.resolve(path.dirname(new URL(import.meta.url).pathname),
            '../../bench/scenarios/scale.sh');
        const out = tmpFile('scale.jsonl');
        let r;
        for (let attempt = 0; attempt < 4; attempt++) {
            const base = 20000 + 64 * Math.floor(Math.random() * 180);
            r = await runScript(script, { HERALD_BIN: BIN, NS: '200', TARGETS: 'plain link',
                EVENTS: '2', IDLE: '0.2', PER_WORKER: '100', PORT_BASE: String(base),
                OUT: out, BENCH_NICE: '0' });
            if (r.code === 0 || !/already in use/.test(r.stderr)) break;
        }
        assert.equal(r.code, 0, r.stderr);
        const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines.map((j) => j.label), ['scale-latency:plain:200:w4',
            'scale-fanout:plain:200:w4', 'scale-latency:link:200:w2', 'scale-fanout:link:200:w2']);
        for (const j of lines) {
            assert.equal(j.ready, 200, JSON.stringify(j));
            assert.equal(j.expected, 400);
            assert.equal(j.delivered, j.expected);
            assert.equal(j.lossy_conns, 0);
            // gateway supervisor + notifier + every worker, all sampled
            const workers = Number(j.label.split(':')[3].slice(1));
            assert.equal(Object.keys(j.procs).length, 2 + workers);
            for (const p of Object.values(j.procs)) assert.ok(p.rss_before > 0, JSON.stringify(j));
        }
        assert.match(r.stdout, /== scale-latency ==/);
    });

    test('herald-floor: two processes, a writer per core, every client gets every event', async () => {
        // The floor of issue 18: herald-bench drives it as it drives the
        // notifier (Herald's "subscribed", then events with t and s), its
        // publisher POSTs raw bodies to /pub/<channel> on the second port.
        const port = await freePort();
        let pub = await freePort();
        while (pub === port) pub = await freePort();
        const floor = spawnServer('herald-floor', ['--listen', `127.0.0.1:${port}`,
            '--publish', `127.0.0.1:${pub}`, '--procs', '2', '--threads', '0'], {}, port);
        await waitFor(() => new Promise((resolve) => {
            const s = net.connect(pub, '127.0.0.1', () => { s.destroy(); resolve(true); });
            s.on('error', () => resolve(false));
        }), 'herald-floor publish port');
        const clients = 300;
        const j = await bench(['--url', `ws://127.0.0.1:${port}/ws?channels={ch}`,
            '--publish', `http://127.0.0.1:${pub}/pub/{ch}`, '--publish-raw',
            '--clients', String(clients), '--events', '10', '--pids', `floor=${floor.proc.pid}`]);
        assertAllDelivered(j, clients, 10);
        const exit = await floor.stop();
        assert.equal(exit.code, 0, floor.stderr());
        // Each broadcaster reports its clients: SO_REUSEPORT spread them.
        const peaks = [...floor.stderr().matchAll(/: (\d+) clients at most, 10 events/g)].map((m) => Number(m[1]));
        assert.equal(peaks.length, 2, floor.stderr());
        assert.equal(peaks[0] + peaks[1], clients);
        assert.ok(peaks.every((n) => n > 0), floor.stderr());
    });

    test('bench/scenarios/scale.sh: floor and floor-mt targets in the same harness', async () => {
        const script = path.resolve(path.dirname(new URL(import.meta.url).pathname),
            '../../bench/scenarios/scale.sh');
        const out = tmpFile('scale-floor.jsonl');
        let r;
        for (let attempt = 0; attempt < 4; attempt++) {
            const base = 20000 + 64 * Math.floor(Math.random() * 180);
            r = await runScript(script, { HERALD_BIN: BIN, NS: '200', TARGETS: 'floor floor-mt',
                EVENTS: '2', IDLE: '0.2', PER_WORKER: '100', PORT_BASE: String(base),
                OUT: out, BENCH_NICE: '0' });
            if (r.code === 0 || !/already in use/.test(r.stderr)) break;
        }
        assert.equal(r.code, 0, r.stderr);
        const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines.map((j) => j.label), ['scale-latency:floor:200:w2',
            'scale-fanout:floor:200:w2', 'scale-latency:floor-mt:200:w2', 'scale-fanout:floor-mt:200:w2']);
        for (const j of lines) {
            assert.equal(j.ready, 200, JSON.stringify(j));
            assert.equal(j.delivered, 400);
            assert.equal(j.lossy_conns, 0);
            assert.equal(Object.keys(j.procs).length, 3, JSON.stringify(j)); // front + 2 broadcasters
        }
    });

    test('--phases: a sustained rate, a pipelined burst and max rate on the same clients, each phase counted', async () => {
        // issue18.sh's run: the phases follow each other on one set of
        // connections; every phase reports its own deliveries. Counts only.
        const srv = await startNotifier();
        const j = await bench(['--url', `ws://127.0.0.1:${srv.port}/ws?channels={ch}`,
            '--publish', `http://127.0.0.1:${srv.port}/publish`, '--clients', String(N),
            '--phases', '3@20,10@burst,4@max', '--gap', '0.1', '--pids', `notifier=${srv.proc.pid}`,
            '--label', 'phases']);
        assertAllDelivered(j, N, 17);
        assert.deepEqual(j.phases.map((p) => [p.name, p.events, p.pace]),
            [['20/s', 3, 'open'], ['burst', 10, 'burst'], ['max', 4, 'acked']]);
        for (const p of j.phases) assert.equal(p.delivered, N * p.events, JSON.stringify(p));
        const bad = await runProgram('herald-bench', ['--phases', '3@fast']);
        assert.equal(bad.code, 2);
    });

    test('bench/scenarios/issue18.sh: floor, direct and link on the same phases, every client gets every event', async () => {
        const script = path.resolve(path.dirname(new URL(import.meta.url).pathname),
            '../../bench/scenarios/issue18.sh');
        const out = tmpFile('issue18.jsonl');
        let r;
        for (let attempt = 0; attempt < 4; attempt++) {
            const base = 20000 + 64 * Math.floor(Math.random() * 180);
            r = await runScript(script, { HERALD_BIN: BIN, NS: '100', REPEAT: '1',
                TARGETS_100: 'floor notifier link link-4v', PHASES: '2@1,3@10,5@burst,2@max',
                PHASES_SCRIPTED: '5@burst,2@max', IDLE: '0.2', GAP: '0.1', DRAIN: '20',
                PORT_BASE: String(base), OUT: out, BENCH_NICE: '0' });
            if (r.code === 0 || !/already in use/.test(r.stderr)) break;
        }
        assert.equal(r.code, 0, r.stderr);
        const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines.map((j) => j.label), ['issue18:floor:100:w1', 'issue18:notifier:100:w1',
            'issue18:link:100:w2', 'issue18:link-4v:100:w2']);
        for (const j of lines) {
            const events = j.label.includes('link-4v') ? 7 : 12;
            assert.equal(j.ready, 100, JSON.stringify(j));
            assert.equal(j.delivered, 100 * events);
            assert.equal(j.lossy_conns, 0);
            for (const p of j.phases) assert.equal(p.delivered, 100 * p.events, JSON.stringify(p));
        }
        assert.match(r.stdout, /\*\*issue18\*\*/);
        assert.match(r.stdout, /link \/ floor/);
    });

    test('bad flags exit 2 with one line', async () => {
        const r = await runProgram('herald-bench', ['--clients', 'x']);
        assert.equal(r.code, 2);
        assert.equal(r.stderr.trim().split('\n').length, 1);
        const u = await runProgram('herald-bench', ['--url', 'http://x']);
        assert.equal(u.code, 2);
    });
});
