// Identity and protected channels on herald-notifier (SPEC §2): JWT in
// ?token= (HS256 with --jwt-secret, RS256/ES256 with --jwt-public-key),
// user:<id> and the channels claim (exact and prefix*), 401 before the
// upgrade for any invalid token, and X-Herald-User from --trusted-proxy.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe } from 'node:test';
import {
    connect, connectWelcome, expectRefused, keyPair, nowS, publishOk, signJwt,
    startNotifier, stopAll, test, VIA_GATEWAY, directOnly,
} from './lib/harness.mjs';

const SECRET = 'e2e-jwt-secret-0123456789';
let n = 0;
const uniq = (p = 'u') => `${p}${process.pid}x${++n}`;

function assertError(m, code, ref) {
    assert.equal(m.type, 'error', `expected an error, got ${JSON.stringify(m)}`);
    assert.equal(m.code, code);
    if (ref !== undefined) assert.equal(m.ref, ref);
}

/** Subscribes and proves delivery with a published event. */
async function assertCanRead(srv, c, channel) {
    const r = await c.request({ type: 'subscribe', channels: [channel], ref: 'can' });
    assert.equal(r.type, 'subscribed', `subscribe ${channel}: ${JSON.stringify(r)}`);
    const id = await publishOk(srv, { channel, data: { for: channel } });
    const e = await c.nextOfType('event');
    assert.equal(e.id, id);
    assert.equal(e.channel, channel);
}

/** Forbidden is an error reply; the connection stays usable. */
async function assertForbidden(srv, c, channel) {
    const r = await c.request({ type: 'subscribe', channels: [channel], ref: 'no' });
    assertError(r, 'forbidden', 'no');
    await assertCanRead(srv, c, uniq('public'));
    // And nothing of the forbidden channel leaks.
    const pub = uniq('public');
    await c.request({ type: 'subscribe', channels: [pub] });
    await publishOk(srv, { channel, data: 'secret' });
    const id = await publishOk(srv, { channel: pub, data: 'sentinel' });
    assert.equal((await c.nextOfType('event')).id, id);
}

