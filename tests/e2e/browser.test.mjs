// The demo page in a real browser: Debian's chromium driven by playwright-core.
//
//   chromium ──ws /ws──▶ herald-gateway ──▶ herald-notifier ◀── redis stream ◀── XADD (test)
//            ──GET /────▶   (static web/)        ▲
//            (the publish form: client publish over the same WebSocket)
//
// The page must connect through the gateway, show published events, switch
// off a channel the server refuses (and say why), survive the notifier being
// killed and restarted (status shows reconnecting with the close code the
// gateway gave, 1012, not the failed retries' 1006; the events published
// meanwhile, straight into the Redis stream, then appear exactly once and in
// order), say which view of the events the gateway's script gives it
// (config/transforms/demo.lua: signed-in or anonymous, customers hidden from
// the latter), and a screenshot lands in build/.
// The redis broker is used because it is what makes "published meanwhile"
// possible: with the notifier down, services still write to the stream, and
// the restarted notifier warms its history from it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { chromium } from 'playwright-core';
import {
    test, startNotifier, spawnServer, publishOk, freePort, waitFor, tmpFile, BIN, DEADLINE_MS, gatewayUp,
} from './lib/harness.mjs';
import { startRedis } from './lib/servers.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const WEB = path.join(ROOT, 'web');
const SHOT = path.join(ROOT, 'build', 'browser-demo.png');
const SECRET = 'herald-browser-test-secret';
const CHROMIUM = process.env.HERALD_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'];
const WAIT = DEADLINE_MS * 3; // reconnects go through backoff and health checks

const cleanups = [];
after(async () => {
    for (const fn of cleanups.reverse()) await fn();
});

/* ---- gateway with a generated config ---- */

async function startGateway(notifierPort) {
    const port = await freePort();
    const admin = await freePort();
    const cfg = tmpFile('gateway.yaml', `listen: 127.0.0.1:${port}
admin_listen: 127.0.0.1:${admin}
auth:
  jwt: {algorithms: [HS256], secret: "${SECRET}"}
upstreams:
  notifier:
    servers: [127.0.0.1:${notifierPort}]
    health_check: {path: /healthz, interval_ms: 200, rise: 1, fall: 1}
routes:
  - {path: /ws, upstream: notifier, websocket: true, auth: optional,
     script: "${path.join(ROOT, 'config', 'transforms', 'demo.lua')}"}
  - {path: /api/, upstream: notifier, strip_prefix: true}
  - {path: /, static: "${WEB}/"}
`);
    const gw = spawnServer('herald-gateway', ['--config', cfg], {}, port);
    gw.base = `http://127.0.0.1:${port}`;
    gw.admin = `http://127.0.0.1:${admin}`;
    // Every worker listening (gatewayUp), not only worker 0's /healthz: until then
    // which worker a client meets depends on start-up timing.
    return gatewayUp(gw);
}

/* ---- the page ---- */

async function openPage(url) {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    cleanups.push(() => browser.close().catch(() => {}));
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(url);
    return { context, page, problems };
}

/** The "e2e <n>" label of every event of channel that the feed shows, in arrival order. */
function feedNumbers(page, channel) {
    return page.$$eval(`#feed li[data-channel="${channel}"]`, (rows) => rows
        .map((r) => ({ seq: Number(r.dataset.seq), text: r.querySelector('.summary').textContent }))
        .sort((a, b) => a.seq - b.seq)
        .map((r) => (/e2e \d+/.exec(r.text) ?? [r.text])[0]));
}

function statusClass(page) {
    return page.$eval('#status', (el) => el.className);
}

function startDemoSource(notifier) {
    const proc = spawn(process.execPath, [path.join(ROOT, 'scripts', 'demo-source.mjs'),
        '--url', notifier.base, '--rate', '0.5', '--quiet'], { stdio: 'ignore' });
    cleanups.push(() => proc.kill('SIGKILL'));
    return proc;
}

