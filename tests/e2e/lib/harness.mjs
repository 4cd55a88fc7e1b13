// Shared harness for Herald's end-to-end tests (node's built-in test runner).
//
// Starts the real programs from $HERALD_BIN on free ports, waits until they
// are ready, captures each one's stderr in a temp file (shown when a test
// fails), and kills every child on exit. Clients: a `ws` client with a
// message queue (`next()`, `nextOfType()`), `publish()` over fetch, JWT
// signing (HS256/RS256/ES256 with node:crypto), Prometheus text parsing, and
// a raw TCP client that writes hand-built WebSocket frames and handshakes.
//
// Waits are deadlines, never timings: every wait has a generous bound and a
// test asserts on what arrives, not on how fast.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test as nodeTest } from 'node:test';
import WebSocket from 'ws';

export { WebSocket };

export const BIN = process.env.HERALD_BIN || path.resolve(
    path.dirname(new URL(import.meta.url).pathname), '../../../build/bin');

// Generous: the suite runs under ASan on a loaded two-core machine.
export const DEADLINE_MS = Number(process.env.HERALD_E2E_DEADLINE_MS || 10000);

/**
 * How clients reach the notifier (HERALD_E2E_UPSTREAM): `direct` (default)
 * connects to herald-notifier itself; `proxy` puts herald-gateway in front
 * with plain WebSocket proxying; `link` puts herald-gateway in front with a
 * `protocol: herald-link` upstream to the notifier's --link-listen. In the
 * two gateway modes startNotifier() also starts the gateway, and the
 * returned server's wsUrl()/wsPort address the gateway while base/port
 * (publish, metrics, health, signals) stay the notifier's. scripts/e2e.sh
 * runs the SPEC client suites once per mode.
 */
export const UPSTREAM = process.env.HERALD_E2E_UPSTREAM || 'direct';
if (!['direct', 'proxy', 'link'].includes(UPSTREAM)) {
    throw new Error(`HERALD_E2E_UPSTREAM must be direct, proxy or link, not ${JSON.stringify(UPSTREAM)}`);
}
/** True when clients go through herald-gateway (proxy or link mode). */
export const VIA_GATEWAY = UPSTREAM !== 'direct';

/**
 * Options for a test or describe that only makes sense with clients
 * connected to the notifier itself; `why` says why (it shows as the skip
 * reason in the gateway modes).
 */
export function directOnly(why, opts = {}) {
    return { ...opts, skip: VIA_GATEWAY ? `direct only: ${why}` : false };
}

/** Options for a test about the gateway in front (skipped in direct mode). */
export function gatewayOnly(why, opts = {}) {
    return { ...opts, skip: VIA_GATEWAY ? false : `gateway modes only: ${why}` };
}

/**
 * The close code a client sees when the notifier shuts down (SIGTERM):
 * 1001 from the notifier itself; through the gateway the upstream going
 * away is "upstream lost at the gateway", 1012 (SPEC §2, docs/gateway.md:
 * 1001 from an upstream becomes 1012), so the client reconnects at once.
 */
export const NOTIFIER_SHUTDOWN_CODE = VIA_GATEWAY ? 1012 : 1001;

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-e2e-'));
const children = new Set();
let liveServers = [];

process.on('exit', (code) => {
    for (const c of children) {
        try { c.kill('SIGKILL'); } catch { /* already gone */ }
    }
    // Keep the stderr files of a failed run for inspection; drop a clean one's.
    if (code === 0 && !process.env.HERALD_E2E_KEEP_TMP) {
        try { fs.rmSync(TMP, { recursive: true, force: true }); } catch { /* best effort */ }
    }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => process.exit(130));
}

export function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

/** Rejects after ms with a message naming what was awaited. */
export function withDeadline(promise, ms, what) {
    let timer;
    const t = new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** Polls fn until it returns a truthy value or the deadline passes. */
export async function waitFor(fn, what, ms = DEADLINE_MS, every = 50) {
    const end = Date.now() + ms;
    let last;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > end) {
            throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
        }
        await sleep(every);
    }
}

export function tmpFile(name, content) {
    const p = path.join(TMP, `${Date.now()}-${Math.random().toString(16).slice(2)}-${name}`);
    if (content !== undefined) fs.writeFileSync(p, content);
    return p;
}

/** A port that was free a moment ago (bind port 0, read it, close). */
function probePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

// Every port freePort() has handed out in this process. A probed port is
// free again once the probe closes, so the kernel may hand the same number to
// the next probe: two servers of one test (a gateway's listen and admin
// ports) then collide, and the second one fails to bind. Never hand a port
// out twice.
const handedOut = new Set();

