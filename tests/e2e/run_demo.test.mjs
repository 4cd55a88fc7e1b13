// `make run` smoke test: scripts/run.sh with the binaries under test starts
// the notifier, the gateway (config/gateway.yaml) and the demo source on the
// fixed demo ports, the page and a live event stream are reachable through
// the gateway, a killed notifier comes back, and SIGINT to the script's
// process group (Ctrl-C) stops everything it started.
// Skipped when one of the demo ports (7070, 8080, 9090) is already taken.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { BIN, waitFor, DEADLINE_MS } from './lib/harness.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const WAIT = DEADLINE_MS * 3;

function portBusy(port) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
    });
}

function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** Connects to url, subscribes to channel and resolves with the first event. */
function firstEvent(url, channel) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no ${channel} event`)); }, WAIT);
        ws.on('error', (e) => { clearTimeout(timer); reject(e); });
        ws.on('message', (m) => {
            const msg = JSON.parse(m.toString());
            if (msg.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', channels: [channel] }));
            if (msg.type === 'event') {
                clearTimeout(timer);
                ws.close();
                resolve(msg);
            }
        });
    });
}

const busy = (await Promise.all([7070, 8080, 9090].map(portBusy))).some(Boolean);

test('make run: demo up through the gateway, notifier restarted, Ctrl-C stops all',
    { skip: busy && 'a demo port (7070/8080/9090) is in use', timeout: 120000 }, async () => {
        const run = spawn('bash', [path.join(ROOT, 'scripts', 'run.sh'), BIN], {
            cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        run.stdout.on('data', (d) => { out += d; });
        run.stderr.on('data', (d) => { out += d; });
        const exited = new Promise((resolve) => run.on('exit', (code, signal) => resolve({ code, signal })));
        try {
            await waitFor(() => out.includes('Herald demo:') || /exited|did not become ready/.test(out),
                'the demo URL', WAIT);
            assert.match(out, /Herald demo: {2}http:\/\/127\.0\.0\.1:8080\//, out);
            const page = await fetch('http://127.0.0.1:8080/');
            assert.equal(page.status, 200);
            assert.match(await page.text(), /<title>Herald/);
            const ev = await firstEvent('ws://127.0.0.1:8080/ws', 'orders');
            assert.equal(ev.channel, 'orders');
            assert.equal(typeof ev.data.ts, 'number');

            const pid = Number(/notifier ready .*\(pid (\d+)/.exec(out)[1]);
            process.kill(pid, 'SIGKILL');
            await waitFor(() => /notifier restarted \(pid \d+\)/.test(out), 'notifier restarted', WAIT);
            await waitFor(async () => (await fetch('http://127.0.0.1:7070/readyz').catch(() => ({}))).status === 200,
                'restarted notifier ready', WAIT);
            // The gateway's health check brings the upstream back (503 meanwhile).
            await waitFor(() => firstEvent('ws://127.0.0.1:8080/ws', 'orders'),
                'an event through the gateway after the restart', WAIT, 500);
        } finally {
            const children = [...out.matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1]));
            try { process.kill(-run.pid, 'SIGINT'); } catch { /* already gone */ }
            let timer;
            const end = await Promise.race([exited, new Promise((r) => { timer = setTimeout(() => r(null), WAIT); })]);
            clearTimeout(timer);
            if (!end) process.kill(-run.pid, 'SIGKILL');
            assert.ok(end, `run.sh did not stop on SIGINT:\n${out}`);
            await waitFor(() => !children.some(alive), `children ${children} gone`, WAIT);
            await waitFor(async () => !(await portBusy(8080)) && !(await portBusy(7070)), 'ports free', WAIT);
        }
    });
