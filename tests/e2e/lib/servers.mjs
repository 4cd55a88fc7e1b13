// Real brokers for the end-to-end tests: redis-server and nats-server -js
// (Debian's packages) on free ports, each in its own temporary directory,
// killed on exit. Plus two tiny protocol clients so tests can act like a
// service publishing into the broker: RESP for Redis (XADD, XRANGE, ...),
// and the NATS text protocol (PUB with a reply inbox, so JetStream's PubAck
// tells the stream sequence).
//
// A broker can be killed (SIGKILL) and restarted on the same port and
// directory: Redis runs with appendfsync always and NATS with a file store,
// so everything the broker acknowledged survives the kill.
//
// RabbitMQ (Debian's rabbitmq-server) runs as its own node: node name, ports,
// Erlang cookie, epmd, data and log directories all private to a temp dir, so
// it never meets a system node; the AMQP client is in amqp.mjs.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AmqpClient } from './amqp.mjs';
import { freePort, freePorts, sleep, waitFor } from './harness.mjs';

const children = new Set();
const rabbitPidFiles = new Set(); // RabbitMQ's VM is a grandchild: killed by its PID file
process.on('exit', () => {
    for (const f of rabbitPidFiles) {
        try { process.kill(Number(fs.readFileSync(f, 'utf8').trim()), 'SIGKILL'); } catch { /* gone */ }
    }
    for (const c of children) {
        try { c.kill('SIGKILL'); } catch { /* gone */ }
    }
});

function which(cmd) {
    const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
}

/** True when both broker servers are installed (the suite skips otherwise). */
export const HAVE_REDIS = Boolean(which('redis-server'));
export const HAVE_NATS = Boolean(which('nats-server'));
const RABBIT_BIN = '/usr/lib/rabbitmq/bin';
export const HAVE_RABBITMQ = fs.existsSync(`${RABBIT_BIN}/rabbitmq-server`) && Boolean(which('epmd'));

/** A broker process that can be killed and started again on the same port and dir. */
class BrokerProcess {
    constructor(name, cmd, argsFor, port, dir, env = null) {
        this.name = name;
        this.env = env;
        this.cmd = cmd;
        this.argsFor = argsFor;
        this.port = port;
        this.dir = dir;
        this.proc = null;
        this.log = path.join(dir, `${name}.log`);
    }

    spawnOnce() {
        const fd = fs.openSync(this.log, 'a');
        const proc = spawn(this.cmd, this.argsFor(this.port, this.dir), {
            stdio: ['ignore', fd, fd], cwd: this.dir, env: this.env ? { ...process.env, ...this.env } : process.env,
        });
        fs.closeSync(fd);
        // Do not keep node alive for a broker a test forgot to stop; the
        // exit hook still kills it.
        proc.unref();
        children.add(proc);
        this.proc = proc;
        this.exited = new Promise((resolve) => proc.on('exit', () => { children.delete(proc); resolve(); }));
        return proc;
    }

    async start(ms = 20000) {
        this.spawnOnce();
        await waitFor(() => tcpOpen(this.port), `${this.name} on port ${this.port}`, ms);
        return this;
    }

    /** SIGKILL (no chance to flush anything beyond what it acknowledged). */
    async kill() {
        if (!this.proc) return;
        try { this.proc.kill('SIGKILL'); } catch { /* gone */ }
        await this.exited;
        this.proc = null;
    }

    async stop() {
        if (!this.proc) return;
        try { this.proc.kill('SIGTERM'); } catch { /* gone */ }
        const t = setTimeout(() => { try { this.proc?.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
        await this.exited;
        clearTimeout(t);
        this.proc = null;
    }

    async restart() {
        await this.kill();
        // The port is ours again once the process is gone; retry if the
        // kernel needs a moment.
        for (let i = 0; i < 20; i++) {
            this.spawnOnce();
            const ok = await waitFor(() => tcpOpen(this.port), `${this.name} restart`, 5000).then(() => true, () => false);
            if (ok) return this;
            await this.kill();
            await sleep(200);
        }
        throw new Error(`${this.name} did not restart on port ${this.port}: ${this.logText()}`);
    }

    logText() {
        try { return fs.readFileSync(this.log, 'utf8').slice(-3000); } catch { return ''; }
    }
}

function tcpOpen(port) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => { s.destroy(); resolve(true); });
        s.once('error', () => resolve(false));
    });
}