export async function freePort() {
    for (;;) {
        const port = await probePort();
        if (!handedOut.has(port)) {
            handedOut.add(port);
            return port;
        }
    }
}

/** n distinct ports from freePort() (two probes in a row may return the same one). */
export async function freePorts(n) {
    const ports = [];
    while (ports.length < n) {
        const p = await freePort();
        if (!ports.includes(p)) ports.push(p);
    }
    return ports;
}

/* ------------------------------------------------------------------ */
/* Processes                                                           */
/* ------------------------------------------------------------------ */

/** One running program: its port, stderr file and a stop() that reports the exit. */
export class Server {
    constructor(name, proc, port, stderrPath) {
        this.name = name;
        this.proc = proc;
        this.port = port;
        this.host = '127.0.0.1';
        this.stderrPath = stderrPath;
        this.base = `http://127.0.0.1:${port}`;
        // Where WebSocket clients connect: the gateway in front, if any.
        this.wsPort = port;
        this.gateway = null;
        this.exitInfo = null;
        this.exited = new Promise((resolve) => {
            proc.on('exit', (code, signal) => {
                this.exitInfo = { code, signal };
                children.delete(proc);
                resolve(this.exitInfo);
            });
            // A program that cannot be spawned (missing binary) never exits.
            proc.on('error', (e) => {
                if (this.exitInfo) return;
                this.exitInfo = { code: null, signal: null, error: e.message };
                children.delete(proc);
                resolve(this.exitInfo);
            });
        });
    }

    wsUrl(pathname = '/ws', query = {}) {
        const u = new URL(pathname, `ws://127.0.0.1:${this.wsPort}`);
        for (const [k, v] of Object.entries(query)) {
            if (v !== undefined && v !== null) u.searchParams.set(k, v);
        }
        return u.toString();
    }

    stderr() {
        try { return fs.readFileSync(this.stderrPath, 'utf8'); } catch { return ''; }
    }

    /** Sends sig (SIGTERM), then SIGKILL after ms; resolves to {code, signal}. */
    async stop(sig = 'SIGTERM', ms = DEADLINE_MS) {
        if (this.exitInfo) return this.exitInfo;
        try { this.proc.kill(sig); } catch { /* gone */ }
        let timer;
        const killer = new Promise((resolve) => {
            timer = setTimeout(() => {
                try { this.proc.kill('SIGKILL'); } catch { /* gone */ }
                resolve();
            }, ms);
        });
        await Promise.race([this.exited, killer]);
        clearTimeout(timer);
        return this.exited;
    }
}

/* HERALD_E2E_IO_URING=0 (scripts/e2e.sh's `libuv` pass) or 1: the notifier
 * and the gateway write to their clients with libuv or through io_uring
 * (--io-uring, docs/net.md); unset, their default (io_uring). */
const IO_URING = process.env.HERALD_E2E_IO_URING;

