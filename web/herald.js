// herald.js: the browser (and node) client for Herald's WebSocket protocol.
//
// One Herald object keeps one WebSocket to the notifier (usually through the
// gateway) and hides the unreliable parts of the network from the app:
//
//   connecting ──welcome──▶ open ──close──▶ reconnecting ──timer──▶ connecting
//        ▲                                      │   ▲
//        └──────────── online ◀── offline ◀─────┘   └─ 1001/1012: no wait
//                                                      1013 and others: backoff
//   any state ──close() or auth failure──▶ closed
//
// - subscriptions live in the client: after every (re)connect it subscribes
//   again to every channel with `since` = the last event id it saw, so the
//   server replays what was missed; `recovered:false` is reported to the app;
// - reconnect delays grow exponentially with full jitter, capped at 3 s by
//   default, so during a restart storm the clients spread out but none waits
//   long once the server is back; a server shutdown (1001) or a lost upstream
//   (1012) reconnects at once;
// - an authentication failure (HTTP 401/403 before the upgrade, or an expired
//   JWT) stops the client after one attempt with a refreshed token; `token`
//   may be a function that is called before every attempt (token refresh);
// - token lifetime: when the server says `expiring`, a `token` function is
//   called ({reason: 'refresh'}) and the new token sent in-band (`refresh`),
//   so the connection outlives the old `exp`; a close with 4001 (token
//   expired) reconnects at once with a fresh token and resumes;
// - publish(channel, data) sends a client publish (the token's `publish`
//   claim must allow it) and resolves to the event id;
// - a handler never sees the same event twice (ids seen recently are kept);
// - in browsers, `offline`/`online` window events pause and resume it.
//
// The wire protocol is docs/protocol.md in the Herald repository. No
// dependencies; works with the browser's WebSocket or any object with the
// same interface (e.g. the `ws` package in Node). An ES module: from CommonJS
// load it with `await import()` (web/README.md says how).

const CHANNEL_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;
const RECONNECT_NOW = new Set([1001, 1012, 4001]);
const NO_RECONNECT = new Set([1000, 1008]);
const DEFAULTS = {
  backoffInitialMs: 500,
  backoffMaxMs: 3000,
  stableAfterMs: 5000,
  dedupWindow: 2048,
  connectTimeoutMs: 15000,
  autoConnect: true,
  probeAuth: true,
};

/** Returns true when `name` is a valid Herald channel name. */
export function isValidChannel(name) {
  return typeof name === 'string' && CHANNEL_RE.test(name);
}

/**
 * Full-jitter exponential backoff: a random delay in [0, min(max, initial * 2^attempt)).
 * `random` is injectable for tests.
 */
export function backoffDelay(attempt, initialMs, maxMs, random = Math.random) {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** Remembers the last `limit` ids per channel to drop repeated deliveries. */
class SeenIds {
  constructor(limit) {
    this.limit = limit;
    this.byChannel = new Map();
  }

  /** Records channel/id; returns false when it was already seen. */
  add(channel, id) {
    let entry = this.byChannel.get(channel);
    if (!entry) {
      entry = { set: new Set(), order: [] };
      this.byChannel.set(channel, entry);
    }
    if (entry.set.has(id)) return false;
    entry.set.add(id);
    entry.order.push(id);
    if (entry.order.length > this.limit) entry.set.delete(entry.order.shift());
    return true;
  }

  clear(channels) {
    for (const ch of channels) this.byChannel.delete(ch);
  }
}

/** A tiny event emitter: on() returns the function that removes the listener. */
class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  on(type, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }

  emit(type, detail) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) {
      try {
        fn(detail);
      } catch (err) {
        reportListenerError(err);
      }
    }
  }
}

function reportListenerError(err) {
  // A throwing app handler must not break the client's state machine.
  setTimeout(() => {
    throw err;
  }, 0);
}

const IGNORE = () => {};

// Closes a socket in any state without throwing, now or later. Handlers are
// replaced by no-ops rather than removed: the `ws` package emits "WebSocket
// was closed before the connection was established" as an 'error' event when
// a CONNECTING socket is closed, and an 'error' without a listener is thrown
// (it would crash a Node process). Browsers only log a warning there.
function closeQuietly(ws, code, reason) {
  ws.onmessage = IGNORE;
  ws.onerror = IGNORE;
  ws.onclose = IGNORE;
  try {
    ws.close(code === 1000 || (code >= 3000 && code < 5000) ? code : 1000, reason);
  } catch {
    // already closing or closed, or an implementation that refuses: nothing to release
  }
}

