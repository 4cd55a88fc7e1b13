// Direct WebSocket clients on every event loop (issue 18.2): with --loops 2
// and no --link-listen, the notifier spreads direct clients over both loops
// (herald_notifier_loop_connections{loop} says where they are), every client
// gets every event in order, a resume on either loop replays the same
// events loop 0's history would, the summed metrics count every loop's
// clients, and SIGTERM closes every client, on either loop, with 1001.

import assert from 'node:assert/strict';
import { after, describe } from 'node:test';
import {
    connect, directOnly, metrics, metricSum, publishOk, startNotifier, stopAll,
    test, waitFor,
} from './lib/harness.mjs';

const CLIENTS = 12;
const EVENTS = 20;

/** {loop: open direct connections} from /metrics. */
async function perLoop(srv) {
    const text = await (await fetch(`${srv.base}/metrics`)).text();
    const out = {};
    for (const line of text.split('\n')) {
        const m = /^herald_notifier_loop_connections\{loop="(\d+)"\} (\d+)$/.exec(line);
        if (m) out[m[1]] = Number(m[2]);
    }
    return out;
}

async function welcomed(srv, query) {
    const c = await connect(srv.wsUrl('/ws', query));
    const w = await c.next();
    assert.equal(w.type, 'welcome', JSON.stringify(w));
    const s = await c.next();
    assert.equal(s.type, 'subscribed', JSON.stringify(s));
    return [c, s];
}

describe('direct clients on several loops', directOnly('the gateway holds the client sockets'), () => {
    after(stopAll);

    test('clients spread over both loops; every event in order on each; resume on each loop', async () => {
        const srv = await startNotifier(['--loops', '2']);
        // A resume from before the process started is incomplete on every
        // loop alike (each loop starts from the primary's floor).
        for (let i = 0; i < 2; i++) {
            const [c, s] = await welcomed(srv, { channels: `old${i}`, since: '1-0' });
            assert.equal(s.recovered, false, `client ${i}`);
            await c.close();
        }
        const clients = [];
        for (let i = 0; i < CLIENTS; i++) clients.push((await welcomed(srv, { channels: 'a,b' }))[0]);
        await waitFor(async () => {
            const l = await perLoop(srv);
            return l['0'] + l['1'] === CLIENTS && l['0'] > 0 && l['1'] > 0;
        }, 'clients on both loops');
        const m = await metrics(srv);
        assert.equal(metricSum(m, /^herald_notifier_connections$/), CLIENTS);
        assert.equal(metricSum(m, /^herald_notifier_loops$/), 2);

        const ids = [];
        for (let i = 0; i < EVENTS; i++) {
            ids.push(await publishOk(srv, { channel: i % 2 ? 'b' : 'a', data: { n: i } }));
        }
        for (const c of clients) {
            const evs = await c.events(EVENTS);
            assert.deepEqual(evs.map((e) => e.id), ids, 'one cursor, publish order');
            assert.deepEqual(evs.map((e) => e.data.n), [...Array(EVENTS).keys()]);
        }
        await waitFor(async () => metricSum(await metrics(srv),
            /^herald_notifier_events_delivered_total$/) === CLIENTS * EVENTS, 'deliveries summed over loops');
        for (const c of clients) c.close();
        await waitFor(async () => {
            const l = await perLoop(srv);
            return l['0'] === 0 && l['1'] === 0;
        }, 'every client gone on both loops');

        // Resumes land on both loops (round robin); each gets the same replay.
        const resumed = [];
        for (let i = 0; i < 4; i++) {
            const [c, s] = await welcomed(srv, { channels: 'a,b', since: ids[4] });
            assert.equal(s.recovered, true);
            resumed.push(c);
        }
        await waitFor(async () => {
            const l = await perLoop(srv);
            return l['0'] === 2 && l['1'] === 2;
        }, 'resumed clients on both loops');
        for (const c of resumed) {
            const evs = await c.events(EVENTS - 5);
            assert.deepEqual(evs.map((e) => e.id), ids.slice(5));
        }
        const live = await publishOk(srv, { channel: 'a', data: 'live' });
        for (const c of resumed) assert.equal((await c.next()).id, live);

        // SIGTERM: 1001 on both loops.
        const closes = resumed.map((c) => c.closed);
        const exit = await srv.stop();
        for (const code of await Promise.all(closes)) assert.equal(code.code ?? code, 1001);
        assert.equal(exit.code, 0, srv.stderr());
    });

    test('a loop a whole queue behind closes its direct clients with 1013; a resume there says recovered:false', async () => {
        // --loop-queue 1: loop 1 cannot keep up with a 1000-event batch.
        const srv = await startNotifier(['--loops', '2', '--loop-queue', '1']);
        const [a] = await welcomed(srv, { channels: 'q' }); // round robin: loop 0
        const [b] = await welcomed(srv, { channels: 'q' }); // loop 1
        await waitFor(async () => {
            const l = await perLoop(srv);
            return l['0'] === 1 && l['1'] === 1;
        }, 'one client on each loop');
        const batch = [];
        for (let i = 0; i < 1000; i++) batch.push({ channel: 'q', data: i });
        const ids = await publishOk(srv, batch);
        assert.deepEqual((await a.events(1000)).map((e) => e.id), ids);
        const got = [];
        for (;;) {
            const m = await b.next().catch(() => null);
            if (m === null) break;
            got.push(m.id);
        }
        const info = await b.closed;
        assert.equal(info.code ?? info, 1013);
        assert.ok(got.length < 1000, `loop 1 lost events (${got.length} delivered)`);
        assert.deepEqual(got, ids.slice(0, got.length), 'before the gap: in order, no gap');
        assert.ok(metricSum(await metrics(srv), /^herald_notifier_loop_overflows_total$/) >= 1);
        const since = got.length > 0 ? got[got.length - 1] : ids[0];
        await welcomed(srv, { channels: 'q' }); // loop 0
        const [r, s] = await welcomed(srv, { channels: 'q', since }); // loop 1
        assert.equal(s.recovered, false);
        await waitFor(async () => (await perLoop(srv))['1'] === 1, 'the resumer on loop 1');
        r.close();
    });
});
