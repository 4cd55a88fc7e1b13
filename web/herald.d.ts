// Type declarations for herald.js, the Herald WebSocket client (the wire
// protocol is docs/protocol.md in the Herald repository). herald.js is an ES
// module; from CommonJS load it with `await import()` (see web/README.md).

/** Connection states; see the diagram at the top of herald.js. */
export type HeraldState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed';

/** One event as delivered by the server. `id` is opaque but increases per channel. */
export interface HeraldEvent<T = unknown> {
  channel: string;
  id: string;
  data: T;
}

/** Why the token function is called: before a first connect, before a reconnect (also
 *  after close 4001, token expired), or to refresh the open connection in-band when the
 *  server sent `expiring` (about a minute before `exp`). */
export type TokenReason = 'connect' | 'reconnect' | 'refresh';
/** A token, or a function called before every connection attempt and before the token
 *  expires (refresh: the open connection keeps going past the old `exp`). */
export type TokenSource =
  | string
  | null
  | ((info: { reason: TokenReason }) => string | null | undefined | Promise<string | null | undefined>);

/** Anything shaped like the browser's WebSocket constructor (e.g. the `ws` package). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface HeraldOptions {
  /** JWT sent as `?token=`; a function is called before each (re)connect and, when the
   *  server announces `expiring`, for a fresh token sent in-band (`refresh`). With a plain
   *  string the connection ends at `exp` (close 4001) and the reconnect is refused. */
  token?: TokenSource;
  /** WebSocket implementation; defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Resume point for the first connection (e.g. persisted lastId). */
  since?: string | null;
  /** First backoff cap in ms [500]; doubles per failed attempt. */
  backoffInitialMs?: number;
  /** Largest backoff cap in ms [3000]: no reconnect delay reaches it, however many attempts
   *  failed (a restart storm). Delays are uniformly random below the cap (full jitter). */
  backoffMaxMs?: number;
  /** A connection open this long resets the backoff [5000]. */
  stableAfterMs?: number;
  /** Event ids remembered per channel to drop duplicates [2048]. */
  dedupWindow?: number;
  /** Give up on a handshake that has not produced `welcome` after this many ms [15000]. */
  connectTimeoutMs?: number;
  /** Connect in the constructor [true]. */
  autoConnect?: boolean;
  /** Browsers: after a failed handshake, GET the same URL to learn whether the token was
   *  refused (401/403 from the gateway) [true]. */
  probeAuth?: boolean;
}

export interface StateChange {
  state: HeraldState;
  prev: HeraldState;
  /** reconnecting: the wait before the next attempt, and when it ends (epoch ms). */
  delay?: number;
  retryAt?: number;
  attempt?: number;
  /** The close code that caused the change, when there was one. While reconnecting it stays
   *  the code of the close that lost the open connection (1012, 1001, 1013...), also after
   *  failed attempts; those attempts' own codes (1006 for a refused handshake) are
   *  `failedCode`. */
  code?: number;
  /** reconnecting after a failed attempt: that attempt's close code. */
  failedCode?: number;
  /** closed: 'client' (close() called), 'server' (1000/1008), 'auth' (401/403). */
  reason?: string;
  /** closed by auth: the HTTP status seen, when known. */
  status?: number;
  /** open: ids from the welcome message. */
  connection?: string | null;
  user?: string | null;
}

export interface HeraldEvents {
  state: StateChange;
  welcome: { connection: string | null; user: string | null };
  /** The server confirmed a subscription; `recovered:false` means events were lost. */
  subscribed: { channels: string[]; recovered: boolean; resumed: boolean };
  /** With `reason` ('forbidden'): the server ended these subscriptions because a refreshed
   *  token no longer allows them; their handlers are removed. */
  unsubscribed: { channels: string[]; reason?: string };
  /** The server will close the connection (4001) in `in` seconds unless refreshed. */
  expiring: { in: number | null };
  /** A refresh was accepted; `expires`: the new end (unix seconds), or null for none. */
  refreshed: { expires: number | null };
  /** History did not reach back to `since`: reload the state of these channels. */
  gap: { channels: string[]; since: string | null };
  /** Every event delivered to handlers, once. */
  event: HeraldEvent;
  disconnect: { code: number; reason: string; wasOpen: boolean };
  /** Server errors (bad_request, forbidden, rate_limited, too_many_channels) and local ones.
   *  `message` is the server's text (it names the refused channel and the rule).
   *  `dropped`: channels whose subscribe was refused for good (forbidden, bad_request,
   *  too_many_channels); their handlers are removed and they are not asked for again. */
  error: {
    code: string;
    message: string;
    channels?: string[];
    command?: string | null;
    dropped?: string[];
  };
}

export type Handler<T = unknown> = (data: T, event: HeraldEvent<T>) => void;

export declare class Herald {
  constructor(url: string, options?: HeraldOptions);
  readonly url: string;
  readonly state: HeraldState;
  /** Id of the last event delivered; sent as `since` on every reconnect. */
  readonly lastId: string | null;
  readonly connectionId: string | null;
  /** The authenticated user from the welcome message, or null. */
  readonly user: string | null;
  /** Epoch ms of the next reconnect attempt while reconnecting. */
  readonly retryAt: number;

  connect(): void;
  close(): void;
  /** Subscribes handler to channel; returns a function that removes it. */
  subscribe<T = unknown>(channel: string, handler: Handler<T>): () => void;
  /** Removes one handler, or every handler of the channel. */
  unsubscribe(channel: string, handler?: Handler<any>): void;
  channels(): string[];
  /** Client publish: resolves to the event id once the broker accepted it; rejects with an
   *  Error whose `code` is the server's (`forbidden` without a `publish` claim covering the
   *  channel, `rate_limited`, ...) or `closed`. */
  publish(channel: string, data: unknown): Promise<string>;

  on<K extends keyof HeraldEvents>(type: K, listener: (detail: HeraldEvents[K]) => void): () => void;
  off<K extends keyof HeraldEvents>(type: K, listener: (detail: HeraldEvents[K]) => void): void;
}

export declare function isValidChannel(name: string): boolean;
export declare function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random?: () => number,
): number;

export default Herald;