function tempDir(prefix) {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Starts redis-server on a free port in a temp dir. opts.password sets
 * requirepass; opts.tls serves TLS only (self-signed, .caFile) and .url()
 * gives rediss://. Returns a BrokerProcess with .url() and .client() for a
 * RESP connection (plain Redis only).
 */
export async function startRedis(opts = {}) {
    const port = await freePort();
    const dir = tempDir('herald-redis-');
    let tlsArgs = [];
    if (opts.tls) {
        // A self-signed certificate for 127.0.0.1; clients trust it with ?tls_ca=.
        const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
            '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
            '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
        { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
        tlsArgs = ['--tls-port', String(port), '--port', '0', '--tls-cert-file', path.join(dir, 'cert.pem'),
            '--tls-key-file', path.join(dir, 'key.pem'), '--tls-ca-cert-file', path.join(dir, 'cert.pem'),
            '--tls-auth-clients', 'no'];
    }
    const args = (p, d) => [
        ...(opts.tls ? [] : ['--port', String(p)]), ...tlsArgs, '--bind', '127.0.0.1', '--dir', d, '--save', '',
        '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'no',
        ...(opts.password ? ['--requirepass', opts.password] : []),
    ];
    const b = new BrokerProcess('redis', 'redis-server', args, port, dir);
    await b.start();
    const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
    b.url = (query = '') => `redis${opts.tls ? 's' : ''}://${auth}127.0.0.1:${port}${query}`;
    b.caFile = opts.tls ? path.join(dir, 'cert.pem') : null;
    b.client = () => RespClient.connect(port, opts.password);
    return b;
}

/** Starts nats-server -js on a free port with a file store in a temp dir. */
export async function startNats(opts = {}) {
    const port = await freePort();
    const dir = tempDir('herald-nats-');
    const args = (p, d) => [
        '-js', '-a', '127.0.0.1', '-p', String(p), '-sd', path.join(d, 'js'),
        ...(opts.user ? ['--user', opts.user, '--pass', opts.pass] : []),
        ...(opts.token ? ['--auth', opts.token] : []),
    ];
    const b = new BrokerProcess('nats', 'nats-server', args, port, dir);
    await b.start();
    let auth = '';
    if (opts.user) auth = `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.pass)}@`;
    if (opts.token) auth = `${encodeURIComponent(opts.token)}@`;
    b.url = (query = '') => `nats://${auth}127.0.0.1:${port}${query}`;
    b.client = () => NatsClient.connect(port, opts);
    return b;
}

/*
 * RabbitMQ's own ports. Its AMQP listener is on 127.0.0.2 and its TLS one
 * on 127.0.0.1 (localhost, the name in its certificate), each on port 0:
 * the kernel assigns a free port when RabbitMQ binds, and the harness reads
 * it back from the node's listening sockets. A port probed with freePort()
 * stays unbound for the seconds the node takes to boot, and any other test
 * process on the machine may take it meanwhile (e2e suites of several
 * worktrees run at once): the node then fails to boot (eaddrinuse) while
 * the other process answers on the port, and the notifiers under test
 * talk to that process until it goes away. Two addresses because RabbitMQ
 * names a listener by address and port: two on 127.0.0.1:0 would be one.
 * The distribution port cannot be 0 (RabbitMQ refuses it) and epmd's must
 * be known: both are bound within a second or two of the start, and a
 * node that lost one exits at once (see startRabbit).
 */
const AMQP_HOST = '127.0.0.2';
const TLS_HOST = '127.0.0.1';

/** The TCP ports process pid listens on, by IPv4 address ('127.0.0.2' -> port), from /proc. */
function listeningPorts(pid) {
    const found = new Map();
    if (!pid) return found;
    const inodes = new Set();
    let fds;
    try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return found; }
    for (const fd of fds) {
        try {
            const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
            if (m) inodes.add(m[1]);
        } catch { /* closed meanwhile */ }
    }
    let table;
    try { table = fs.readFileSync(`/proc/${pid}/net/tcp`, 'utf8'); } catch { return found; }
    // sl local_address rem_address st ... inode: address as little-endian hex, 0A = LISTEN.
    for (const line of table.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue;
        const [ip, port] = f[1].split(':');
        const addr = [6, 4, 2, 0].map((i) => parseInt(ip.slice(i, i + 2), 16)).join('.');
        found.set(addr, parseInt(port, 16));
    }
    return found;
}

/**
 * RabbitMQ: rabbitmq-server's start script stays the parent of the Erlang VM
 * (beam.smp), so signals go to the VM's PID, read from RABBITMQ_PID_FILE;
 * the script then exits by itself. epmd is ours too (its own port), started
 * first and stopped last, by PID. .port and .tlsPort are known once
 * started; a restart asks for the same AMQP port (the notifiers' URLs name
 * it; only nodes like this one bind 127.0.0.2, on ports the kernel picks)
 * and a new TLS one.
 */
class RabbitProcess extends BrokerProcess {
    constructor(dir, env, conf) {
        super('rabbitmq', `${RABBIT_BIN}/rabbitmq-server`, () => [], 0, dir, env);
        this.conf = conf;
    }

    beamPid() {
        try { return Number(fs.readFileSync(path.join(this.dir, 'rabbit.pid'), 'utf8').trim()) || 0; } catch { return 0; }
    }

    /** Starts our epmd; resolves once it listens on its port (.exitedEarly: it exited, its port taken). */
    async startEpmd(ms = 20000) {
        const port = Number(this.env.ERL_EPMD_PORT);
        const epmd = spawn('epmd', ['-port', String(port), '-address', '127.0.0.1'], { stdio: 'ignore', env: { ...process.env, ...this.env } });
        epmd.unref();
        children.add(epmd);
        this.epmd = epmd;
        let gone = false;
        epmd.on('exit', () => { gone = true; children.delete(epmd); });
        const end = Date.now() + ms;
        while (listeningPorts(epmd.pid).get('127.0.0.1') !== port) {
            if (gone) {
                this.exitedEarly = true;
                throw new Error(`epmd exited: port ${port} taken`);
            }
            if (Date.now() > end) throw new Error(`epmd not listening on port ${port} within ${ms} ms`);
            await sleep(20);
        }
    }

    /**
     * Ready when the node's own VM listens on both addresses and a login on
     * the AMQP one succeeds; fails at once, with the node's logs, if the
     * node exits first (.exitedEarly).
     */
    async start(ms = 60000) {
        // TLS on a new port each time: nothing outlives a restart on it.
        fs.writeFileSync(path.join(this.dir, 'rabbitmq.conf'), this.conf(this.port, 0));
        this.spawnOnce();
        let gone = false;
        this.exited.then(() => { gone = true; });
        const end = Date.now() + ms;
        for (;;) {
            if (gone) {
                this.exitedEarly = true;
                throw new Error(`rabbitmq exited while starting: ${this.logText()}\n${this.nodeLog()}`);
            }
            const ports = listeningPorts(this.beamPid());
            const amqp = ports.get(AMQP_HOST);
            const tls = ports.get(TLS_HOST);
            if (amqp && tls) {
                const c = await AmqpClient.connect(amqp, { host: AMQP_HOST }).catch(() => null);
                if (c) {
                    c.close();
                    this.port = amqp;
                    this.tlsPort = tls;
                    return this;
                }
            }
            if (Date.now() > end) throw new Error(`rabbitmq not serving within ${ms} ms: ${this.logText()}\n${this.nodeLog()}`);
            await sleep(100);
        }
    }

    /** The end of the node's own log (BOOT FAILED and the like are there, not on stdout). */
    nodeLog() {
        const f = path.join(this.dir, 'log', `${this.env.RABBITMQ_NODENAME}.log`);
        try { return fs.readFileSync(f, 'utf8').slice(-3000); } catch { return ''; }
    }

    async signal(sig) {
        if (!this.proc) return;
        const pid = this.beamPid();
        try { process.kill(pid || this.proc.pid, sig); } catch { /* gone */ }
        const t = setTimeout(() => { try { this.proc?.kill('SIGKILL'); process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, 15000);
        await this.exited;
        clearTimeout(t);
        fs.rmSync(path.join(this.dir, 'rabbit.pid'), { force: true });
        this.proc = null;
    }

    /**
     * Makes what RabbitMQ acknowledged survive a SIGKILL. RabbitMQ 3.10
     * registers the stream coordinator's Ra server in a dets table
     * (ra_coordination_directory_reverse) that is written back lazily: a
     * node killed before that forgets the coordinator, and every stream
     * then says "home node ... is down or inaccessible". Syncing the dets
     * tables and mnesia's log is exactly that write, done now.
     */
    ctl(...args) {
        const r = spawnSync(`${RABBIT_BIN}/rabbitmqctl`, ['-n', this.env.RABBITMQ_NODENAME, ...args], {
            env: { ...process.env, ...this.env }, encoding: 'utf8', timeout: 60000,
        });
        if (r.status !== 0) throw new Error(`rabbitmqctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
        return r.stdout;
    }

    async kill() {
        if (!this.proc) return;
        this.ctl('eval', 'mnesia:sync_log(), [dets:sync(T) || T <- dets:all()], ok.');
        await this.signal('SIGKILL');
    }

    async stop() {
        await this.signal('SIGTERM');
        if (this.epmd) {
            try { this.epmd.kill('SIGKILL'); } catch { /* gone */ }
            this.epmd = null;
        }
        rabbitPidFiles.delete(path.join(this.dir, 'rabbit.pid'));
        // A node's directory is a few MB (mnesia, stream segments): not left in /tmp.
        fs.rmSync(this.dir, { recursive: true, force: true });
    }

    /** Killed and started again on the same AMQP port. */
    async restart() {
        await this.kill();
        return this.start(60000);
    }
}

/** A node in a new temp dir with its own epmd; not started. */
async function newRabbit() {
    const [dist, epmdPort] = await freePorts(2);
    const dir = tempDir('herald-rabbit-');
    // A TLS listener too, with a self-signed certificate for localhost
    // (clients trust it with ?tls_ca=): amqps:// is tested on the same node.
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
    fs.writeFileSync(path.join(dir, '.erlang.cookie'), `herald${process.pid}${Date.now()}`, { mode: 0o400 });
    const conf = (port, tlsPort) => [
        `listeners.tcp.default = ${AMQP_HOST}:${port}`,
        'loopback_users = none',
        `listeners.ssl.default = ${TLS_HOST}:${tlsPort}`,
        `ssl_options.cacertfile = ${path.join(dir, 'cert.pem')}`,
        `ssl_options.certfile = ${path.join(dir, 'cert.pem')}`,
        `ssl_options.keyfile = ${path.join(dir, 'key.pem')}`,
        'ssl_options.verify = verify_none',
        'ssl_options.fail_if_no_peer_cert = false',
        'log.console = false',
        'log.file.level = warning',
        '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
    const node = `herald${process.pid}_${dist}@localhost`;
    const env = {
        HOME: dir,
        ERL_EPMD_PORT: String(epmdPort),
        RABBITMQ_NODENAME: node,
        RABBITMQ_DIST_PORT: String(dist),
        RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
        RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
        RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
        RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
        RABBITMQ_PLUGINS_EXPAND_DIR: path.join(dir, 'plugins'),
        RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
        RABBITMQ_LOG_BASE: path.join(dir, 'log'),
        RABBITMQ_PID_FILE: path.join(dir, 'rabbit.pid'),
    };
    const b = new RabbitProcess(dir, env, conf);
    rabbitPidFiles.add(env.RABBITMQ_PID_FILE);
    return b;
}

/**
 * Starts a private RabbitMQ node (Debian's rabbitmq-server) in a temp dir,
 * once per suite: it takes seconds. .url(query) gives amqp://, .tlsUrl(query)
 * amqps://localhost, .client() an AmqpClient; .stream is the stream the
 * suite uses. An epmd or node that exits while starting lost its probed
 * port (epmd's or the distribution port) to another process between probe
 * and bind: a new node on new ports is started, as startProgram
 * (harness.mjs) does for our own servers.
 */
export async function startRabbit() {
    let lastErr;
    for (let attempt = 0; attempt < 3; attempt++) {
        const b = await newRabbit();
        try {
            await b.startEpmd();
            await b.start(60000);
        } catch (e) {
            lastErr = e;
            await b.stop();
            if (b.exitedEarly) continue;
            break;
        }
        b.stream = 'herald.events';
        b.url = (query = '') => `amqp://${AMQP_HOST}:${b.port}${query}`;
        b.tlsUrl = (query = '') => `amqps://localhost:${b.tlsPort}${query}`;
        b.caFile = path.join(b.dir, 'cert.pem');
        b.client = () => AmqpClient.connect(b.port, { host: AMQP_HOST });
        return b;
    }
    throw lastErr;
}

/* ------------------------------------------------------------------ */
/* RESP                                                                */
/* ------------------------------------------------------------------ */

/** Parses one RESP2 value from buf at off; returns [value, next] or null if incomplete. */
function parseResp(buf, off) {
    if (off >= buf.length) return null;
    const eol = buf.indexOf('\r\n', off);
    if (eol < 0) return null;
    const type = String.fromCharCode(buf[off]);
    const line = buf.toString('utf8', off + 1, eol);
    const next = eol + 2;
    if (type === '+') return [line, next];
    if (type === '-') return [new Error(line), next];
    if (type === ':') return [Number(line), next];
    if (type === '$') {
        const n = Number(line);
        if (n < 0) return [null, next];
        if (buf.length < next + n + 2) return null;
        return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    if (type === '*') {
        const n = Number(line);
        if (n < 0) return [null, next];
        const out = [];
        let at = next;
        for (let i = 0; i < n; i++) {
            const r = parseResp(buf, at);
            if (!r) return null;
            out.push(r[0]);
            at = r[1];
        }
        return [out, at];
    }
    throw new Error(`bad RESP type ${type}`);
}

export class RespClient {
    static async connect(port, password) {
        const c = new RespClient(net.connect(port, '127.0.0.1'));
        await new Promise((resolve, reject) => {
            c.sock.once('connect', resolve);
            c.sock.once('error', reject);
        });
        if (password) await c.cmd('AUTH', password);
        return c;
    }

    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.pending = [];
        sock.on('data', (d) => {
            this.buf = Buffer.concat([this.buf, d]);
            for (;;) {
                const r = parseResp(this.buf, 0);
                if (!r) break;
                this.buf = this.buf.subarray(r[1]);
                const p = this.pending.shift();
                if (!p) continue;
                if (r[0] instanceof Error) p.reject(r[0]); else p.resolve(r[0]);
            }
        });
        const failAll = (e) => {
            for (const p of this.pending.splice(0)) p.reject(e || new Error('redis connection closed'));
        };
        sock.on('error', failAll);
        sock.on('close', () => failAll());
    }

    /** Sends one command; resolves to its reply (rejects on an error reply). */
    cmd(...args) {
        const parts = [`*${args.length}\r\n`];
        for (const a of args) {
            const s = Buffer.from(String(a));
            parts.push(`$${s.length}\r\n`, s, '\r\n');
        }
        return new Promise((resolve, reject) => {
            this.pending.push({ resolve, reject });
            this.sock.write(Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p)))));
        });
    }

    /** XADD stream * channel <channel> data <JSON text>; resolves to the entry id. */
    xadd(channel, data, stream = 'herald:events') {
        return this.cmd('XADD', stream, '*', 'channel', channel, 'data', JSON.stringify(data));
    }

    close() {
        this.sock.destroy();
    }
}