describe('HS256 with --jwt-secret', () => {
    let srv;
    before(async () => { srv = await startNotifier(['--jwt-secret', SECRET]); });
    after(stopAll);

    const tok = (claims) => signJwt({ iat: nowS(), exp: nowS() + 3600, ...claims }, { alg: 'HS256', key: SECRET });

    test('welcome carries the token sub', async () => {
        const [, w] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: 'alice' }) }));
        assert.equal(w.user, 'alice');
    });

    test('a sub with quotes, backslashes and non-ASCII is sent back exactly', async () => {
        const sub = 'j\u00fcrgen "the" \\ admin ✓';
        const [, w] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub }) }));
        assert.equal(w.user, sub);
    });

    test('anonymous connections still work, with user null', async () => {
        const [c, w] = await connectWelcome(srv.wsUrl());
        assert.equal(w.user, null);
        await assertCanRead(srv, c, uniq('pub'));
    });

    test('user:<sub> is readable by its user', async () => {
        const u = uniq();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u }) }));
        await assertCanRead(srv, c, `user:${u}`);
    });

    test('user:<other> is forbidden, not a disconnect', async () => {
        const u = uniq();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u }) }));
        await assertForbidden(srv, c, `user:${u}x`);
        await assertForbidden(srv, c, `user:${u.slice(0, -1)}`);
    });

    test('anonymous connections cannot read protected channels', async () => {
        const [c] = await connectWelcome(srv.wsUrl());
        await assertForbidden(srv, c, `user:${uniq()}`);
        await assertForbidden(srv, c, 'team:red');
    });

    test('?channels= with a forbidden channel does not deliver it', async () => {
        const u = uniq();
        const c = await connect(
            srv.wsUrl('/ws', { channels: `user:${u}`, token: tok({ sub: 'mallory' }) }));
        const w = await c.next();
        assert.equal(w.type, 'welcome');
        const pub = uniq('pub');
        await c.request({ type: 'subscribe', channels: [pub] });
        await publishOk(srv, { channel: `user:${u}`, data: 'secret' });
        const id = await publishOk(srv, { channel: pub, data: 'sentinel' });
        const e = await c.nextOfType('event');
        assert.equal(e.id, id, 'the forbidden channel was not delivered');
    });

    test('channels claim: exact names', async () => {
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: uniq(), channels: ['team:red', 'org:1:news'] }) }));
        await assertCanRead(srv, c, 'team:red');
        await assertCanRead(srv, c, 'org:1:news');
        await assertForbidden(srv, c, 'team:blue');
        await assertForbidden(srv, c, 'team:redx');
        await assertForbidden(srv, c, 'org:1:news2');
    });

    test('channels claim: prefix ending in *', async () => {
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: uniq(), channels: ['team:42:*'] }) }));
        await assertCanRead(srv, c, 'team:42:chat');
        await assertCanRead(srv, c, 'team:42:x:y');
        await assertForbidden(srv, c, 'team:43:chat');
        await assertForbidden(srv, c, 'team:4:chat');
    });

    test('a channels claim never grants another user\'s user: channel', async () => {
        const u = uniq();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u, channels: ['user:*'] }) }));
        await assertCanRead(srv, c, `user:${u}`);
        await assertForbidden(srv, c, `user:${u}other`);
    });

    test('a token with channels still gets its own user channel', async () => {
        const u = uniq();
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: tok({ sub: u, channels: ['team:*'] }) }));
        await assertCanRead(srv, c, `user:${u}`);
        await assertCanRead(srv, c, 'team:green');
    });

    test('Authorization: Bearer on the upgrade works like ?token=', async () => {
        const u = uniq();
        const [c, w] = await connectWelcome(srv.wsUrl(), { headers: { Authorization: `Bearer ${tok({ sub: u })}` } });
        assert.equal(w.user, u);
        await assertCanRead(srv, c, `user:${u}`);
    });

    const bad = {
        expired: () => signJwt({ sub: 'alice', exp: nowS() - 3600 }, { key: SECRET }),
        'nbf in the future': () => signJwt({ sub: 'alice', nbf: nowS() + 3600, exp: nowS() + 7200 }, { key: SECRET }),
        'alg none': () => signJwt({ sub: 'alice', exp: nowS() + 3600 }, { alg: 'none' }),
        'alg none with a signature': () => {
            const t = signJwt({ sub: 'alice', exp: nowS() + 3600 }, { key: SECRET });
            const [, body, sig] = t.split('.');
            const head = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
            return `${head}.${body}.${sig}`;
        },
        'wrong secret': () => signJwt({ sub: 'alice', exp: nowS() + 3600 }, { key: `${SECRET}x` }),
        'tampered payload': () => {
            const t = signJwt({ sub: 'alice', exp: nowS() + 3600 }, { key: SECRET });
            const [h, , s] = t.split('.');
            const body = Buffer.from(JSON.stringify({ sub: 'admin', exp: nowS() + 3600 })).toString('base64url');
            return `${h}.${body}.${s}`;
        },
        'truncated signature': () => signJwt({ sub: 'alice', exp: nowS() + 3600 }, { key: SECRET }).slice(0, -4),
        garbage: () => 'not-a-jwt',
        'two parts': () => 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0',
        'empty token': () => '',
    };
    for (const [what, make] of Object.entries(bad)) {
        test(`invalid token (${what}) -> HTTP 401 before the upgrade`, async () => {
            const r = await expectRefused(srv.wsUrl('/ws', { token: make() }));
            assert.equal(r.statusCode, 401);
        });
    }

    test('invalid bearer header -> HTTP 401', async () => {
        const t = signJwt({ sub: 'alice', exp: nowS() - 10 }, { key: SECRET });
        const r = await expectRefused(srv.wsUrl(), { headers: { Authorization: `Bearer ${t}` } });
        assert.equal(r.statusCode, 401);
    });
});

