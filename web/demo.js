// The live demo page: one herald.js client, a feed of events on a few
// channels, counters, a publish form and a demo "sign in" that mints a token
// in the page (demo only: real apps get tokens from their login service).
//
// Query parameters (all optional):
//   ws=<url>        WebSocket endpoint            [same origin /ws]
//   channels=a,b    channels shown at start       [orders,alerts,inventory]
//   user=<name>     sign in at start
//   secret=<s>      demo JWT secret               [herald-demo-secret]
//   ttl=<s>         demo token lifetime, seconds  [3600]
//
// Behind `make run` the gateway's script (config/transforms/demo.lua) shapes
// events per view and says which in data.view; the page shows it.

import { Herald, isValidChannel } from './herald.js';

const params = new URLSearchParams(location.search);
const WS_URL = params.get('ws') || '/ws';
const DEMO_SECRET = params.get('secret') || 'herald-demo-secret';
const TOKEN_TTL_S = Math.max(1, Number(params.get('ttl')) || 3600);
const START_CHANNELS = (params.get('channels') || 'orders,alerts,inventory')
  .split(',').filter(isValidChannel);
const FEED_MAX = 150;
const INBOX_MAX = 30;

const $ = (id) => document.getElementById(id);
const state = {
  token: null,
  user: null,
  total: 0,
  seq: 0,
  paused: false,
  reconnects: 0,
  arrivals: [], // timestamps (ms) of recent events, for events/s
  latencies: [], // last latencies (ms)
  counts: new Map(), // channel -> delivered
  offs: new Map(), // channel -> unsubscribe function
  view: null, // the view named by the latest event (data.view), if any
};

// A fresh token for every (re)connect and before the old one expires, as a
// login service would hand out (herald.js refreshes in-band with it).
const herald = new Herald(WS_URL, {
  token: async ({ reason }) => (state.user && reason !== 'connect'
    ? (state.token = await mintDemoToken(state.user)) : state.token),
  autoConnect: false,
});
window.heraldDemo = { herald, state };

// ---- connection status -------------------------------------------------------

let countdown = null;

function showStatus(kind, text) {
  $('status').className = `status status-${kind}`;
  $('status-text').textContent = text;
}

function renderState(s) {
  clearInterval(countdown);
  countdown = null;
  switch (s.state) {
    case 'connecting':
      showStatus('connecting', 'Connecting…');
      break;
    case 'open':
      showStatus('open', herald.user ? `Live · ${herald.user}` : 'Live');
      $('conn-id').textContent = herald.connectionId ?? '–';
      break;
    case 'reconnecting':
      if (s.prev === 'open') state.reconnects += 1; // one per lost connection, not per attempt
      $('stat-reconnects').textContent = String(state.reconnects);
      tickCountdown(s);
      countdown = setInterval(() => tickCountdown(s), 100);
      break;
    case 'offline':
      showStatus('offline', 'Offline · waiting for the network');
      break;
    case 'closed':
      showStatus('closed', s.reason === 'auth' ? 'Token refused · sign in again' : 'Disconnected');
      break;
    default:
      break;
  }
}

function tickCountdown(s) {
  const left = Math.max(0, (s.retryAt ?? 0) - Date.now());
  const why = s.code ? ` (close ${s.code})` : '';
  showStatus('reconnecting', left < 100 ? `Reconnecting…${why}` :
    `Reconnecting in ${(left / 1000).toFixed(1)} s${why}`);
}

herald.on('state', renderState);
herald.on('gap', (g) => {
  banner(`History no longer reaches back for ${g.channels.join(', ')}: some events were missed.`);
});
// A channel the server refuses for good (forbidden, bad name, too many) is
// dropped by herald.js: switch it off here too and say why, in the server's
// words (they name the channel and the rule).
herald.on('error', (e) => {
  for (const ch of e.dropped ?? []) {
    state.offs.delete(ch);
    const box = document.querySelector(`[data-channel-row="${CSS.escape(ch)}"] input`);
    if (box) box.checked = false;
  }
  if (e.dropped?.length) banner(`Subscribe refused · ${e.dropped.join(', ')}: ${e.message || e.code}`);
});

