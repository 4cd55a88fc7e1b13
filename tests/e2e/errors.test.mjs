// Errors that say what is wrong: a refused token names its reason, and a bad
// channel name is quoted with the rule, on herald-notifier directly and on
// herald-gateway's edge auth.
//
// Token refusals: the HTTP 401 body is "token refused: <reason>\n" and the
// reason is in the log (the notifier's "upgrade refused" line; the
// gateway's JSON access log, field "error"), never the token. Channel names:
// the WebSocket error message, the ?channels= error and the /publish 400 quote
// the offending name (cut after 40 bytes with "…") and the rule.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
    connectWelcome, directOnly, expectRefused, freePort, nowS, publish, signJwt, spawnServer,
    startNotifier, test, tmpFile, waitFor, gatewayUp,
} from './lib/harness.mjs';

const SECRET = 'errors-e2e-secret';
const ISS = 'https://login.example';
const AUD = 'herald-web';
const RULE = '(names match [A-Za-z0-9_.:@-]{1,128})';
const ONLY = directOnly('starts its own notifier flags and gateway');

function claims(extra = {}) {
    return { sub: 'alice', iss: ISS, aud: AUD, exp: nowS() + 600, ...extra };
}

/** One bad token per reason the verifier gives. */
function badTokens() {
    const good = signJwt(claims(), { key: SECRET });
    return [
        ['expired', signJwt(claims({ exp: nowS() - 60 }), { key: SECRET })],
        ['not yet valid', signJwt(claims({ nbf: nowS() + 600 }), { key: SECRET })],
        ['bad signature', signJwt(claims(), { key: 'not-the-secret' })],
        ['malformed', 'this-is-no-jwt'],
        ['malformed', `${good.split('.').slice(0, 2).join('.')}.!!`],
        ['wrong audience', signJwt(claims({ aud: 'another-app' }), { key: SECRET })],
        ['wrong issuer', signJwt(claims({ iss: 'https://evil.example' }), { key: SECRET })],
        ['algorithm not allowed', signJwt(claims(), { alg: 'none' })],
        ['bad channels claim', signJwt(claims({ channels: ['no spaces allowed'] }), { key: SECRET })],
    ];
}

/** The parts of a token that must never show up in a log. */
function secretsOf(token) {
    return token.split('.').filter((p) => p.length >= 8);
}

function assertNoTokens(log, tokens) {
    for (const t of tokens) {
        for (const part of secretsOf(t)) {
            assert.ok(!log.includes(part), `the log holds a token part: ${part.slice(0, 12)}…`);
        }
    }
}

async function startGateway(notifierPort) {
    const listen = await freePort();
    const admin = await freePort();
    const cfg = {
        listen: `127.0.0.1:${listen}`,
        admin_listen: `127.0.0.1:${admin}`,
        auth: { jwt: { algorithms: ['HS256'], secret: SECRET, issuer: ISS, audience: AUD } },
        upstreams: { notifier: { servers: [`127.0.0.1:${notifierPort}`] } },
        routes: [
            { path: '/ws', upstream: 'notifier', websocket: true, auth: 'optional', strip_token: true },
            { path: '/api/', upstream: 'notifier', strip_prefix: true, auth: 'required' },
        ],
        access_log: 'on',
    };
    const gw = spawnServer('herald-gateway', ['--config', tmpFile('gw.yaml', JSON.stringify(cfg))], {},
        listen);
    gw.admin = `http://127.0.0.1:${admin}`;
    // Every worker listening (gatewayUp), not only worker 0's /healthz: until then
    // which worker a client meets depends on start-up timing.
    return gatewayUp(gw);
}