/* ------------------------------------------------------------------ */
/* NATS                                                                */
/* ------------------------------------------------------------------ */

export class NatsClient {
    static async connect(port, opts = {}) {
        const c = new NatsClient(net.connect(port, '127.0.0.1'));
        await new Promise((resolve, reject) => {
            c.sock.once('error', reject);
            c.onInfo = resolve;
        });
        const conn = { verbose: false, pedantic: false, headers: true, no_responders: true, protocol: 1 };
        if (opts.user) Object.assign(conn, { user: opts.user, pass: opts.pass });
        if (opts.token) conn.auth_token = opts.token;
        c.sock.write(`CONNECT ${JSON.stringify(conn)}\r\nSUB ${c.inbox}.* 1\r\n`);
        await c.flush();
        return c;
    }

    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.inbox = `_INBOX.herald${process.pid}${Math.random().toString(16).slice(2)}`;
        this.nextReply = 0;
        this.waiting = new Map();
        this.pongs = [];
        sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.drain(); });
        sock.on('error', () => {});
    }

    drain() {
        for (;;) {
            const eol = this.buf.indexOf('\r\n');
            if (eol < 0) return;
            const line = this.buf.toString('utf8', 0, eol);
            if (line.startsWith('MSG ') || line.startsWith('HMSG ')) {
                const parts = line.split(' ');
                const total = Number(parts[parts.length - 1]);
                const hdr = line.startsWith('HMSG ') ? Number(parts[parts.length - 2]) : 0;
                if (this.buf.length < eol + 2 + total + 2) return;
                const body = this.buf.toString('utf8', eol + 2 + hdr, eol + 2 + total);
                this.buf = this.buf.subarray(eol + 2 + total + 2);
                const w = this.waiting.get(parts[1]);
                if (w) { this.waiting.delete(parts[1]); w(body); }
                continue;
            }
            this.buf = this.buf.subarray(eol + 2);
            if (line.startsWith('INFO ') && this.onInfo) { const f = this.onInfo; this.onInfo = null; f(); }
            else if (line === 'PING') this.sock.write('PONG\r\n');
            else if (line === 'PONG') this.pongs.shift()?.();
            else if (line.startsWith('-ERR')) this.lastError = line;
        }
    }

    flush() {
        return new Promise((resolve) => { this.pongs.push(resolve); this.sock.write('PING\r\n'); });
    }

    /** Publishes data (as JSON, or as is when raw) to subject and waits for JetStream's PubAck; resolves to {stream, seq}. */
    async publish(subject, data, headers = null, raw = false) {
        const text = raw ? data : JSON.stringify(data);
        const reply = `${this.inbox}.${++this.nextReply}`;
        const body = Buffer.from(text);
        const got = new Promise((resolve) => this.waiting.set(reply, resolve));
        if (headers) {
            const h = Buffer.from(`NATS/1.0\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
            this.sock.write(Buffer.concat([Buffer.from(`HPUB ${subject} ${reply} ${h.length} ${h.length + body.length}\r\n`), h, body, Buffer.from('\r\n')]));
        } else {
            this.sock.write(Buffer.concat([Buffer.from(`PUB ${subject} ${reply} ${body.length}\r\n`), body, Buffer.from('\r\n')]));
        }
        let timer;
        const ack = JSON.parse(await Promise.race([got, new Promise((_, rej) => {
            timer = setTimeout(() => rej(new Error(`no PubAck for ${subject} ${this.lastError || ''}`)), 10000);
        })]).finally(() => clearTimeout(timer)));
        if (ack.error) throw new Error(`JetStream refused: ${JSON.stringify(ack.error)}`);
        return ack;
    }

    /** Sends a JetStream API request ($JS.API....) and resolves to the parsed reply. */
    async request(subject, obj = {}) {
        const reply = `${this.inbox}.${++this.nextReply}`;
        const body = Buffer.from(JSON.stringify(obj));
        const got = new Promise((resolve) => this.waiting.set(reply, resolve));
        this.sock.write(Buffer.concat([Buffer.from(`PUB ${subject} ${reply} ${body.length}\r\n`), body, Buffer.from('\r\n')]));
        return JSON.parse(await got);
    }

    close() {
        this.sock.destroy();
    }
}