describe('RS256 and ES256 with --jwt-public-key', () => {
    const rsa = keyPair('rsa');
    const ec = keyPair('ec');
    const otherRsa = keyPair('rsa');
    const otherEc = keyPair('ec');

    describe('RS256', () => {
        let srv;
        before(async () => { srv = await startNotifier(['--jwt-public-key', rsa.publicPath]); });
        after(stopAll);

        test('a valid RS256 token identifies the user', async () => {
            const u = uniq();
            const t = signJwt({ sub: u, exp: nowS() + 3600 }, { alg: 'RS256', key: rsa.privateKey });
            const [c, w] = await connectWelcome(srv.wsUrl('/ws', { token: t }));
            assert.equal(w.user, u);
            await assertCanRead(srv, c, `user:${u}`);
            await assertForbidden(srv, c, `user:${u}z`);
        });

        test('RS256 signed by another key -> 401', async () => {
            const t = signJwt({ sub: 'a', exp: nowS() + 3600 }, { alg: 'RS256', key: otherRsa.privateKey });
            assert.equal((await expectRefused(srv.wsUrl('/ws', { token: t }))).statusCode, 401);
        });

        test('HS256 signed with the public key as secret (alg confusion) -> 401', async () => {
            const t = signJwt({ sub: 'a', exp: nowS() + 3600 }, { alg: 'HS256', key: rsa.publicPem });
            assert.equal((await expectRefused(srv.wsUrl('/ws', { token: t }))).statusCode, 401);
        });

        test('expired RS256 -> 401', async () => {
            const t = signJwt({ sub: 'a', exp: nowS() - 3600 }, { alg: 'RS256', key: rsa.privateKey });
            assert.equal((await expectRefused(srv.wsUrl('/ws', { token: t }))).statusCode, 401);
        });

        test('alg none -> 401', async () => {
            const t = signJwt({ sub: 'a', exp: nowS() + 3600 }, { alg: 'none' });
            assert.equal((await expectRefused(srv.wsUrl('/ws', { token: t }))).statusCode, 401);
        });
    });

    describe('ES256', () => {
        let srv;
        before(async () => { srv = await startNotifier(['--jwt-public-key', ec.publicPath]); });
        after(stopAll);

        test('a valid ES256 token identifies the user and its channels', async () => {
            const u = uniq();
            const t = signJwt({ sub: u, exp: nowS() + 3600, channels: ['room:*'] }, { alg: 'ES256', key: ec.privateKey });
            const [c, w] = await connectWelcome(srv.wsUrl('/ws', { token: t }));
            assert.equal(w.user, u);
            await assertCanRead(srv, c, `user:${u}`);
            await assertCanRead(srv, c, 'room:lobby');
            await assertForbidden(srv, c, 'rooms:lobby');
        });

        test('ES256 signed by another key -> 401', async () => {
            const t = signJwt({ sub: 'a', exp: nowS() + 3600 }, { alg: 'ES256', key: otherEc.privateKey });
            assert.equal((await expectRefused(srv.wsUrl('/ws', { token: t }))).statusCode, 401);
        });

        test('ES256 with a DER signature instead of raw r||s -> 401', async () => {
            const head = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT' })).toString('base64url');
            const body = Buffer.from(JSON.stringify({ sub: 'a', exp: nowS() + 3600 })).toString('base64url');
            const der = crypto.sign('sha256', Buffer.from(`${head}.${body}`), ec.privateKey);
            const t = `${head}.${body}.${der.toString('base64url')}`;
            assert.equal((await expectRefused(srv.wsUrl('/ws', { token: t }))).statusCode, 401);
        });

        test('nbf in the future -> 401', async () => {
            const t = signJwt({ sub: 'a', nbf: nowS() + 3600, exp: nowS() + 7200 }, { alg: 'ES256', key: ec.privateKey });
            assert.equal((await expectRefused(srv.wsUrl('/ws', { token: t }))).statusCode, 401);
        });
    });
});

