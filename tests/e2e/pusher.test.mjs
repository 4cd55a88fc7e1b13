// Pusher compatibility (SPEC §8), driven by the unchanged official `pusher`
// server package: its events reach Herald's own clients with broker ids,
// channel names mapped as docs/compat.md says; wrong or stale signatures are
// refused with 401.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe } from 'node:test';
import Pusher from 'pusher';
import {
    connectWelcome, directOnly, nowS, publishOk, signJwt, startNotifier, test,
} from './lib/harness.mjs';

const APP = { appId: '42', key: 'herald-key', secret: 'herald-secret' };
const JWT = 'pusher-e2e-jwt';
const opts = directOnly('the Pusher HTTP API is the notifier\'s own endpoint');

const notifier = () => startNotifier(['--pusher-app-id', APP.appId, '--pusher-key', APP.key,
    '--pusher-secret', APP.secret, '--jwt-secret', JWT]);

function server(nf, over = {}) {
    return new Pusher({ ...APP, host: '127.0.0.1', port: String(nf.port), useTLS: false, ...over });
}

/** Signs a Pusher HTTP API request by hand (for the refusals the library never makes). */
function signedUrl(nf, method, path, body, { ts = nowS(), key = APP.key, secret = APP.secret } = {}) {
    const params = { auth_key: key, auth_timestamp: String(ts), auth_version: '1.0' };
    if (body) params.body_md5 = crypto.createHash('md5').update(body).digest('hex');
    const q = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
    const sig = crypto.createHmac('sha256', secret).update(`${method}\n${path}\n${q}`).digest('hex');
    return `${nf.base}${path}?${q}&auth_signature=${sig}`;
}

describe('Pusher HTTP API with the official pusher package', () => {
    test('trigger and triggerBatch reach native clients, names and data mapped', opts, async () => {
        const nf = await notifier();
        const token = signJwt({ sub: '7', exp: nowS() + 3600 }, { key: JWT });
        const [c] = await connectWelcome(nf.wsUrl('/ws', { channels: 'orders,user:7', token }));
        await c.nextOfType('subscribed');
        const p = server(nf);
        const r = await p.trigger(['orders', 'private-user-7'], 'created', { id: 7 });
        assert.equal(r.status, 200);
        const got = [await c.nextOfType('event'), await c.nextOfType('event')];
        assert.deepEqual(got.map((e) => e.channel).sort(), ['orders', 'user:7']);
        for (const e of got) assert.deepEqual(e.data, { id: 7 });
        assert.equal(got[0].id, got[1].id, 'one event, one broker id, on both channels');
        const b = await p.triggerBatch([
            { channel: 'orders', name: 'a', data: 'plain text' },
            { channel: 'orders', name: 'b', data: { n: 2 } },
        ]);
        assert.equal(b.status, 200);
        const e1 = await c.nextOfType('event');
        const e2 = await c.nextOfType('event');
        assert.equal(e1.data, 'plain text');
        assert.deepEqual(e2.data, { n: 2 });
        // Ids keep increasing across both APIs (history and resume stay Herald's).
        const own = await publishOk(nf, { channel: 'orders', data: 3 });
        const e3 = await c.nextOfType('event');
        assert.equal(e3.id, own);
    });

    test('wrong key, secret, stale timestamp or body are refused with 401; nothing is published', opts, async () => {
        const nf = await notifier();
        const [c] = await connectWelcome(nf.wsUrl('/ws', { channels: 'orders' }));
        await c.nextOfType('subscribed');
        await assert.rejects(server(nf, { secret: 'wrong' }).trigger('orders', 'x', {}),
            (e) => e.status === 401 && /Invalid signature/.test(e.body));
        await assert.rejects(server(nf, { key: 'other' }).trigger('orders', 'x', {}),
            (e) => e.status === 401 && /auth_key/.test(e.body));
        const body = JSON.stringify({ name: 'x', channel: 'orders', data: '1' });
        const path = `/apps/${APP.appId}/events`;
        const post = (url, b = body) => fetch(url, { method: 'POST', body: b, headers: { 'content-type': 'application/json' } });
        let r = await post(signedUrl(nf, 'POST', path, body, { ts: nowS() - 601 }));
        assert.equal(r.status, 401);
        assert.match(await r.text(), /auth_timestamp/);
        r = await post(signedUrl(nf, 'POST', path, body), body.replace('"1"', '"2"'));
        assert.equal(r.status, 401);
        assert.match(await r.text(), /body_md5/);
        r = await post(signedUrl(nf, 'POST', path, body).replace('/events?', '/batch_events?'));
        assert.equal(r.status, 401, 'a signature covers the path');
        r = await post(signedUrl(nf, 'POST', '/apps/43/events', body));
        assert.equal(r.status, 404, 'another app id');
        r = await post(signedUrl(nf, 'POST', path, '{"name":"x","channel":"a=b","data":"1"}'),
            '{"name":"x","channel":"a=b","data":"1"}');
        assert.equal(r.status, 400, 'a channel Herald cannot carry');
        // The one good request goes through.
        r = await post(signedUrl(nf, 'POST', path, body));
        assert.equal(r.status, 200);
        assert.equal(await r.text(), '{}');
        const e = await c.nextOfType('event');
        assert.equal(e.data, 1, 'the refused requests published nothing before it');
        await publishOk(nf, { channel: 'orders', data: 'marker' });
        assert.equal((await c.nextOfType('event')).data, 'marker', 'nor after it');
    });

    test('without --pusher-app-id the endpoints do not exist', opts, async () => {
        const nf = await startNotifier([]);
        const r = await fetch(signedUrl(nf, 'POST', `/apps/${APP.appId}/events`, '{}'), { method: 'POST', body: '{}' });
        assert.equal(r.status, 404);
    });
});