function spawnProgram(name, args, env) {
    if ((IO_URING === '0' || IO_URING === '1') && (name === 'herald-notifier' || name === 'herald-gateway')) {
        args = [...args, `--io-uring=${IO_URING === '1'}`];
    }
    const file = path.join(BIN, name);
    const stderrPath = tmpFile(`${name}.stderr`);
    const fd = fs.openSync(stderrPath, 'w');
    const proc = spawn(file, args, {
        env: { ...process.env, ...env },
        stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    children.add(proc);
    // A server a suite forgot to stop must not keep the test file's process
    // alive (it would hang until the runner's timeout); the exit hook kills it.
    proc.unref();
    return { proc, stderrPath };
}

async function startProgram(name, args, opts, isReady) {
    let lastErr;
    for (let attempt = 0; attempt < 3; attempt++) {
        const port = opts.port ?? await freePort();
        const full = opts.noListen ? args : ['--listen', `127.0.0.1:${port}`, ...args];
        const { proc, stderrPath } = spawnProgram(name, full, opts.env || {});
        const srv = new Server(name, proc, port, stderrPath);
        liveServers.push(srv);
        const end = Date.now() + (opts.readyMs ?? 20000);
        for (;;) {
            if (srv.exitInfo) {
                lastErr = new Error(`${name} exited before it was ready ${JSON.stringify(srv.exitInfo)}: ${srv.stderr().slice(-2000)}`);
                break;
            }
            if (await isReady(srv)) return srv;
            if (Date.now() > end) {
                await srv.stop('SIGKILL');
                throw new Error(`${name} not ready on port ${port} within ${opts.readyMs ?? 20000} ms: ${srv.stderr().slice(-2000)}`);
            }
            await sleep(50);
        }
        // Exited early: perhaps the port was taken between probe and bind. Retry
        // unless the binary is missing or the port was chosen by the caller.
        if (srv.exitInfo.error || opts.port !== undefined) break;
    }
    throw lastErr;
}

async function httpReady(srv, readyPath = '/readyz') {
    try {
        const r = await fetch(`${srv.base}${readyPath}`, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        return r.status === 200;
    } catch {
        return false;
    }
}

function tcpReady(srv) {
    return new Promise((resolve) => {
        const s = net.connect(srv.port, '127.0.0.1');
        s.on('connect', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
    });
}

/**
 * Starts herald-notifier on a free port with extra flags; resolves once
 * GET /readyz (or opts.readyPath, e.g. '/healthz') answers 200.
 * opts: {env, port, readyMs, readyPath, noListen, direct, linkPort,
 * gatewayArgs (extra gateway flags), withoutGateway (the gateway-mode
 * notifier alone: restart it on port/linkPort behind the gateway in front)}.
 * In the gateway modes (UPSTREAM proxy or link, unless opts.direct) a
 * herald-gateway is started in front (startGatewayFor) and the notifier
 * gets --trusted-proxy 127.0.0.1/32 (link mode: --link-listen on
 * opts.linkPort or a free port, and --loops 2 when the build has it).
 */
export async function startNotifier(args = [], opts = {}) {
    if (!VIA_GATEWAY || opts.direct) {
        return startProgram('herald-notifier', args, opts, (srv) => httpReady(srv, opts.readyPath));
    }
    const extra = ['--trusted-proxy', '127.0.0.1/32'];
    let linkPort = null;
    if (UPSTREAM === 'link') {
        linkPort = opts.linkPort ?? await freePort();
        extra.push('--link-listen', `127.0.0.1:${linkPort}`);
        if (notifierHasLoops()) extra.push('--loops', '2');
    }
    const nf = await startProgram('herald-notifier', [...extra, ...args], opts,
        (srv) => httpReady(srv, opts.readyPath));
    nf.linkPort = linkPort;
    if (opts.withoutGateway) return nf; // a restart behind a gateway that is still running
    const gw = await startGatewayFor(nf, opts.gatewayArgs);
    nf.gateway = gw;
    nf.wsPort = gw.port;
    return nf;
}

let hasLoops = null;

/** True when this herald-notifier build knows --loops (multi-loop notifier). */
function notifierHasLoops() {
    if (hasLoops === null) {
        const r = spawnSync(path.join(BIN, 'herald-notifier'), ['--help'], { encoding: 'utf8' });
        hasLoops = /--loops\b/.test(`${r.stdout}${r.stderr}`);
    }
    return hasLoops;
}

/**
 * Starts herald-gateway in front of the notifier nf, for the gateway modes:
 * auth none (the notifier verifies ?token= and Authorization itself, the
 * token stays in the URL), every path routed to nf as a WebSocket route,
 * limits loose enough never to shape a test (rates, connection caps, 16 MiB
 * messages so the notifier's own 1009 is what a client meets; pings and the
 * idle timeout far away: the gateway's own keepalive is gateway.test.mjs's),
 * access log off. Resolves once every worker listens (gatewayUp); the gateway is
 * a server of the running test like any other (stopped and checked after it).
 */
export async function startGatewayFor(nf, args = []) {
    let lastErr;
    // A port may be taken between the probe and the bind (or both probes may
    // return the same port): pick two distinct ones and retry on failure.
    for (let attempt = 0; attempt < 3; attempt++) {
        const listen = await freePort();
        let admin = await freePort();
        while (admin === listen) admin = await freePort();
        const gw = spawnGatewayFor(nf, listen, admin, args);
        try {
            return await gatewayUp(gw);
        } catch (e) {
            lastErr = e;
            await gw.stop('SIGKILL');
            liveServers = liveServers.filter((s) => s !== gw);
            if (!/address already in use/.test(gw.stderr())) break;
        }
    }
    throw lastErr;
}

function spawnGatewayFor(nf, listen, admin, args) {
    const up = UPSTREAM === 'link'
        ? { servers: [`127.0.0.1:${nf.linkPort}`], protocol: 'herald-link' }
        : { servers: [`127.0.0.1:${nf.port}`] };
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        limits: {
            max_connections: 1000000, max_connections_per_ip: 1000000, handshakes_per_ip_per_s: 1000000,
            max_message_bytes: 16 << 20, messages_per_s: 1000000, idle_timeout_s: 3600,
            ping_interval_s: 3000, drain_timeout_s: 5,
        },
        upstreams: { notifier: up },
        routes: [{ path: '/', upstream: 'notifier', websocket: true }],
        access_log: 'off',
    };
    const file = tmpFile(`gw-${UPSTREAM}.yaml`, JSON.stringify(cfg));
    const gw = spawnServer('herald-gateway', ['--config', file, ...args], {}, listen);
    gw.admin = `http://127.0.0.1:${admin}`;
    return gw;
}

/** Starts herald-echo on a free port; resolves once a TCP connect succeeds. */
export function startEcho(args = [], opts = {}) {
    return startProgram('herald-echo', args, opts, tcpReady);
}

/** Starts a program without waiting for readiness (for env/flag tests). */
export function spawnServer(name, args, env = {}, port = 0) {
    const { proc, stderrPath } = spawnProgram(name, args, env);
    const srv = new Server(name, proc, port, stderrPath);
    liveServers.push(srv);
    return srv;
}

/** Runs a program to completion: {code, signal, stdout, stderr}. */
export function runProgram(name, args, env = {}, ms = DEADLINE_MS) {
    return new Promise((resolve, reject) => {
        const proc = spawn(path.join(BIN, name), args, {
            env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.add(proc);
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error(`${name} ${args.join(' ')} did not exit within ${ms} ms`));
        }, ms);
        proc.on('error', (e) => { clearTimeout(timer); reject(e); });
        proc.on('close', (code, signal) => {
            clearTimeout(timer);
            children.delete(proc);
            resolve({ code, signal, stdout, stderr });
        });
    });
}

/** Stops every server started since the last call (test/after hooks). */
export async function stopAll() {
    const list = liveServers;
    liveServers = [];
    await Promise.all(list.map((s) => s.stop('SIGTERM').catch(() => {})));
    closeAllClients();
    const problems = list.map(sanitizerProblem).filter(Boolean);
    if (problems.length > 0) throw new Error(problems.join('\n'));
}

/**
 * A stopped server's sanitizer report (ASan, LSan, UBSan) or a missed
 * SIGTERM, as text; null when it ended cleanly.
 */
export function sanitizerProblem(srv) {
    const err = srv.stderr();
    const m = /==\d+==ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.exec(err);
    if (m) {
        return `${srv.name} :${srv.port} reported a sanitizer error (${srv.stderrPath}):\n${err.slice(Math.max(0, m.index - 200), m.index + 3000)}`;
    }
    if (srv.exitInfo && srv.exitInfo.signal === 'SIGKILL') {
        return `${srv.name} :${srv.port} did not exit after SIGTERM and was killed (${srv.stderrPath})`;
    }
    return null;
}

function stderrTails(list) {
    return list.map((s) => {
        const e = s.stderr();
        const tail = e.length > 4000 ? `...${e.slice(-4000)}` : e;
        return `--- ${s.name} :${s.port} stderr (${s.stderrPath}) exit=${JSON.stringify(s.exitInfo)} ---\n${tail}`;
    }).join('\n');
}

/**
 * node:test's test() with two additions: servers started inside the test are
 * stopped after it, and a failure gets every live server's stderr appended.
 */
export function test(name, opts, fn) {
    if (typeof opts === 'function') { fn = opts; opts = {}; }
    // The mode shows in every test name outside the default direct mode.
    if (UPSTREAM !== 'direct') name = `[${UPSTREAM}] ${name}`;
    return nodeTest(name, { timeout: 120000, ...opts }, async (t) => {
        const before = new Set(liveServers);
        const clientsBefore = new Set([...openClients, ...openRaw]);
        let failed = false;
        try {
            await fn(t);
        } catch (e) {
            failed = true;
            const msg = stderrTails(liveServers);
            if (msg && e && typeof e === 'object') {
                try { e.message = `${e.message}\n${msg}`; } catch { /* frozen */ }
            }
            throw e;
        } finally {
            const mine = liveServers.filter((s) => !before.has(s));
            liveServers = liveServers.filter((s) => before.has(s));
            closeAllClients(clientsBefore);
            await Promise.all(mine.map((s) => s.stop('SIGTERM').catch(() => {})));
            // A server that crashed, leaked or misbehaved under the sanitizers
            // fails the test that ran it, even if every assertion held.
            const problems = mine.map(sanitizerProblem).filter(Boolean);
            if (!failed && problems.length > 0) throw new Error(problems.join('\n'));
        }
    });
}

/* ------------------------------------------------------------------ */
/* WebSocket client with a message queue                              */
/* ------------------------------------------------------------------ */

const openClients = new Set();

/** Closes the clients opened since `keep` was taken (all when keep is omitted). */
function closeAllClients(keep = null) {
    for (const c of [...openClients]) {
        if (keep && keep.has(c)) continue;
        c.terminate();
        openClients.delete(c);
    }
    for (const r of [...openRaw]) {
        if (keep && keep.has(r)) continue;
        r.sock.destroy();
        openRaw.delete(r);
    }
}

/** A ws client whose messages queue up until next() takes them. */
export class Client {
    constructor(ws, rawText = false) {
        this.ws = ws;
        this.queue = [];
        this.waiters = [];
        this.closeInfo = null;
        this.closed = new Promise((resolve) => {
            ws.on('close', (code, reason) => {
                this.closeInfo = { code, reason: reason.toString() };
                openClients.delete(this);
                resolve(this.closeInfo);
                this.wake();
            });
        });
        ws.on('error', (e) => { this.error = e; });
        ws.on('message', (data, isBinary) => {
            let msg;
            if (isBinary) {
                msg = { binary: true, data };
            } else if (rawText) {
                msg = { binary: false, data, text: data.toString('utf8') };
            } else {
                const text = data.toString('utf8');
                try { msg = JSON.parse(text); } catch { msg = { unparsed: text }; }
            }
            this.queue.push(msg);
            this.wake();
        });
        openClients.add(this);
    }

    wake() {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }

    /** Resolves to the next message (parsed JSON); rejects on close or deadline. */
    async next(ms = DEADLINE_MS) {
        const end = Date.now() + ms;
        while (this.queue.length === 0) {
            if (this.closeInfo) {
                throw new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for a message`);
            }
            const left = end - Date.now();
            if (left <= 0) throw new Error(`no message within ${ms} ms`);
            await new Promise((resolve) => {
                const timer = setTimeout(resolve, left);
                this.waiters.push(() => { clearTimeout(timer); resolve(); });
            });
        }
        return this.queue.shift();
    }

    /** Skips messages until one of the given type; returns it. */
    async nextOfType(type, ms = DEADLINE_MS) {
        const end = Date.now() + ms;
        for (;;) {
            const m = await this.next(Math.max(1, end - Date.now()));
            if (m.type === type) return m;
        }
    }

    /** Collects n events (skipping other types), in arrival order. */
    async events(n, ms = DEADLINE_MS) {
        const out = [];
        const end = Date.now() + ms;
        while (out.length < n) {
            const m = await this.next(Math.max(1, end - Date.now()));
            if (m.type === 'event') out.push(m);
        }
        return out;
    }

    send(obj) {
        this.ws.send(typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj));
    }

    /** Sends a command and returns the next message (the reply). */
    async request(obj, ms = DEADLINE_MS) {
        this.send(obj);
        return this.next(ms);
    }

    close(code = 1000, reason) {
        this.ws.close(code, reason);
        return withDeadline(this.closed, DEADLINE_MS, 'close');
    }

    /** Resolves to {code, reason} once the server closes. */
    waitClose(ms = DEADLINE_MS) {
        return withDeadline(this.closed, ms, 'the server to close the connection');
    }

    terminate() {
        try { this.ws.terminate(); } catch { /* gone */ }
    }
}

/**
 * Opens a WebSocket; resolves to a Client once open (messages are queued
 * from the first byte, so the welcome is never missed). opts go to ws, except
 * rawText: true, which queues text messages as {binary:false, data, text}
 * instead of parsing them as JSON.
 */
export function connect(url, opts = {}) {
    const { rawText, ...wsOpts } = opts;
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { handshakeTimeout: DEADLINE_MS, perMessageDeflate: false, ...wsOpts });
        const client = new Client(ws, rawText);
        ws.once('open', () => resolve(client));
        ws.once('unexpected-response', (req, res) => {
            reject(Object.assign(new Error(`unexpected HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
            res.resume();
            ws.terminate();
        });
        ws.once('error', reject);
    });
}

/** Connects and consumes the welcome; resolves to [client, welcome]. */
export async function connectWelcome(url, opts = {}) {
    const c = await connect(url, opts);
    const w = await c.next();
    if (w.type !== 'welcome') throw new Error(`first message is not a welcome: ${JSON.stringify(w)}`);
    return [c, w];
}

/**
 * Attempts a WebSocket handshake that should be refused; resolves to
 * {statusCode, headers, body}; rejects if the upgrade succeeds.
 */
export function expectRefused(url, opts = {}) {
    return withDeadline(new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { handshakeTimeout: DEADLINE_MS, perMessageDeflate: false, ...opts });
        ws.once('unexpected-response', (req, res) => {
            let body = '';
            res.on('data', (d) => { body += d; });
            res.on('end', () => {
                resolve({ statusCode: res.statusCode, headers: res.headers, body });
                ws.terminate();
            });
            res.on('error', () => resolve({ statusCode: res.statusCode, headers: res.headers, body }));
        });
        ws.once('open', () => {
            ws.terminate();
            reject(new Error('the upgrade succeeded but should have been refused'));
        });
        ws.once('error', (e) => reject(e));
    }), DEADLINE_MS, 'the refused handshake');
}

