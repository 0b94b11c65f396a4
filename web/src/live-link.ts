/**
 * The console's WebSocket to /ws: subscribes, reconnects by itself with capped exponential backoff
 * and jitter, and reports the link state honestly:
 * - `connecting`: socket opening or waiting for the server's hello;
 * - `live`: hello received and data arriving;
 * - `stale`: socket open but nothing received for `staleAfterMs` while data is expected;
 * - `offline`: socket closed; a reconnect is scheduled (`retryInMs`).
 * Works with the browser's WebSocket and with `ws` in Node (tests), both injected through `createSocket`.
 */
import type { ServerMessage, SubscribeMessage } from './types';

export type LinkState = 'connecting' | 'live' | 'stale' | 'offline';

export interface LinkStatus {
  state: LinkState;
  /** Consecutive failed attempts since the last hello. */
  attempt: number;
  /** When offline: delay before the next attempt. */
  retryInMs?: number;
  /** ms (clock) of the last message received, 0 if none yet. */
  lastMessageAtMs: number;
  /** Number of successful connections (hello received) so far. */
  connections: number;
}

/** The part of the WebSocket interface LiveLink uses. */
export interface SocketLike {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface BackoffOptions {
  /** First retry delay (default 500 ms). */
  initialMs?: number;
  /** Cap (default 10000 ms). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** ± share of the delay randomised (default 0.2). */
  jitter?: number;
}

/** Delay before attempt number `attempt` (1-based), given a uniform random number in [0, 1). */
export function backoffDelayMs(attempt: number, opts: BackoffOptions = {}, rand: number = 0.5): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 10000;
  const factor = opts.factor ?? 2;
  const jitter = opts.jitter ?? 0.2;
  const base = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt - 1)));
  const j = 1 + jitter * (2 * rand - 1);
  return Math.max(0, Math.round(Math.min(max, base * j)));
}

export interface LiveLinkOptions {
  /** Full ws:// or wss:// URL of /ws. */
  url: string;
  /** What to subscribe to after each hello. */
  subscribe: SubscribeMessage;
  /** Default: the global WebSocket. */
  createSocket?: (url: string) => SocketLike;
  backoff?: BackoffOptions;
  /** Silence after which an open link is reported stale (default 5000 ms). */
  staleAfterMs?: number;
  /** Whether data is expected at all right now (default: always). With no vehicles the server may stay quiet. */
  expectingData?: () => boolean;
  /** Give up waiting for hello after this long and reconnect (default 10000 ms). */
  helloTimeoutMs?: number;
  now?: () => number;
  random?: () => number;
  onMessage?: (msg: ServerMessage) => void;
  onStatus?: (status: LinkStatus) => void;
  /** Called after a close, before scheduling the retry; may return false to stop retrying (e.g. logged out). */
  onClosed?: () => Promise<boolean> | boolean;
}

export class LiveLink {
  private socket: SocketLike | null = null;
  private status: LinkStatus = { state: 'offline', attempt: 0, lastMessageAtMs: 0, connections: 0 };
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private helloTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private stopped = true;
  private readonly now: () => number;

  constructor(private readonly opts: LiveLinkOptions) {
    this.now = opts.now ?? (() => Date.now());
  }

  get state(): LinkStatus {
    return { ...this.status };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.watchdog = setInterval(() => this.checkStale(), 500);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.helloTimer) clearTimeout(this.helloTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.retryTimer = this.helloTimer = this.watchdog = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = s.onmessage = s.onerror = s.onopen = null;
      try {
        s.close(1000, 'client stop');
      } catch {
        /* already closed */
      }
    }
    this.setStatus({ state: 'offline', retryInMs: undefined });
  }

  /** Replace the subscription (sent now if connected, and after every reconnect). */
  resubscribe(sub: SubscribeMessage): void {
    this.opts.subscribe = sub;
    if (this.socket && this.socket.readyState === 1 && this.status.state !== 'connecting') this.socket.send(JSON.stringify(sub));
  }

  private setStatus(patch: Partial<LinkStatus>): void {
    const before = this.status;
    this.status = { ...this.status, ...patch };
    if (before.state !== this.status.state || before.retryInMs !== this.status.retryInMs || before.attempt !== this.status.attempt) {
      this.opts.onStatus?.({ ...this.status });
    }
  }

  private connect(): void {
    if (this.stopped) return;
    this.setStatus({ state: 'connecting', retryInMs: undefined });
    let s: SocketLike;
    try {
      s = (this.opts.createSocket ?? ((u: string) => new WebSocket(u) as unknown as SocketLike))(this.opts.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = s;
    this.helloTimer = setTimeout(() => {
      if (this.socket === s && this.status.state === 'connecting') {
        try {
          s.close(4000, 'no hello');
        } catch {
          /* ignore */
        }
        this.handleClose(s);
      }
    }, this.opts.helloTimeoutMs ?? 10000);
    s.onopen = () => {
      /* wait for hello before subscribing */
    };
    s.onmessage = (ev) => {
      if (this.socket !== s) return;
      let msg: ServerMessage;
      try {
        msg = JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data)) as ServerMessage;
      } catch {
        return;
      }
      this.status.lastMessageAtMs = this.now();
      if (msg.type === 'hello') {
        if (this.helloTimer) clearTimeout(this.helloTimer);
        this.helloTimer = null;
        s.send(JSON.stringify(this.opts.subscribe));
        this.setStatus({ state: 'live', attempt: 0, connections: this.status.connections + 1 });
      } else if (this.status.state === 'stale') {
        this.setStatus({ state: 'live' });
      }
      this.opts.onMessage?.(msg);
    };
    s.onerror = () => {
      /* a close event follows */
    };
    s.onclose = () => this.handleClose(s);
  }

  private handleClose(s: SocketLike): void {
    if (this.socket !== s) return;
    s.onclose = s.onmessage = s.onerror = s.onopen = null;
    this.socket = null;
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    if (this.stopped) return;
    this.setStatus({ state: 'offline' });
    const decide = this.opts.onClosed?.();
    Promise.resolve(decide ?? true).then(
      (go) => {
        if (go !== false) this.scheduleRetry();
        else this.stop();
      },
      () => this.scheduleRetry(),
    );
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const attempt = this.status.attempt + 1;
    const delay = backoffDelayMs(attempt, this.opts.backoff, (this.opts.random ?? Math.random)());
    this.setStatus({ state: 'offline', attempt, retryInMs: delay });
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private checkStale(): void {
    if (this.status.state !== 'live') return;
    const expecting = this.opts.expectingData ? this.opts.expectingData() : true;
    if (!expecting) return;
    if (this.now() - this.status.lastMessageAtMs > (this.opts.staleAfterMs ?? 5000)) this.setStatus({ state: 'stale' });
  }
}
