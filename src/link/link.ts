/**
 * A link is a byte stream with a URI. It knows nothing of MAVLink.
 *
 *   tcp:HOST:PORT          client; reconnects with exponential backoff after any drop
 *   udpin:HOST:PORT        listens; every remote that sent us a datagram gets what we write
 *   udpout:HOST:PORT       sends to HOST:PORT from an ephemeral port; receives the replies
 *   serial:PATH:BAUD       serial port (serialport); reopened with backoff when it goes away
 *
 * Events: 'data' (Buffer), 'up', 'down', 'error' (Error; informational, never fatal).
 * A link that drops and comes back resumes: the same object keeps emitting, nothing restarts.
 */
import { EventEmitter } from 'events';

/** 'bus': frames carried over the bus from a link agent (src/bus/bus-link.ts); never opened from a URI here. */
export type LinkKind = 'tcp' | 'udpin' | 'udpout' | 'serial' | 'bus';

export interface LinkStats {
  bytesIn: number;
  bytesOut: number;
  /** Chunks (TCP/serial reads) or datagrams received. */
  packetsIn: number;
  /** write() calls that reached the transport. */
  packetsOut: number;
  /** Writes dropped because the link was down. */
  dropped: number;
  /** Times the link came up again after a drop. */
  reconnects: number;
}

export interface LinkOptions {
  /** First reconnect delay. Default 250 ms. */
  reconnectMinMs?: number;
  /** Reconnect delay ceiling (doubles from min up to this). Default 5000 ms. */
  reconnectMaxMs?: number;
  /** udpin: forget a remote silent for this long. Default 60000 ms. */
  remoteTtlMs?: number;
}

export interface Link extends EventEmitter {
  readonly uri: string;
  readonly kind: LinkKind;
  /** True while bytes can flow. */
  readonly up: boolean;
  readonly stats: LinkStats;
  /** Local address once bound/connected (udp/tcp), for tests and logs. */
  readonly local: { address: string; port: number } | null;
  /** Send bytes; returns false when the link is down (the bytes are dropped and counted). */
  write(bytes: Buffer): boolean;
  close(): Promise<void>;
}

export class LinkError extends Error {
  constructor(readonly code: 'INVALID_LINK_URI' | 'LINK_CLOSED', message: string) {
    super(message);
    this.name = 'LinkError';
  }
}

export interface ParsedLinkUri {
  kind: Exclude<LinkKind, 'bus'>;
  /** Host for network links, device path for serial. */
  host: string;
  /** Port for network links, baud rate for serial. */
  port: number;
}

const BAUDS = new Set([1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1500000, 2000000, 3000000]);

/** Parse a link URI; throws LinkError INVALID_LINK_URI with the reason. */
export function parseLinkUri(uri: string): ParsedLinkUri {
  const bad = (why: string) => new LinkError('INVALID_LINK_URI', `invalid link URI ${JSON.stringify(uri)}: ${why}`);
  if (typeof uri !== 'string') throw bad('not a string');
  const m = /^([a-z]+):(.+):([^:]+)$/.exec(uri.trim());
  if (!m) throw bad('expected tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT or serial:PATH:BAUD');
  const [, scheme, host, portText] = m;
  if (!/^\d+$/.test(portText)) throw bad(`${scheme === 'serial' ? 'baud rate' : 'port'} must be a number`);
  const port = Number(portText);
  if (scheme === 'serial') {
    if (!BAUDS.has(port)) throw bad(`unsupported baud rate ${port}`);
    return { kind: 'serial', host, port };
  }
  if (scheme !== 'tcp' && scheme !== 'udpin' && scheme !== 'udpout') throw bad(`unknown scheme ${scheme}`);
  if (port > 65535 || ((scheme === 'tcp' || scheme === 'udpout') && port === 0)) throw bad(`port ${port} out of range`);
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (!/^[A-Za-z0-9.\-:_]+$/.test(h)) throw bad(`bad host ${JSON.stringify(host)}`);
  return { kind: scheme, host: h, port };
}

export function newStats(): LinkStats {
  return { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, dropped: 0, reconnects: 0 };
}

/** Shared reconnect backoff: min, 2·min, 4·min … max; reset once connected. */
export class Backoff {
  private next: number;
  constructor(private readonly minMs: number, private readonly maxMs: number) {
    this.next = minMs;
  }
  delay(): number {
    const d = this.next;
    this.next = Math.min(this.maxMs, this.next * 2);
    return d;
  }
  reset(): void {
    this.next = this.minMs;
  }
}

/**
 * Shared plumbing of the stream links that reopen their transport with backoff (tcp, serial):
 * stats, up/down events, the reconnect timer and write accounting. A subclass opens its transport
 * in open(), reports through opened()/received()/reportError()/lost()/retry(), and writes in send().
 */
export abstract class ReconnectingLink extends EventEmitter {
  readonly stats: LinkStats = newStats();
  up = false;
  protected closed = false;
  private everUp = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;

  constructor(opts: LinkOptions) {
    super();
    this.backoff = new Backoff(opts.reconnectMinMs ?? 250, opts.reconnectMaxMs ?? 5000);
  }

  /** Open (or reopen) the transport. */
  protected abstract open(): void;
  /** Hand bytes to the open transport; false when there is none. */
  protected abstract send(bytes: Buffer): boolean;

  /** The transport is open: reset the backoff, count a reconnect, emit 'up'. */
  protected opened(): void {
    this.backoff.reset();
    this.up = true;
    if (this.everUp) this.stats.reconnects++;
    this.everUp = true;
    this.emit('up');
  }

  protected received(b: Buffer): void {
    this.stats.bytesIn += b.length;
    this.stats.packetsIn++;
    this.emit('data', b);
  }

  /** Errors are informational: emitted only when someone listens. */
  protected reportError(e: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  /** The transport went away: emit 'down' if it was up. */
  protected lost(): void {
    if (this.up) {
      this.up = false;
      this.emit('down');
    }
  }

  /** Reopen after the next backoff delay, unless closed. */
  protected retry(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => this.open(), this.backoff.delay());
    this.timer.unref();
  }

  /** Stop reconnecting for good (the first step of close()). */
  protected stopReconnecting(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  write(bytes: Buffer): boolean {
    if (!this.up || !this.send(bytes)) {
      this.stats.dropped++;
      return false;
    }
    this.stats.bytesOut += bytes.length;
    this.stats.packetsOut++;
    return true;
  }
}