function banner(text) {
  const b = $('banner');
  b.textContent = text;
  b.hidden = false;
  clearTimeout(banner.timer);
  banner.timer = setTimeout(() => { b.hidden = true; }, 8000);
}

// ---- channels ----------------------------------------------------------------

function addChannelRow(channel, on) {
  if (document.querySelector(`[data-channel-row="${CSS.escape(channel)}"]`)) return;
  const li = document.createElement('li');
  li.dataset.channelRow = channel;
  li.innerHTML = `<label class="switch"><input type="checkbox"><span class="track"></span></label>
    <span class="chip"></span><span class="count">0</span>`;
  li.querySelector('.chip').textContent = channel;
  li.querySelector('.chip').style.setProperty('--hue', hueOf(channel));
  const box = li.querySelector('input');
  box.checked = on;
  box.setAttribute('aria-label', `Subscribe to ${channel}`);
  box.addEventListener('change', () => (box.checked ? subscribe(channel) : unsubscribe(channel)));
  $('channels').append(li);
  const opt = document.createElement('option');
  opt.value = channel;
  $('publish-channels').append(opt);
  if (on) subscribe(channel);
}

function subscribe(channel) {
  if (state.offs.has(channel)) return;
  state.offs.set(channel, herald.subscribe(channel, onEvent));
  const box = document.querySelector(`[data-channel-row="${CSS.escape(channel)}"] input`);
  if (box) box.checked = true;
}

function unsubscribe(channel) {
  state.offs.get(channel)?.();
  state.offs.delete(channel);
  const box = document.querySelector(`[data-channel-row="${CSS.escape(channel)}"] input`);
  if (box) box.checked = false;
}

function hueOf(channel) {
  const fixed = { orders: 225, alerts: 350, inventory: 160 };
  if (channel in fixed) return fixed[channel];
  if (channel.startsWith('user:')) return 275;
  let h = 0;
  for (const c of channel) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

$('add-channel').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('add-channel-name').value.trim();
  if (!isValidChannel(name)) {
    banner(`"${name}" is not a channel name: use letters, digits and _ . : @ -`);
    return;
  }
  addChannelRow(name, true);
  $('add-channel-name').value = '';
});

// ---- events ------------------------------------------------------------------

function onEvent(data, ev) {
  state.total += 1;
  const now = Date.now();
  state.arrivals.push(now);
  const latency = typeof data?.ts === 'number' ? Math.max(0, now - data.ts) : null;
  if (latency !== null) {
    state.latencies.push(latency);
    if (state.latencies.length > 200) state.latencies.shift();
  }
  if (typeof data?.view === 'string') showView(data.view);
  state.counts.set(ev.channel, (state.counts.get(ev.channel) ?? 0) + 1);
  const countEl = document.querySelector(`[data-channel-row="${CSS.escape(ev.channel)}"] .count`);
  if (countEl) countEl.textContent = String(state.counts.get(ev.channel));
  $('stat-total').textContent = state.total.toLocaleString('en');
  $('stat-last').textContent = ev.id;
  if (ev.channel.startsWith('user:')) addToInbox(data, ev);
  addToFeed(data, ev, latency);
}

// The view the gateway's script shaped this connection's events for.
function showView(view) {
  state.view = view;
  $('view').textContent = `You see the ${view} view`;
}