function httpStatusOf(errorEvent) {
  // `ws` (node) reports "Unexpected server response: 401"; browsers say nothing.
  const m = /Unexpected server response: (\d{3})/.exec(String(errorEvent?.message ?? ''));
  return m ? Number(m[1]) : 0;
}

/** The `exp` claim (seconds) of a JWT, or null when absent or unreadable. */
function jwtExpiry(token) {
  if (typeof token !== 'string') return null;
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const exp = JSON.parse(new TextDecoder().decode(bytes)).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

function resolveUrl(url) {
  // A relative URL ("/ws") is resolved against the page: https pages use wss.
  if (/^wss?:\/\//i.test(url)) return url;
  const loc = globalThis.location;
  if (!loc) throw new TypeError(`Herald: absolute ws:// or wss:// URL required, got ${url}`);
  const u = new URL(url, loc.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

export class Herald extends Emitter {
  /**
   * @param {string} url  ws:// or wss:// URL of the /ws endpoint (relative URLs resolve
   *                      against the page in browsers)
   * @param {object} [options] see herald.d.ts (HeraldOptions)
   */
  constructor(url, options = {}) {
    super();
    this.opts = { ...DEFAULTS, ...options };
    this.url = resolveUrl(url);
    this.WebSocketImpl = this.opts.WebSocket ?? globalThis.WebSocket;
    if (typeof this.WebSocketImpl !== 'function') {
      throw new TypeError('Herald: no WebSocket implementation; pass {WebSocket}');
    }
    this.state = 'idle';
    this.lastId = options.since ?? null;
    this.connectionId = null;
    this.user = null;
    this.handlers = new Map(); // channel -> Set(handler)
    this.requested = new Set(); // channels asked for on this socket (and not dropped)
    this.pendingRefs = new Map(); // ref -> {kind, channels, since}
    this.publishes = new Map(); // ref -> {resolve, reject}: publish() waiting for `published`
    this.seen = new SeenIds(this.opts.dedupWindow);
    this.ws = null;
    this.timer = null;
    this.flushTimer = null;
    this.attempt = 0;
    this.connects = 0;
    this.gen = 0;
    this.nextRef = 1;
    this.openedAt = 0;
    this.authRetried = false;
    this.flushQueued = false;
    this.stopped = false;
    this.retryAt = 0;
    this.lostCode = null; // close code that ended the last open connection
    this.watchNetwork();
    if (this.opts.autoConnect) this.connect();
  }

  /** Starts connecting (no-op while connecting or open). */
  connect() {
    if (this.state === 'connecting' || this.state === 'open') return;
    this.stopped = false;
    this.clearTimer();
    this.openSocket();
  }

  /** Closes the connection for good: no reconnect until connect() is called. */
  close() {
    this.gen += 1;
    this.stopped = true;
    this.clearTimer();
    this.dropSocket(1000, 'client closed');
    this.setState('closed', { reason: 'client' });
  }

  /**
   * Calls handler(data, event) for every event on `channel`; subscribes on the
   * server when this is the channel's first handler. Returns a function that
   * removes this handler. Throws TypeError for an invalid channel name.
   */
  subscribe(channel, handler) {
    if (!isValidChannel(channel)) throw new TypeError(`Herald: invalid channel name ${channel}`);
    if (typeof handler !== 'function') throw new TypeError('Herald: handler must be a function');
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      this.queueFlush();
    }
    set.add(handler);
    return () => this.unsubscribe(channel, handler);
  }

  /** Removes one handler, or all handlers of `channel` when handler is omitted. */
  unsubscribe(channel, handler) {
    const set = this.handlers.get(channel);
    if (!set) return;
    if (handler) set.delete(handler);
    else set.clear();
    if (set.size > 0) return;
    this.handlers.delete(channel);
    this.seen.clear([channel]);
    this.queueFlush();
  }

  /**
   * Publishes `data` (any JSON value) on `channel` from this connection (the
   * token's `publish` claim must cover it). Resolves to the event id once the
   * server's broker accepted it; rejects with an Error whose `code` is the
   * server's (`forbidden`, `rate_limited`, ...) or `closed` when the
   * connection is not open or ends before the answer.
   */
  publish(channel, data) {
    if (!isValidChannel(channel)) return Promise.reject(new TypeError(`Herald: invalid channel name ${channel}`));
    if (this.state !== 'open' || !this.ws) {
      return Promise.reject(Object.assign(new Error('Herald: not connected'), { code: 'closed' }));
    }
    const ref = String(this.nextRef++);
    return new Promise((resolve, reject) => {
      this.publishes.set(ref, { resolve, reject });
      this.sendRaw({ type: 'publish', channel, data, ref });
    });
  }

  /** Channels with at least one handler. */
  channels() {
    return [...this.handlers.keys()];
  }

  // ---- connection lifecycle -------------------------------------------------

  async openSocket() {
    const gen = ++this.gen; // a later connect() or close() makes this attempt stale
    this.setState('connecting', { attempt: this.attempt });
    let token;
    try {
      token = await this.currentToken(this.connects++ === 0 ? 'connect' : 'reconnect');
    } catch (err) {
      if (gen !== this.gen) return;
      this.emit('error', { code: 'token', message: String(err?.message ?? err) });
      this.scheduleReconnect(this.nextDelay());
      return;
    }
    if (gen !== this.gen || this.stopped) return;
    this.lastToken = token;
    const url = new URL(this.url);
    if (token) url.searchParams.set('token', token);
    let ws;
    try {
      ws = new this.WebSocketImpl(url.toString());
    } catch (err) {
      this.emit('error', { code: 'socket', message: String(err?.message ?? err) });
      this.scheduleReconnect(this.nextDelay());
      return;
    }
    this.ws = ws;
    this.sawWelcome = false;
    this.httpStatus = 0;
    this.armConnectTimeout(ws);
    ws.onmessage = (ev) => ws === this.ws && this.onMessage(ev.data);
    ws.onerror = (ev) => {
      if (ws === this.ws) this.httpStatus = this.httpStatus || httpStatusOf(ev);
    };
    ws.onclose = (ev) => ws === this.ws && this.onClose(ev.code, ev.reason);
  }

  async currentToken(reason) {
    const t = this.opts.token;
    if (typeof t === 'function') return (await t({ reason })) ?? null;
    return t ?? null;
  }

  armConnectTimeout(ws) {
    this.clearTimer();
    this.timer = setTimeout(() => {
      if (ws === this.ws && !this.sawWelcome) this.dropSocket(4000, 'connect timeout', true);
    }, this.opts.connectTimeoutMs);
  }

  onWelcome(msg) {
    this.clearTimer();
    this.sawWelcome = true;
    this.authRetried = false;
    this.openedAt = Date.now();
    this.connectionId = msg.connection ?? null;
    this.user = msg.user ?? null;
    this.lostCode = null;
    this.requested.clear();
    this.pendingRefs.clear();
    this.setState('open', { connection: this.connectionId, user: this.user });
    this.emit('welcome', { connection: this.connectionId, user: this.user });
    this.resubscribeAll();
  }

  resubscribeAll() {
    const channels = this.channels();
    if (channels.length === 0) return;
    this.sendCommand('subscribe', channels, this.lastId);
  }

  failPublishes() {
    const waiting = [...this.publishes.values()];
    this.publishes.clear();
    for (const p of waiting) p.reject(Object.assign(new Error('Herald: connection closed'), { code: 'closed' }));
  }

  async onClose(code, reason) {
    const gen = this.gen;
    const wasOpen = this.sawWelcome;
    const lived = wasOpen ? Date.now() - this.openedAt : 0;
    this.ws = null;
    this.requested.clear();
    this.pendingRefs.clear();
    this.failPublishes();
    this.clearTimer();
    if (this.stopped) return;
    this.emit('disconnect', { code, reason, wasOpen });
    // While reconnecting, `code` stays the close that lost the connection
    // (1012, say); the failed attempts after it (1006) are `failedCode`.
    if (wasOpen) this.lostCode = code;
    const cause = wasOpen ? { code } : { code: this.lostCode ?? code, failedCode: code };
    const authFailed = !wasOpen && (await this.isAuthFailure());
    if (this.stopped || gen !== this.gen) return; // close() or connect() ran meanwhile
    if (authFailed) {
      if (typeof this.opts.token === 'function' && !this.authRetried) {
        this.authRetried = true; // one more try with a freshly fetched token
        this.scheduleReconnect(0, { code, reason: 'auth' });
        return;
      }
      this.stopped = true;
      this.setState('closed', { reason: 'auth', code, status: this.httpStatus });
      return;
    }
    if (NO_RECONNECT.has(code) && wasOpen) {
      this.stopped = true;
      this.setState('closed', { reason: 'server', code });
      return;
    }
    if (lived >= this.opts.stableAfterMs) this.attempt = 0;
    const delay = RECONNECT_NOW.has(code) && wasOpen && this.attempt === 0 ? 0 : this.nextDelay();
    this.scheduleReconnect(delay, cause);
  }

  // Browsers hide the handshake's HTTP status (the `ws` package reports it).
  // There, an expired JWT counts as an authentication failure, and the same
  // URL is asked once over plain HTTP: the gateway answers 401/403 to a bad
  // token before it looks for an upgrade. Anything else is taken as an outage.
  async isAuthFailure() {
    if (this.httpStatus === 401 || this.httpStatus === 403) return true;
    const exp = jwtExpiry(this.lastToken);
    if (exp !== null && exp * 1000 <= Date.now()) return true;
    if (this.httpStatus !== 0 || !this.opts.probeAuth || !globalThis.document) return false;
    if (typeof globalThis.fetch !== 'function') return false;
    try {
      const url = new URL(this.url);
      url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
      if (this.lastToken) url.searchParams.set('token', this.lastToken);
      const res = await globalThis.fetch(url, { cache: 'no-store', credentials: 'same-origin' });
      return res.status === 401 || res.status === 403;
    } catch {
      return false;
    }
  }

  nextDelay() {
    const d = backoffDelay(this.attempt, this.opts.backoffInitialMs, this.opts.backoffMaxMs);
    this.attempt += 1;
    return d;
  }

  scheduleReconnect(delay, detail = {}) {
    if (this.stopped) return;
    if (this.isOffline()) {
      this.setState('offline', detail);
      return;
    }
    this.clearTimer();
    this.retryAt = Date.now() + delay;
    this.setState('reconnecting', { ...detail, delay, retryAt: this.retryAt, attempt: this.attempt });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.openSocket();
    }, delay);
  }

  dropSocket(code, reason, thenReconnect = false) {
    const ws = this.ws;
    this.ws = null;
    if (ws) closeQuietly(ws, code, reason);
    this.requested.clear();
    this.pendingRefs.clear();
    this.failPublishes();
    if (thenReconnect) {
      this.scheduleReconnect(this.nextDelay(), { code: this.lostCode ?? code, failedCode: code, reason });
    }
  }

  clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  setState(state, detail = {}) {
    const prev = this.state;
    this.state = state;
    this.emit('state', { state, prev, ...detail });
  }

  // ---- browser network events ----------------------------------------------

  watchNetwork() {
    const win = globalThis.window;
    if (!win || typeof win.addEventListener !== 'function') return;
    this.onOffline = () => {
      if (this.stopped) return;
      this.gen += 1;
      this.clearTimer();
      this.dropSocket(1000, 'offline');
      this.setState('offline');
    };
    this.onOnline = () => {
      if (this.stopped || this.state === 'open' || this.state === 'connecting') return;
      this.attempt = 0;
      this.clearTimer();
      this.openSocket();
    };
    win.addEventListener('offline', this.onOffline);
    win.addEventListener('online', this.onOnline);
  }

  isOffline() {
    return globalThis.navigator?.onLine === false && !!globalThis.window;
  }

  // ---- protocol ---------------------------------------------------------------

  onMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(typeof raw === 'string' ? raw : String(raw));
    } catch {
      this.emit('error', { code: 'bad_message', message: 'server sent invalid JSON' });
      return;
    }
    switch (msg?.type) {
      case 'welcome':
        return this.onWelcome(msg);
      case 'event':
        return this.onEvent(msg);
      case 'subscribed':
        return this.onSubscribed(msg);
      case 'unsubscribed':
        return this.onUnsubscribed(msg);
      case 'error':
        return this.onServerError(msg);
      case 'expiring':
        return this.onExpiring(msg);
      case 'refreshed':
        this.takeRef(msg.ref);
        return this.emit('refreshed', { expires: msg.expires ?? null });
      case 'published':
        return this.onPublished(msg);
      default:
        return undefined; // unknown types are ignored: the protocol may grow
    }
  }

  onEvent(msg) {
    const { channel, id } = msg;
    if (typeof channel !== 'string' || id === undefined || id === null) return;
    const set = this.handlers.get(channel);
    if (!set || !this.seen.add(channel, String(id))) return;
    this.lastId = String(id);
    const event = { channel, id: String(id), data: msg.data };
    this.emit('event', event);
    for (const fn of [...set]) {
      try {
        fn(msg.data, event);
      } catch (err) {
        reportListenerError(err);
      }
    }
  }

  onSubscribed(msg) {
    const pending = this.takeRef(msg.ref);
    const channels = Array.isArray(msg.channels) ? msg.channels : pending?.channels ?? [];
    const recovered = msg.recovered !== false;
    const since = pending?.since ?? null;
    if (!recovered) this.seen.clear(channels);
    this.emit('subscribed', { channels, recovered, resumed: since !== null });
    if (!recovered) this.emit('gap', { channels, since });
  }

  onUnsubscribed(msg) {
    const pending = this.takeRef(msg.ref);
    const channels = Array.isArray(msg.channels) ? msg.channels : pending?.channels ?? [];
    if (msg.reason) {
      // The server ended them (a refreshed token no longer allows them):
      // their handlers go, so a reconnect does not ask again.
      for (const ch of channels) {
        this.requested.delete(ch);
        this.handlers.delete(ch);
        this.seen.clear([ch]);
      }
    }
    this.emit('unsubscribed', msg.reason ? { channels, reason: msg.reason } : { channels });
  }

  // The token ends soon: fetch a new one through `token()` and send it.
  async onExpiring(msg) {
    this.emit('expiring', { in: msg.in ?? null });
    if (typeof this.opts.token !== 'function') return;
    const ws = this.ws;
    let token;
    try {
      token = await this.currentToken('refresh');
    } catch (err) {
      this.emit('error', { code: 'token', message: String(err?.message ?? err), command: 'refresh' });
      return;
    }
    if (!token || ws !== this.ws || this.state !== 'open') return;
    this.lastToken = token;
    const ref = String(this.nextRef++);
    this.pendingRefs.set(ref, { kind: 'refresh', channels: [], since: null });
    this.sendRaw({ type: 'refresh', token, ref });
  }

  onPublished(msg) {
    const p = this.publishes.get(msg.ref);
    if (!p) return;
    this.publishes.delete(msg.ref);
    p.resolve(String(msg.id));
  }

  onServerError(msg) {
    const waiting = this.publishes.get(msg.ref);
    if (waiting) {
      this.publishes.delete(msg.ref);
      waiting.reject(Object.assign(new Error(msg.message ?? msg.code), { code: msg.code ?? 'unknown' }));
      return;
    }
    const pending = this.takeRef(msg.ref);
    const code = msg.code ?? 'unknown';
    let dropped = [];
    if (pending?.kind === 'subscribe') {
      dropped = this.refuseSubscribe(pending, code);
      if (dropped === null) return;
    }
    this.emit('error', {
      code,
      message: msg.message ?? '',
      channels: pending?.channels ?? [],
      command: pending?.kind ?? null,
      dropped,
    });
  }

  // A refused subscribe refuses all its channels. Several channels: ask again
  // one by one to find the culprits (returns null: nothing to report yet).
  // One channel: drop it for good, so reconnects do not ask again; returns
  // the channels dropped (their handlers are gone).
  refuseSubscribe(pending, code) {
    const final = code === 'forbidden' || code === 'too_many_channels' || code === 'bad_request';
    for (const ch of pending.channels) this.requested.delete(ch);
    if (final && pending.channels.length > 1) {
      for (const ch of pending.channels) {
        if (this.handlers.has(ch)) this.sendCommand('subscribe', [ch], pending.since);
      }
      return null;
    }
    if (code === 'rate_limited') this.retryFlushLater();
    if (!final) return [];
    const dropped = pending.channels.filter((ch) => this.handlers.has(ch));
    for (const ch of dropped) {
      this.handlers.delete(ch);
      this.seen.clear([ch]);
    }
    return dropped;
  }

  retryFlushLater() {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, this.opts.backoffInitialMs * 2);
  }

  takeRef(ref) {
    if (ref === undefined || !this.pendingRefs.has(ref)) return null;
    const p = this.pendingRefs.get(ref);
    this.pendingRefs.delete(ref);
    return p;
  }

  queueFlush() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  // Brings the server's subscription set in line with the handlers map:
  // several subscribe()/unsubscribe() calls in one tick become one command.
  flush() {
    if (this.state !== 'open' || !this.ws) return;
    const add = this.channels().filter((ch) => !this.requested.has(ch));
    const remove = [...this.requested].filter((ch) => !this.handlers.has(ch));
    if (add.length > 0) this.sendCommand('subscribe', add, null);
    if (remove.length > 0) this.sendCommand('unsubscribe', remove, null);
  }

  sendCommand(kind, channels, since) {
    const ref = String(this.nextRef++);
    const cmd = { type: kind, channels, ref };
    if (since != null) cmd.since = since;
    this.pendingRefs.set(ref, { kind, channels, since });
    for (const ch of channels) {
      if (kind === 'subscribe') this.requested.add(ch);
      else this.requested.delete(ch);
    }
    this.sendRaw(cmd);
  }

  sendRaw(cmd) {
    try {
      this.ws.send(JSON.stringify(cmd));
    } catch (err) {
      this.emit('error', { code: 'socket', message: String(err?.message ?? err) });
    }
  }
}

export default Herald;