/* ------------------------------------------------------------------ */
/* Publishing, health, metrics                                         */
/* ------------------------------------------------------------------ */

/**
 * POST /publish. body: an object/array (sent as JSON) or a string (sent as
 * is). Resolves to {status, text, json} (json is undefined if not JSON).
 */
export async function publish(srv, body, headers = {}) {
    const r = await fetch(`${srv.base}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(DEADLINE_MS * 3),
    });
    const text = await r.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: r.status, text, json, headers: r.headers };
}

/** Publishes and requires 200; returns the reply's id (or ids for a batch). */
export async function publishOk(srv, body, headers = {}) {
    const r = await publish(srv, body, headers);
    if (r.status !== 200) throw new Error(`publish ${JSON.stringify(body).slice(0, 200)} -> ${r.status} ${r.text}`);
    if (Array.isArray(body)) return r.json.ids;
    return r.json.id;
}

export async function httpGet(srv, p, headers = {}) {
    const r = await fetch(`${srv.base}${p}`, { headers, signal: AbortSignal.timeout(DEADLINE_MS) });
    return { status: r.status, text: await r.text(), headers: r.headers };
}

/**
 * Parses Prometheus text: an array of {name, labels, value} samples.
 * Throws on a line that is neither a comment nor a sample.
 */
/**
 * Resolves once the gateway gw (its .admin base URL) is up: its admin
 * /healthz answers, which only worker 0 serves, and every worker has opened
 * its listeners (herald_gateway_workers_listening = herald_gateway_workers).
 * Until then a client meets only the workers already listening, so which
 * worker (and which herald-link) a client gets would depend on start-up
 * timing. Throws with the gateway's stderr if it exits first.
 */
export async function gatewayUp(gw, ms = 20000) {
    await waitFor(async () => {
        if (gw.exitInfo) throw new Error(`gateway exited ${JSON.stringify(gw.exitInfo)}: ${gw.stderr()}`);
        const r = await fetch(`${gw.admin}/metrics`, { signal: AbortSignal.timeout(1000) });
        if (r.status !== 200) return false;
        const m = parseMetrics(await r.text());
        const v = (name) => m.find((x) => x.name === name)?.value;
        return v('herald_gateway_workers') > 0 && v('herald_gateway_workers_listening') === v('herald_gateway_workers');
    }, 'every gateway worker listening (admin /metrics)', ms);
    return gw;
}

export function parseMetrics(text) {
    const out = [];
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?$/.exec(line);
        if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
        const v = Number(m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3]);
        out.push({ name: m[1], labels: m[2] || '', value: v });
    }
    return out;
}

export async function metrics(srv) {
    const r = await httpGet(srv, '/metrics');
    if (r.status !== 200) throw new Error(`/metrics -> ${r.status}`);
    return parseMetrics(r.text);
}

/** Sum of herald_ samples whose name matches re (histogram parts excluded). */
export function metricSum(samples, re) {
    return samples
        .filter((s) => s.name.startsWith('herald_') && re.test(s.name)
            && !/_(bucket|sum|count)$/.test(s.name))
        .reduce((a, s) => a + s.value, 0);
}

/* ------------------------------------------------------------------ */
/* Event ids                                                           */
/* ------------------------------------------------------------------ */

/**
 * Compares two opaque ids the way brokers order them: runs of digits
 * compare as numbers (so "9-1" < "10-0" and "99" < "100"), the rest as text.
 */
export function compareIds(a, b) {
    const pa = String(a).match(/\d+|\D+/g) || [];
    const pb = String(b).match(/\d+|\D+/g) || [];
    for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
        const x = pa[i];
        const y = pb[i];
        if (/^\d/.test(x) && /^\d/.test(y)) {
            const bx = BigInt(x);
            const by = BigInt(y);
            if (bx !== by) return bx < by ? -1 : 1;
        } else if (x !== y) {
            return x < y ? -1 : 1;
        }
    }
    return pa.length - pb.length;
}

/* ------------------------------------------------------------------ */
/* JWT                                                                 */
/* ------------------------------------------------------------------ */

function b64url(buf) {
    return Buffer.from(buf).toString('base64url');
}

export function nowS() {
    return Math.floor(Date.now() / 1000);
}

/**
 * Signs a JWT. alg: HS256 (key: secret string), RS256 / ES256 (key: private
 * KeyObject or PEM), or none (no signature). header overrides merge in.
 */
export function signJwt(payload, { alg = 'HS256', key, header = {} } = {}) {
    const head = b64url(JSON.stringify({ alg, typ: 'JWT', ...header }));
    const body = b64url(JSON.stringify(payload));
    const input = `${head}.${body}`;
    let sig;
    if (alg === 'none') {
        sig = '';
    } else if (alg === 'HS256') {
        sig = b64url(crypto.createHmac('sha256', key).update(input).digest());
    } else if (alg === 'RS256') {
        sig = b64url(crypto.sign('sha256', Buffer.from(input), key));
    } else if (alg === 'ES256') {
        sig = b64url(crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }));
    } else {
        throw new Error(`unsupported alg ${alg}`);
    }
    return `${input}.${sig}`;
}

/** Generates a key pair: {privateKey, publicPem, publicPath}. kind: rsa | ec. */
export function keyPair(kind) {
    const { privateKey, publicKey } = kind === 'rsa'
        ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
        : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
    return { privateKey, publicPem, publicPath: tmpFile(`${kind}.pub.pem`, publicPem) };
}

/* ------------------------------------------------------------------ */
/* Raw TCP: hand-built handshakes and frames                           */
/* ------------------------------------------------------------------ */

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

/**
 * Builds one client frame. opts: {fin=true, rsv=0 (3 bits), mask=true,
 * maskKey, len (override the declared length)}.
 */
export function frame(opcode, payload = Buffer.alloc(0), opts = {}) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    const fin = opts.fin ?? true;
    const rsv = opts.rsv ?? 0;
    const mask = opts.mask ?? true;
    const len = opts.len ?? data.length;
    const b0 = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
    let head;
    if (len < 126) {
        head = Buffer.from([b0, (mask ? 0x80 : 0) | len]);
    } else if (len < 65536) {
        head = Buffer.alloc(4);
        head[0] = b0; head[1] = (mask ? 0x80 : 0) | 126; head.writeUInt16BE(len, 2);
    } else {
        head = Buffer.alloc(10);
        head[0] = b0; head[1] = (mask ? 0x80 : 0) | 127; head.writeBigUInt64BE(BigInt(len), 2);
    }
    if (!mask) return Buffer.concat([head, data]);
    const key = opts.maskKey ?? crypto.randomBytes(4);
    const body = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i++) body[i] = data[i] ^ key[i & 3];
    return Buffer.concat([head, key, body]);
}

/** A close frame's payload: 2-byte code plus reason. */
export function closePayload(code, reason = '') {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code, 0);
    return Buffer.concat([b, Buffer.isBuffer(reason) ? reason : Buffer.from(reason)]);
}

/**
 * A raw TCP connection with a byte queue. Use handshake() for the HTTP part,
 * then readFrame() / waitClose() for server frames.
 */
export class RawSocket {
    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.ended = false;
        this.error = null;
        this.waiters = [];
        sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
        sock.on('end', () => { this.ended = true; this.wake(); });
        sock.on('close', () => { this.ended = true; this.wake(); });
        sock.on('error', (e) => { this.error = e; this.ended = true; this.wake(); });
        openRaw.add(this);
    }

    wake() {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }

    async waitData(pred, what, ms = DEADLINE_MS) {
        const end = Date.now() + ms;
        for (;;) {
            const r = pred();
            if (r !== undefined && r !== null && r !== false) return r;
            if (this.ended) return null;
            const left = end - Date.now();
            if (left <= 0) throw new Error(`raw socket: timed out waiting for ${what}`);
            await new Promise((resolve) => {
                const timer = setTimeout(resolve, left);
                this.waiters.push(() => { clearTimeout(timer); resolve(); });
            });
        }
    }

    write(b) {
        if (!this.sock.destroyed) this.sock.write(b);
    }

    /** Reads an HTTP response head: {status, headers (lower-case), raw}; the body stays queued. */
    async readHead(ms = DEADLINE_MS) {
        const idx = await this.waitData(() => {
            const i = this.buf.indexOf('\r\n\r\n');
            return i >= 0 ? i + 1 : null; // +1 so index 0 is truthy
        }, 'an HTTP response head', ms);
        if (idx === null) throw new Error(`connection ended before a response head (got ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))})`);
        const end = idx - 1;
        const raw = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 4);
        const lines = raw.split('\r\n');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
        if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
        const headers = {};
        for (const l of lines.slice(1)) {
            const c = l.indexOf(':');
            if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
        }
        return { status: Number(m[1]), headers, raw };
    }

    /** Sends a WebSocket upgrade request; resolves to the response head. */
    async handshake(pathname = '/ws', extra = {}, opts = {}) {
        const key = opts.key ?? crypto.randomBytes(16).toString('base64');
        const headers = {
            Host: `127.0.0.1:${this.sock.remotePort}`,
            Upgrade: 'websocket',
            Connection: 'Upgrade',
            'Sec-WebSocket-Key': key,
            'Sec-WebSocket-Version': '13',
            ...extra,
        };
        let req = `GET ${pathname} HTTP/1.1\r\n`;
        for (const [k, v] of Object.entries(headers)) {
            if (v !== undefined && v !== null) req += `${k}: ${v}\r\n`;
        }
        this.write(`${req}\r\n`);
        const head = await this.readHead();
        head.key = key;
        return head;
    }

    /** Handshake that must succeed (101); then skips nothing. */
    async upgrade(pathname = '/ws', extra = {}) {
        const h = await this.handshake(pathname, extra);
        if (h.status !== 101) throw new Error(`upgrade refused: ${h.raw}`);
        return h;
    }

    /**
     * Reads one server frame: {fin, rsv, opcode, masked, payload}, or null
     * if the connection ended first.
     */
    async readFrame(ms = DEADLINE_MS) {
        const f = await this.waitData(() => parseFrame(this.buf), 'a frame', ms);
        if (!f) return null;
        this.buf = this.buf.subarray(f.size);
        return f;
    }

    /** Reads one data message (text/binary), answering nothing; skips pings. */
    async readMessage(ms = DEADLINE_MS) {
        const end = Date.now() + ms;
        for (;;) {
            const f = await this.readFrame(Math.max(1, end - Date.now()));
            if (!f) return null;
            if (f.opcode === OP.PING || f.opcode === OP.PONG) continue;
            return f;
        }
    }

    /**
     * Reads frames until a close frame or the end of the stream. Resolves to
     * {code, reason, frames, ended}; code is null when no close frame came.
     */
    async waitClose(ms = DEADLINE_MS) {
        const frames = [];
        const end = Date.now() + ms;
        for (;;) {
            const f = await this.readFrame(Math.max(1, end - Date.now()));
            if (!f) return { code: null, reason: '', frames, ended: true };
            if (f.opcode === OP.CLOSE) {
                const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
                return { code, reason: f.payload.subarray(2).toString('utf8'), frames, ended: this.ended };
            }
            frames.push(f);
        }
    }

    /** Waits for the TCP stream to end (FIN or reset); true if it did. */
    async waitEnd(ms = DEADLINE_MS) {
        await this.waitData(() => false, 'the connection to end', ms).catch(() => {});
        return this.ended;
    }

    destroy() {
        this.sock.destroy();
        openRaw.delete(this);
    }
}

const openRaw = new Set();

/** Parses one server frame at the head of buf, or returns null if incomplete. */
export function parseFrame(buf) {
    if (buf.length < 2) return null;
    const fin = (buf[0] & 0x80) !== 0;
    const rsv = (buf[0] >> 4) & 7;
    const opcode = buf[0] & 0x0f;
    const masked = (buf[1] & 0x80) !== 0;
    let len = buf[1] & 0x7f;
    let off = 2;
    if (len === 126) {
        if (buf.length < 4) return null;
        len = buf.readUInt16BE(2); off = 4;
    } else if (len === 127) {
        if (buf.length < 10) return null;
        len = Number(buf.readBigUInt64BE(2)); off = 10;
    }
    let key = null;
    if (masked) {
        if (buf.length < off + 4) return null;
        key = buf.subarray(off, off + 4); off += 4;
    }
    if (buf.length < off + len) return null;
    let payload = Buffer.from(buf.subarray(off, off + len));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
    return { fin, rsv, opcode, masked, payload, size: off + len };
}

/** Opens a raw TCP connection to 127.0.0.1:port. */
export function rawConnect(port) {
    return withDeadline(new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => resolve(new RawSocket(s)));
        s.once('error', reject);
    }), DEADLINE_MS, `TCP connect to ${port}`);
}

/** The RFC 6455 accept value for a key. */
export function acceptFor(key) {
    return crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}