function addToFeed(data, ev, latency) {
  const li = document.createElement('li');
  li.className = 'event';
  li.dataset.channel = ev.channel;
  li.dataset.id = ev.id;
  li.dataset.seq = String(++state.seq);
  const time = new Date(typeof data?.ts === 'number' ? data.ts : Date.now());
  li.innerHTML = `<time></time><span class="chip"></span><span class="summary"></span>
    <span class="meta"><span class="lat"></span><span class="eid mono"></span></span>`;
  li.querySelector('time').textContent = time.toLocaleTimeString('en-GB');
  const chip = li.querySelector('.chip');
  chip.textContent = ev.channel;
  chip.style.setProperty('--hue', hueOf(ev.channel));
  li.querySelector('.summary').append(...summarize(ev.channel, data));
  li.querySelector('.lat').textContent = latency === null ? '' : `${latency} ms`;
  const eid = li.querySelector('.eid');
  eid.textContent = ev.id.length > 10 ? `#…${ev.id.slice(-8)}` : `#${ev.id}`;
  eid.title = ev.id;
  if (data?.severity === 'critical') li.classList.add('event-critical');
  if (!state.paused) {
    const feed = $('feed');
    feed.prepend(li);
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
    $('feed-empty').hidden = true;
  }
}

function text(s, cls) {
  const span = document.createElement('span');
  if (cls) span.className = cls;
  span.textContent = s;
  return span;
}

function money(v, cur) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: cur || 'EUR' }).format(v);
  } catch {
    return `${v} ${cur ?? ''}`;
  }
}

// One readable line per event; unknown shapes fall back to their text or JSON.
function summarize(channel, d) {
  if (d && typeof d === 'object') {
    if (channel === 'orders' && d.order) {
      return [text(d.status ?? 'order', `pill pill-${d.status ?? 'new'}`),
        text(money(d.total, d.currency), 'strong'),
        text(` · ${d.order} · ${d.customer ?? (d.view === 'anonymous' ? 'customer hidden' : '')}`),
        text(` · ${d.items ?? 1} item${d.items === 1 ? '' : 's'}${d.city ? `, ${d.city}` : ''}`, 'muted')];
    }
    if (channel === 'alerts' && d.message && d.service) {
      return [text(d.severity ?? 'info', `pill pill-${d.severity ?? 'info'}`),
        text(`${d.service}: `, 'strong'), text(d.message)];
    }
    if (channel === 'inventory' && d.sku) {
      const low = typeof d.stock === 'number' && d.stock < 10;
      return [text(low ? 'low stock' : 'restock', `pill ${low ? 'pill-warning' : 'pill-paid'}`),
        text(`${d.name ?? d.sku} `), text(`(${d.sku})`, 'muted mono'),
        text(` · ${d.stock} left in ${d.warehouse ?? '?'}`)];
    }
    if (d.title || d.text) {
      return [text(d.title ?? d.text, 'strong'), text(d.body ? ` · ${d.body}` : '', 'muted'),
        text(d.from ? ` · from ${d.from}` : '', 'muted')];
    }
  }
  const s = typeof d === 'string' ? d : JSON.stringify(d);
  return [text(s.length > 160 ? `${s.slice(0, 160)}…` : s, 'mono')];
}

function addToInbox(data, ev) {
  const li = document.createElement('li');
  li.dataset.id = ev.id;
  const title = data?.title ?? data?.text ?? (typeof data === 'string' ? data : 'Notification');
  li.append(text(title, 'strong'));
  if (data?.body) li.append(text(data.body, 'muted block'));
  const when = new Date(typeof data?.ts === 'number' ? data.ts : Date.now());
  li.append(text(when.toLocaleTimeString('en-GB'), 'muted small block'));
  const inbox = $('inbox');
  inbox.prepend(li);
  while (inbox.children.length > INBOX_MAX) inbox.lastElementChild.remove();
}

$('pause').addEventListener('click', () => {
  state.paused = !state.paused;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
});

// ---- counters ----------------------------------------------------------------

function median(values) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

setInterval(() => {
  const now = Date.now();
  while (state.arrivals.length && state.arrivals[0] < now - 5000) state.arrivals.shift();
  $('stat-rate').textContent = (state.arrivals.length / 5).toFixed(1);
  const p50 = median(state.latencies.slice(-50));
  $('stat-latency').textContent = p50 === null ? '–' : `${p50} ms`;
  const shown = $('feed').children.length;
  $('feed-count').textContent = shown ? `${shown} shown${state.paused ? ' · paused' : ''}` : '';
}, 500);