test('demo page: live events through the gateway, survives a notifier restart', { timeout: 180000 },
    async () => {
        assert.ok(fs.existsSync(path.join(BIN, 'herald-gateway')), `no herald-gateway in ${BIN}`);
        const redis = await startRedis();
        cleanups.push(() => redis.stop());
        const service = await redis.client(); // publishes like a service would: XADD
        cleanups.push(() => service.close());
        const notifierArgs = ['--broker', redis.url(), '--jwt-secret', SECRET,
            '--trusted-proxy', '127.0.0.1/32'];
        const notifier = await startNotifier(notifierArgs);
        const gw = await startGateway(notifier.port);
        startDemoSource(notifier);

        const { context, page, problems } = await openPage(
            `${gw.base}/?channels=orders,alerts,inventory&user=demo&secret=${SECRET}`);
        await page.waitForSelector('#status.status-open', { timeout: WAIT });

        // Subscribe through the UI to a channel of our own.
        await page.fill('#add-channel-name', 'e2e');
        await page.click('#add-channel button');
        await page.waitForFunction(() => window.heraldDemo.herald.requested.has('e2e'),
            null, { timeout: WAIT });
        await waitFor(() => page.evaluate(() => window.heraldDemo.herald.pendingRefs.size === 0),
            'subscribe acknowledged', WAIT);

        // Another user's channel: refused by the notifier; the page switches it
        // off and shows the server's reason.
        await page.evaluate(() => {
            window.refusals = 0;
            window.heraldDemo.herald.on('error', (e) => { window.refusals += e.dropped?.length ?? 0; });
        });
        await page.fill('#add-channel-name', 'user:mallory');
        await page.click('#add-channel button');
        const mallory = '[data-channel-row="user:mallory"] input';
        await page.waitForSelector(`${mallory}:not(:checked)`, { timeout: WAIT });
        await page.waitForSelector('#banner:not([hidden])', { timeout: WAIT });
        assert.match(await page.textContent('#banner'), /Subscribe refused · user:mallory: .*user:mallory/);
        assert.equal(await page.evaluate(() => window.heraldDemo.herald.channels().includes('user:mallory')),
            false);
        assert.equal(await page.evaluate(() => window.heraldDemo.state.offs.has('user:mallory')), false);
        // Switched on again by hand: asked again, refused again, off again
        // (the refusal may come back before the click returns: count it).
        assert.equal(await page.evaluate(() => window.refusals), 1);
        await page.evaluate(() => { document.getElementById('banner').hidden = true; });
        await page.click(mallory);
        await page.waitForFunction(() => window.refusals === 2, null, { timeout: WAIT });
        await page.waitForSelector(`${mallory}:not(:checked)`, { timeout: WAIT });
        await page.waitForSelector('#banner:not([hidden])', { timeout: WAIT });

        // 1-2 published by a service, 3 through the page's form (client publish).
        await publishOk(notifier, { channel: 'e2e', data: { text: 'e2e 1' } });
        await publishOk(notifier, { channel: 'e2e', data: { text: 'e2e 2' } });
        await page.fill('#publish-channel', 'e2e');
        await page.fill('#publish-text', 'e2e 3');
        await page.click('#publish button[type=submit]');
        await waitFor(async () => (await feedNumbers(page, 'e2e')).length === 3, 'three events', WAIT);
        assert.match(await page.textContent('#publish-result'), /Published as #/);
        await waitFor(async () => (await page.$$('#feed li[data-channel="orders"]')).length > 0,
            'demo source orders on the page', WAIT);
        await waitFor(async () => (await page.$$('#inbox li')).length > 0, 'a user:demo note', WAIT);
        assert.equal(await page.textContent('#view'), 'You see the signed-in view');
        assert.doesNotMatch(await page.textContent('#feed'), /customer hidden/);

        // Kill the notifier: the page must say it is reconnecting, with the
        // close code the gateway gave (1012) through every failed retry.
        await page.evaluate(() => {
            window.seenStates = [];
            window.heraldDemo.herald.on('state', (s) => window.seenStates.push({
                state: s.state, code: s.code, failedCode: s.failedCode,
                text: document.getElementById('status-text').textContent,
            }));
        });
        await notifier.stop('SIGKILL');
        // Killed on purpose: not the "ignored SIGTERM" the harness reports.
        notifier.exitInfo = { ...notifier.exitInfo, signal: 'SIGKILL (by the test)' };
        await waitFor(async () => /status-reconnecting/.test(await statusClass(page)),
            'status: reconnecting', WAIT);
        for (let n = 4; n <= 8; n++) await service.xadd('e2e', { text: `e2e ${n}` });

        // At least one retry failed while the notifier was down.
        await waitFor(() => page.evaluate(() => window.seenStates.some((s) => s.failedCode !== undefined)),
            'a failed retry', WAIT);

        // Restart it on the same port: the page resumes from its last id.
        const again = await startNotifier(notifierArgs, { port: notifier.port });
        await page.waitForSelector('#status.status-open', { timeout: WAIT });
        const waits = (await page.evaluate(() => window.seenStates)).filter((s) => s.state === 'reconnecting');
        assert.ok(waits.length >= 2, JSON.stringify(waits));
        for (const w of waits) {
            assert.equal(w.code, 1012, JSON.stringify(w));
            assert.match(w.text, /close 1012/);
        }
        await publishOk(again, { channel: 'e2e', data: { text: 'e2e 9' } });
        await waitFor(async () => (await feedNumbers(page, 'e2e')).length >= 9, 'events 1..9', WAIT);
        await page.waitForTimeout(500); // a duplicate would show up now
        const want = Array.from({ length: 9 }, (_, i) => `e2e ${i + 1}`);
        assert.deepEqual(await feedNumbers(page, 'e2e'), want);
        assert.ok(Number(await page.textContent('#stat-reconnects')) >= 1);

        // The browser goes offline: the client waits for `online`, then resumes.
        await context.setOffline(true);
        await page.waitForSelector('#status.status-offline', { timeout: WAIT });
        await publishOk(again, { channel: 'e2e', data: { text: 'e2e 10' } });
        await context.setOffline(false);
        await page.waitForSelector('#status.status-open', { timeout: WAIT });
        await waitFor(async () => (await feedNumbers(page, 'e2e')).length >= 10, 'event 10', WAIT);
        await page.waitForTimeout(500);
        assert.deepEqual(await feedNumbers(page, 'e2e'), [...want, 'e2e 10']);

        // An anonymous page: the script's other view, without customers.
        const anon = await context.newPage();
        await anon.goto(`${gw.base}/?channels=orders&secret=${SECRET}`);
        await anon.waitForSelector('#feed li[data-channel="orders"]', { timeout: WAIT });
        assert.equal(await anon.textContent('#view'), 'You see the anonymous view');
        assert.match(await anon.textContent('#feed li[data-channel="orders"]'), /customer hidden/);
        await anon.close();

        // A token the gateway refuses: the page says so and stops retrying.
        const bad = await context.newPage();
        await bad.goto(`${gw.base}/?user=mallory&secret=not-the-secret`);
        await bad.waitForSelector('#status.status-closed', { timeout: WAIT });
        assert.match(await bad.textContent('#status-text'), /Token refused/);
        await bad.close();

        // Let the feed fill up with live traffic, then keep a picture.
        await page.waitForTimeout(3000);
        fs.mkdirSync(path.dirname(SHOT), { recursive: true });
        await page.screenshot({ path: SHOT });
        assert.deepEqual(problems, []);
    });

test('demo page: herald.js refreshes a short-lived token in-band and stays connected', { timeout: 120000 },
    async () => {
        const notifier = await startNotifier(['--jwt-secret', SECRET, '--trusted-proxy', '127.0.0.1/32']);
        const gw = await startGateway(notifier.port);
        // 4-second tokens: the server sends `expiring` half-way, the page's
        // token() mints a new one, the gateway verifies it and hands the
        // notifier the new identity.
        const { page, problems } = await openPage(
            `${gw.base}/?channels=e2e&user=demo&secret=${SECRET}&ttl=4`);
        await page.waitForSelector('#status.status-open', { timeout: WAIT });
        await page.evaluate(() => {
            window.life = { expiring: 0, refreshed: 0, disconnects: 0 };
            const h = window.heraldDemo.herald;
            h.on('expiring', () => { window.life.expiring++; });
            h.on('refreshed', () => { window.life.refreshed++; });
            h.on('disconnect', () => { window.life.disconnects++; });
        });
        // The second notice is sent no earlier than the first token's exp:
        // a connection that had not refreshed would have been closed by then.
        await page.waitForFunction(() => window.life.refreshed >= 2, null, { timeout: WAIT });
        assert.equal(await page.evaluate(() => window.life.disconnects), 0);
        await publishOk(notifier, { channel: 'e2e', data: { text: 'e2e 1' } });
        await waitFor(async () => (await feedNumbers(page, 'e2e')).length === 1, 'the event', WAIT);
        assert.deepEqual(problems, []);
    });