describe('secrets stay out of the logs', () => {
    test('tokens, the JWT secret and the API key never appear on stderr, even at debug', async () => {
        const apiKey = 'api-key-that-must-not-be-logged';
        const srv = await startNotifier(['--log-level', 'debug', '--jwt-secret', SECRET, '--api-key', apiKey],
            { gatewayArgs: ['--log-level', 'debug'] });
        const good = signJwt({ sub: 'loguser', exp: nowS() + 3600 }, { key: SECRET });
        const bad = signJwt({ sub: 'loguser', exp: nowS() - 3600 }, { key: SECRET });
        const [c] = await connectWelcome(srv.wsUrl('/ws', { token: good, channels: 'user:loguser' }));
        assert.equal((await expectRefused(srv.wsUrl('/ws', { token: bad }))).statusCode, 401);
        await expectRefused(srv.wsUrl(), { headers: { Authorization: `Bearer ${bad}` } });
        await publishOk(srv, { channel: 'user:loguser', data: 1 }, { authorization: `Bearer ${apiKey}` });
        await c.nextOfType('event');
        const r = await fetch(`${srv.base}/publish`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer wrong-key-also-secret' } });
        await r.text();
        await srv.stop();
        // Through the gateway the tokens passed its edge too: its log is checked as well.
        if (srv.gateway) await srv.gateway.stop();
        const err = srv.stderr() + (srv.gateway ? srv.gateway.stderr() : '');
        for (const secret of [good, bad, good.split('.')[2], bad.split('.')[2], SECRET, apiKey, 'wrong-key-also-secret']) {
            assert.ok(!err.includes(secret), `stderr holds a secret: ${secret.slice(0, 20)}...`);
        }
    });
});

describe('no JWT key configured', () => {
    test('a token the notifier cannot verify -> HTTP 401, not anonymous', async () => {
        const srv = await startNotifier();
        const t = signJwt({ sub: 'alice', exp: nowS() + 3600 }, { key: SECRET });
        assert.equal((await expectRefused(srv.wsUrl('/ws', { token: t }))).statusCode, 401);
        const [, w] = await connectWelcome(srv.wsUrl());
        assert.equal(w.user, null, 'no token: anonymous');
    });
});

// Through the gateway the test client is not the proxy: the gateway strips
// X-Herald-* from every client (SPEC §4) and, with auth none, forwards no
// identity, so what a client claims in those headers must never reach the
// notifier: the expected identity is anonymous. (A gateway that verified a
// token and forwards it over a trusted address: gateway.test.mjs, link.test.mjs.)
describe('--trusted-proxy', () => {
    test('X-Herald-User from a trusted proxy address is the identity', async () => {
        const srv = await startNotifier(['--trusted-proxy', '127.0.0.1/32']);
        const u = uniq();
        const [c, w] = await connectWelcome(srv.wsUrl(), { headers: { 'X-Herald-User': u } });
        if (VIA_GATEWAY) {
            assert.equal(w.user, null, 'the gateway stripped the client\'s X-Herald-User');
            await assertForbidden(srv, c, `user:${u}`);
            return;
        }
        assert.equal(w.user, u);
        await assertCanRead(srv, c, `user:${u}`);
        await assertForbidden(srv, c, `user:${u}q`);
    });

    test('X-Herald-Channels from a trusted proxy grants its channels (comma-separated)', async () => {
        const srv = await startNotifier(['--trusted-proxy', '127.0.0.1/32']);
        const u = uniq();
        const [c, w] = await connectWelcome(srv.wsUrl(), {
            headers: { 'X-Herald-User': u, 'X-Herald-Channels': 'team:7:*, org:x' },
        });
        if (VIA_GATEWAY) {
            assert.equal(w.user, null, 'the gateway stripped the client\'s identity headers');
            await assertForbidden(srv, c, 'team:7:chat');
            await assertForbidden(srv, c, 'org:x');
            return;
        }
        assert.equal(w.user, u);
        await assertCanRead(srv, c, 'team:7:chat');
        await assertCanRead(srv, c, 'org:x');
        await assertForbidden(srv, c, 'team:8:chat');
    });

    test('a trusted proxy may forward no identity: the client is anonymous', async () => {
        const srv = await startNotifier(['--trusted-proxy', '127.0.0.1/32']);
        const [c, w] = await connectWelcome(srv.wsUrl());
        assert.equal(w.user, null);
        await assertForbidden(srv, c, `user:${uniq()}`);
    });

    test('a trusted proxy given as a wider CIDR is honoured', async () => {
        const srv = await startNotifier(['--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', '127.0.0.0/8']);
        const u = uniq();
        const [, w] = await connectWelcome(srv.wsUrl(), { headers: { 'X-Herald-User': u } });
        assert.equal(w.user, VIA_GATEWAY ? null : u);
    });

    test('X-Herald-User is ignored without --trusted-proxy', async () => {
        const srv = await startNotifier();
        const u = uniq();
        const [c, w] = await connectWelcome(srv.wsUrl(), { headers: { 'X-Herald-User': u, 'X-Herald-Channels': 'team:*' } });
        assert.equal(w.user, null);
        await assertForbidden(srv, c, `user:${u}`);
    });

    test('X-Herald-User is ignored from an address that is not trusted', async () => {
        const srv = await startNotifier(['--trusted-proxy', '10.1.2.3/32']);
        const u = uniq();
        const [c, w] = await connectWelcome(srv.wsUrl(), { headers: { 'X-Herald-User': u } });
        assert.equal(w.user, null);
        await assertForbidden(srv, c, `user:${u}`);
    });

    test('identity headers from an untrusted address are logged once, with the flag to set',
        directOnly('through the gateway the client\'s headers are stripped'), async () => {
            const srv = await startNotifier();
            for (let i = 0; i < 3; i++) {
                const [, w] = await connectWelcome(srv.wsUrl(), { headers: { 'X-Herald-User': uniq() } });
                assert.equal(w.user, null);
            }
            const warnings = srv.stderr().split('\n').filter((l) => /X-Herald-User/.test(l));
            assert.equal(warnings.length, 1, srv.stderr());
            assert.match(warnings[0], / warn .*from 127\.0\.0\.1.*--trusted-proxy 127\.0\.0\.1\/32/);
        });
});