// ---- demo sign-in: HS256 token minted in the page ------------------------------

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function hmacSha256(keyText, msgText) {
  const enc = new TextEncoder();
  if (globalThis.crypto?.subtle) {
    const key = await crypto.subtle.importKey('raw', enc.encode(keyText),
      { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign('HMAC', key, enc.encode(msgText)));
  }
  const { hmacSha256Fallback } = await import('./sha256.js');
  return hmacSha256Fallback(enc.encode(keyText), enc.encode(msgText));
}

async function mintDemoToken(user) {
  const enc = new TextEncoder();
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(enc.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
  // publish: the form publishes over the WebSocket (client publish). A real
  // login service grants exact channels; the demo, whose secret is public
  // anyway, lets a signed-in user publish anywhere.
  const claims = { sub: user, iat: now, exp: now + TOKEN_TTL_S, publish: ['*'] };
  const body = b64url(enc.encode(JSON.stringify(claims)));
  const sig = b64url(await hmacSha256(DEMO_SECRET, `${head}.${body}`));
  return `${head}.${body}.${sig}`;
}

async function signIn(user) {
  state.token = await mintDemoToken(user);
  state.user = user;
  sessionStorage.setItem('herald-demo-user', user);
  $('who-user').textContent = user;
  $('who-channel').textContent = `user:${user}`;
  $('signed-out').hidden = true;
  $('signed-in').hidden = false;
  $('inbox-hint').textContent = `Notifications published to user:${user} appear here.`;
  addChannelRow(`user:${user}`, true);
  reconnectWithNewIdentity();
}

function signOut() {
  const ch = `user:${state.user}`;
  unsubscribe(ch);
  document.querySelector(`[data-channel-row="${CSS.escape(ch)}"]`)?.remove();
  state.token = null;
  state.user = null;
  sessionStorage.removeItem('herald-demo-user');
  $('signed-out').hidden = false;
  $('signed-in').hidden = true;
  $('inbox-hint').textContent = 'Sign in to receive notifications on your private channel.';
  reconnectWithNewIdentity();
}

// The identity is fixed per connection: reconnect. Subscriptions and the
// resume cursor live in the client, so nothing is lost on the way.
function reconnectWithNewIdentity() {
  if (herald.state === 'idle') return; // not started yet: the first connect uses the token
  state.view = null;
  $('view').textContent = 'View –'; // until the first event of the new connection says
  herald.close();
  herald.connect();
}

$('signin').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = $('signin-user').value.trim();
  if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(user)) {
    banner('User names use letters, digits and _ . @ -');
    return;
  }
  signIn(user).catch((e) => banner(`Sign-in failed: ${e.message}`));
});
$('signout').addEventListener('click', signOut);

// ---- publish form ------------------------------------------------------------

$('publish').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const channel = $('publish-channel').value.trim();
  const result = $('publish-result');
  if (!isValidChannel(channel)) {
    result.textContent = 'Not a valid channel name.';
    return;
  }
  const data = { text: $('publish-text').value, from: state.user ?? 'anonymous', ts: Date.now() };
  try {
    // Client publish over the page's own connection: the token's `publish`
    // claim decides; anonymous connections never may.
    result.textContent = `Published as #${await herald.publish(channel, data)}`;
  } catch (e) {
    result.textContent = e.code === 'forbidden' && !state.user
      ? 'Refused: sign in to publish' : `Refused: ${e.code ?? ''} ${e.message}`;
  }
});

// ---- start -------------------------------------------------------------------

$('conn-url').textContent = herald.url;
for (const ch of START_CHANNELS) addChannelRow(ch, true);
const startUser = params.get('user') || sessionStorage.getItem('herald-demo-user');
const signedIn = startUser && /^[A-Za-z0-9_.@-]{1,64}$/.test(startUser)
  ? signIn(startUser).catch((e) => banner(`Sign-in failed: ${e.message}`)) : Promise.resolve();
signedIn.finally(() => herald.connect());