/** The gateway's JSON access-log lines (stdout shares the harness's log file). */
function accessLog(gw) {
    return gw.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

describe('token refusals name the reason', ONLY, () => {
    test('directly: the 401 body and the notifier log say why, never the token', async () => {
        const srv = await startNotifier(['--jwt-secret', SECRET, '--jwt-issuer', ISS,
            '--jwt-audience', AUD]);
        const cases = badTokens();
        for (const [reason, token] of cases) {
            const r = await expectRefused(srv.wsUrl('/ws', { token }));
            assert.equal(r.statusCode, 401, reason);
            assert.equal(r.body, `token refused: ${reason}\n`);
        }
        // Authorization: Bearer is read the same way; an unusable header is malformed.
        const [, expired] = cases[0];
        let r = await expectRefused(srv.wsUrl('/ws'), { headers: { Authorization: `Bearer ${expired}` } });
        assert.equal(r.body, 'token refused: expired\n');
        r = await expectRefused(srv.wsUrl('/ws'), { headers: { Authorization: 'Basic dXNlcjpwdw==' } });
        assert.equal(r.body, 'token refused: malformed\n');

        const log = srv.stderr();
        for (const [reason] of cases) {
            assert.match(log, new RegExp(`info notifier upgrade refused status=401 reason="${reason}" peer=127\\.0\\.0\\.1`));
        }
        assertNoTokens(log, cases.map(([, t]) => t));
        // A good token still works.
        const [, welcome] = await connectWelcome(srv.wsUrl('/ws', { token: signJwt(claims(), { key: SECRET }) }));
        assert.equal(welcome.user, 'alice');
    });

    test('directly: a token sent to a notifier without a key says so', async () => {
        const srv = await startNotifier();
        const r = await expectRefused(srv.wsUrl('/ws', { token: signJwt(claims(), { key: SECRET }) }));
        assert.equal(r.statusCode, 401);
        assert.equal(r.body, 'token refused: no JWT key configured\n');
    });

    test('through the gateway: WebSocket and HTTP routes, 401 body and access log', async () => {
        const nf = await startNotifier(['--trusted-proxy', '127.0.0.1/32']);
        const gw = await startGateway(nf.port);
        const base = `127.0.0.1:${gw.port}`;
        const cases = badTokens();
        for (const [reason, token] of cases) {
            const ws = await expectRefused(`ws://${base}/ws?token=${encodeURIComponent(token)}`);
            assert.equal(ws.statusCode, 401, reason);
            assert.equal(ws.body, `token refused: ${reason}\n`);
            const http = await fetch(`http://${base}/api/healthz`, { headers: { Authorization: `Bearer ${token}` } });
            assert.equal(http.status, 401, reason);
            assert.equal(await http.text(), `token refused: ${reason}\n`);
        }
        const missing = await fetch(`http://${base}/api/healthz`);
        assert.equal(missing.status, 401);
        assert.equal(await missing.text(), 'token refused: missing\n');

        await waitFor(() => accessLog(gw).filter((l) => l.status === 401).length === 2 * cases.length + 1,
            'one access-log line per refusal');
        const lines = accessLog(gw).filter((l) => l.status === 401);
        for (const [reason] of cases) {
            const mine = lines.filter((l) => l.error === `token refused: ${reason}`);
            assert.ok(mine.some((l) => l.kind === 'ws' && l.path === '/ws' && l.route === '/ws'), reason);
            assert.ok(mine.some((l) => l.kind === 'http' && l.path === '/api/healthz'), reason);
        }
        assert.ok(lines.some((l) => l.error === 'token refused: missing'));
        assertNoTokens(gw.stderr(), cases.map(([, t]) => t));
        assertNoTokens(nf.stderr(), cases.map(([, t]) => t));
    });
});

describe('channel-name errors quote the name and the rule', ONLY, () => {
    test('subscribe: the error message quotes the name, cut after 40 bytes', async () => {
        const srv = await startNotifier();
        const [c] = await connectWelcome(srv.wsUrl('/ws'));
        let e = await c.request({ type: 'subscribe', channels: ['orders', 'has space'], ref: '1' });
        assert.equal(e.code, 'bad_request');
        assert.equal(e.message, `channels[1] is not a valid channel name: "has space" ${RULE}`);
        e = await c.request({ type: 'subscribe', channels: ['x'.repeat(200)], ref: '2' });
        assert.equal(e.message,
            `channels[0] is not a valid channel name: "${'x'.repeat(40)}…" (200 bytes; names match [A-Za-z0-9_.:@-]{1,128})`);
        e = await c.request({ type: 'subscribe', channels: ['ünï"\\'], ref: '3' });
        assert.equal(e.message, `channels[0] is not a valid channel name: "ünï"\\" ${RULE}`);
        e = await c.request({ type: 'subscribe', channels: [42], ref: '4' });
        assert.equal(e.message, `channels[0] is not a string ${RULE}`);
        e = await c.request({ type: 'subscribe', channels: ['ctl\u0001'], ref: '5' });
        assert.equal(e.message, `channels[0] is not a valid channel name: "ctl?" ${RULE}`);
    });

    test('?channels= at connect: the error quotes the offending entry', async () => {
        const srv = await startNotifier();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { channels: 'orders,bad/name,alerts' }));
        const e = await c.nextOfType('error');
        assert.equal(e.code, 'bad_request');
        assert.equal(e.message, `?channels= holds an invalid channel name: "bad/name" ${RULE}`);
    });

    test('POST /publish: the 400 quotes the name', async () => {
        const srv = await startNotifier();
        let r = await publish(srv, { channel: 'a b', data: 1 });
        assert.equal(r.status, 400);
        assert.equal(r.json.error, 'bad_request');
        assert.match(r.json.message, /^"channel" is not a valid channel name: "a b" \(names match/);
        r = await publish(srv, [{ channel: 'ok', data: 1 }, { channels: ['ok', `${'y'.repeat(41)} z`], data: 2 }]);
        assert.equal(r.status, 400);
        assert.equal(r.json.message,
            `item 1: channels[1] is not a valid channel name: "${'y'.repeat(40)}…" ${RULE}`);
    });
});
