#!/usr/bin/env node
// Demo event source for `make run`: publishes a realistic stream to the
// notifier's POST /publish so the demo page is alive the moment it opens.
//
//   orders     2-3 per second: created -> paid -> shipped, now and then cancelled
//   inventory  about 1 per second: stock levels per warehouse, low-stock warnings
//   alerts     every few seconds: service alerts with a severity
//   user:<id>  every ~6 s: a personal notification for the demo user(s)
//
// Every event carries `ts` (epoch ms) so the page can show delivery latency.
// No dependencies (node >= 18: global fetch).
//
// With --form-listen ADDR:PORT it also answers the demo page's publish form
// the way an application's backend would: config/gateway.yaml routes
// /api/publish here with `auth: required`, so only signed-in users arrive,
// with the identity the gateway verified in X-Herald-User. It publishes
// for them to any channel but another user's user:<id>. The notifier's own
// /publish is never reachable from the public listener.
//
// Usage: node scripts/demo-source.mjs [--url http://127.0.0.1:7070] [--api-key KEY]
//          [--rate 1.0] [--users demo] [--count N] [--quiet] [--form-listen 127.0.0.1:7072]
// Environment: HERALD_DEMO_URL, HERALD_API_KEY, HERALD_DEMO_RATE, HERALD_DEMO_USERS.

const args = parseArgs(process.argv.slice(2));
const BASE = (args.url || process.env.HERALD_DEMO_URL || 'http://127.0.0.1:7070').replace(/\/$/, '');
const API_KEY = args['api-key'] || process.env.HERALD_API_KEY || '';
const RATE = Number(args.rate || process.env.HERALD_DEMO_RATE || 1) || 1;
const USERS = (args.users || process.env.HERALD_DEMO_USERS || 'demo').split(',').filter(Boolean);
const LIMIT = args.count ? Number(args.count) : Infinity;
const QUIET = 'quiet' in args;

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log('usage: demo-source.mjs [--url URL] [--api-key KEY] [--rate X] [--users a,b] [--count N] [--quiet] [--form-listen ADDR:PORT]');
      process.exit(0);
    }
    if (!a.startsWith('--')) continue;
    const [k, v] = a.slice(2).split('=', 2);
    if (v !== undefined) out[k] = v;
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) out[k] = argv[++i];
    else out[k] = '';
  }
  return out;
}

// ---- realistic data -------------------------------------------------------

const CUSTOMERS = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Katherine Johnson', 'Linus Torvalds',
  'Margaret Hamilton', 'Dennis Ritchie', 'Barbara Liskov', 'Ken Thompson', 'Radia Perlman',
  'Edsger Dijkstra', 'Frances Allen', 'Tim Berners-Lee', 'Hedy Lamarr', 'John McCarthy'];
const CITIES = ['Lyon', 'Berlin', 'Porto', 'Gdańsk', 'Utrecht', 'Milan', 'Vienna', 'Dublin',
  'Ghent', 'Tallinn', 'Valencia', 'Zürich'];
const PRODUCTS = [
  ['SKU-1042', 'Espresso grinder'], ['SKU-2210', 'Pour-over kettle'], ['SKU-3307', 'Ceramic dripper'],
  ['SKU-4419', 'Paper filters (100)'], ['SKU-5521', 'Milk frother'], ['SKU-6630', 'Travel mug'],
  ['SKU-7741', 'Single-origin beans 1 kg'], ['SKU-8853', 'Digital scale'],
];
const WAREHOUSES = ['AMS-1', 'FRA-2', 'MAD-1', 'WAW-1'];
const ALERTS = [
  ['warning', 'payments-api', 'p99 latency above 800 ms for 5 minutes'],
  ['info', 'checkout', 'deploy 2024.11.3 finished on 6 of 6 instances'],
  ['critical', 'orders-db', 'replica lag 42 s on orders-db-2'],
  ['warning', 'search', 'error rate 2.4 % (threshold 2 %)'],
  ['info', 'cdn', 'cache hit ratio back to 97 %'],
  ['warning', 'shipping-sync', 'carrier API answering 503, retrying'],
  ['info', 'auth', 'signing key rotated'],
  ['critical', 'warehouse-ams', 'label printer offline at AMS-1'],
];
const NOTES = [
  (o) => ({ title: `Your order ${o} has shipped`, body: 'Track it from your account page.' }),
  (o) => ({ title: `Payment received for ${o}`, body: 'Thanks! A receipt is on its way.' }),
  () => ({ title: 'Price drop on your wishlist', body: 'Pour-over kettle is now 15 % off.' }),
  () => ({ title: 'New sign-in from Firefox on Linux', body: 'If this was not you, reset your password.' }),
  () => ({ title: 'Your weekly summary is ready', body: '12 orders, 3 returns, 4.8 average rating.' }),
];

const pick = (list) => list[Math.floor(Math.random() * list.length)];
const between = (lo, hi) => lo + Math.random() * (hi - lo);

let orderNo = 10400 + Math.floor(Math.random() * 500);
const open = []; // orders moving through their life cycle

