// Per-connection command rate (SPEC §2 error code rate_limited): commands
// past --commands-per-s within one second get an error with code
// rate_limited and their ref, and are not carried out; the connection stays
// usable once the window has passed; a client that keeps going past the rate
// reaches --bad-command-limit and is closed with 1008.

import assert from 'node:assert/strict';
import { after, describe } from 'node:test';
import { connectWelcome, metrics, metricSum, sleep, startNotifier, stopAll, test } from './lib/harness.mjs';

let n = 0;
const uniq = () => `rl${process.pid}_${++n}`;

describe('--commands-per-s', () => {
    after(stopAll);

    test('commands over the rate get rate_limited with their ref and are not carried out', async () => {
        const srv = await startNotifier(['--commands-per-s', '5']);
        const [c] = await connectWelcome(srv.wsUrl());
        const names = [];
        for (let i = 0; i < 8; i++) {
            names.push(uniq());
            c.send({ type: 'subscribe', channels: [names[i]], ref: `r${i}` });
        }
        const replies = [];
        for (let i = 0; i < 8; i++) replies.push(await c.next());
        const byRef = new Map(replies.map((r) => [r.ref, r]));
        let ok = 0;
        let limited = 0;
        for (let i = 0; i < 8; i++) {
            const r = byRef.get(`r${i}`);
            assert.ok(r, `a reply for r${i}`);
            if (r.type === 'subscribed') ok++;
            else {
                assert.equal(r.type, 'error');
                assert.equal(r.code, 'rate_limited');
                assert.match(r.message, /too many commands/);
                limited++;
            }
        }
        // Normally 5 and 3; a window boundary inside the burst can only let more through.
        assert.ok(ok >= 5 && limited >= 1 && ok + limited === 8, `ok=${ok} limited=${limited}`);
        assert.ok(metricSum(await metrics(srv), /client_errors_total/) >= limited);

        // A channel refused by the limit is really not subscribed: an event
        // on it does not arrive, one on an accepted channel does.
        const refused = names.find((_, i) => byRef.get(`r${i}`).type === 'error');
        const accepted = names.find((_, i) => byRef.get(`r${i}`).type === 'subscribed');
        await sleep(1100);
        const r = await c.request({ type: 'subscribe', channels: [uniq()], ref: 'later' });
        assert.equal(r.type, 'subscribed', 'the next window accepts commands again');
        await fetch(`http://127.0.0.1:${srv.port}/publish`, {
            method: 'POST', body: JSON.stringify({ channel: refused, data: 'no' }),
        });
        await fetch(`http://127.0.0.1:${srv.port}/publish`, {
            method: 'POST', body: JSON.stringify({ channel: accepted, data: 'yes' }),
        });
        const ev = await c.nextOfType('event');
        assert.equal(ev.channel, accepted);
        assert.equal(ev.data, 'yes');
    });

    test('a client that keeps going past the rate is closed with 1008', async () => {
        const srv = await startNotifier(['--commands-per-s', '2', '--bad-command-limit', '5']);
        const [c] = await connectWelcome(srv.wsUrl());
        for (let i = 0; i < 20 && !c.closeInfo; i++)
            c.send({ type: 'unsubscribe', channels: ['x'], ref: `${i}` });
        const { code } = await c.waitClose();
        assert.equal(code, 1008);
        const codes = c.queue.filter((m) => m.type === 'error').map((m) => m.code);
        assert.ok(codes.length >= 1 && codes.every((x) => x === 'rate_limited'), codes.join());
    });

    test('the default rate (100/s) leaves ordinary clients alone', async () => {
        const srv = await startNotifier();
        const [c] = await connectWelcome(srv.wsUrl());
        for (let i = 0; i < 50; i++) {
            const r = await c.request({ type: 'subscribe', channels: [uniq()], ref: `${i}` });
            assert.equal(r.type, 'subscribed');
        }
    });
});