function nextOrderEvent() {
  if (open.length > 0 && Math.random() < 0.6) {
    const o = open[0];
    o.status = o.status === 'created' ? (Math.random() < 0.07 ? 'cancelled' : 'paid') : 'shipped';
    if (o.status !== 'paid') open.shift();
    return { ...o, ts: Date.now() };
  }
  const items = 1 + Math.floor(Math.random() * 4);
  const o = {
    order: `ORD-${++orderNo}`, status: 'created', customer: pick(CUSTOMERS), city: pick(CITIES),
    items, total: Math.round(items * between(9, 120) * 100) / 100, currency: 'EUR',
  };
  open.push(o);
  if (open.length > 20) open.shift();
  return { ...o, ts: Date.now() };
}

function nextInventoryEvent() {
  const [sku, name] = pick(PRODUCTS);
  const stock = Math.random() < 0.25 ? Math.floor(between(0, 10)) : Math.floor(between(10, 400));
  return { sku, name, stock, warehouse: pick(WAREHOUSES), ts: Date.now() };
}

function nextAlert() {
  const [severity, service, message] = pick(ALERTS);
  return { severity, service, message, ts: Date.now() };
}

let noteNo = Math.floor(Math.random() * NOTES.length);

function nextNote() {
  const recent = open.length ? open[open.length - 1].order : `ORD-${orderNo}`;
  noteNo = (noteNo + 1) % NOTES.length; // in turn: a feed of one repeated note looks broken
  return { ...NOTES[noteNo](recent), ts: Date.now() };
}

// ---- publishing -------------------------------------------------------------

let sent = 0;
let failing = false;

async function publish(channel, data) {
  const headers = { 'content-type': 'application/json' };
  if (API_KEY) headers.authorization = `Bearer ${API_KEY}`;
  try {
    const res = await fetch(`${BASE}/publish`, {
      method: 'POST', headers, body: JSON.stringify({ channel, data }),
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    if (failing && !QUIET) console.error(`demo-source: publishing again to ${BASE}`);
    failing = false;
    sent += 1;
    if (sent >= LIMIT) process.exit(0);
  } catch (err) {
    // One line per outage, not per event: the notifier may be restarting.
    if (!failing && !QUIET) console.error(`demo-source: publish to ${BASE} failed (${err.message}); retrying`);
    failing = true;
  }
}

function every(minMs, maxMs, fn) {
  const tick = async () => {
    await fn();
    setTimeout(tick, between(minMs, maxMs) / RATE);
  };
  setTimeout(tick, between(0, minMs) / RATE);
}

every(250, 550, () => publish('orders', nextOrderEvent()));
every(700, 1400, () => publish('inventory', nextInventoryEvent()));
every(2500, 6000, () => publish('alerts', nextAlert()));
every(4000, 8000, () => Promise.all(USERS.map((u) => publish(`user:${u}`, nextNote()))));

// ---- the page's publish form ---------------------------------------------------

const FORM_MAX_BYTES = 65536;

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function onFormRequest(req, res) {
  if (req.method === 'GET' && req.url === '/healthz') return reply(res, 200, { ok: true });
  if (req.method !== 'POST' || !/^\/(api\/)?publish(\?|$)/.test(req.url)) return reply(res, 404, { error: 'not found' });
  const user = req.headers['x-herald-user'];
  if (!user) return reply(res, 401, { error: 'sign in to publish' });
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > FORM_MAX_BYTES) return reply(res, 413, { error: 'body too large' });
    chunks.push(c);
  }
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return reply(res, 400, { error: 'body is not JSON' });
  }
  const channel = body && typeof body.channel === 'string' ? body.channel : '';
  if (channel.startsWith('user:') && channel !== `user:${user}`) {
    return reply(res, 403, { error: `${user} may not publish to ${channel}` });
  }
  const headers = { 'content-type': 'application/json' };
  if (API_KEY) headers.authorization = `Bearer ${API_KEY}`;
  try {
    const up = await fetch(`${BASE}/publish`, {
      method: 'POST', headers, body: JSON.stringify({ channel, data: body.data ?? null }),
      signal: AbortSignal.timeout(5000),
    });
    res.writeHead(up.status, { 'content-type': 'application/json' });
    res.end(Buffer.from(await up.arrayBuffer()));
  } catch (err) {
    reply(res, 503, { error: `notifier unreachable (${err.message})` });
  }
}

if (args['form-listen']) {
  const { createServer } = await import('node:http');
  const m = /^(.*):(\d+)$/.exec(args['form-listen']);
  if (!m) {
    console.error('demo-source: --form-listen takes ADDR:PORT');
    process.exit(2);
  }
  const server = createServer((req, res) => {
    onFormRequest(req, res).catch(() => reply(res, 500, { error: 'internal error' }));
  });
  server.on('error', (err) => {
    console.error(`demo-source: --form-listen ${args['form-listen']}: ${err.message}`);
    process.exit(1);
  });
  server.listen(Number(m[2]), m[1].replace(/^\[|\]$/g, ''));
}

if (!QUIET) console.error(`demo-source: publishing to ${BASE}/publish (rate x${RATE}, users ${USERS.join(',')})`);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
