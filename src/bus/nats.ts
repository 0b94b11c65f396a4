/**
 * The bus on NATS (@nats-io/transport-node), with JetStream (@nats-io/jetstream) for recorded
 * streams. The connection reconnects forever once it has been made; the first connection must
 * succeed within `connectTimeoutMs` (BusError BUS_UNREACHABLE otherwise), so a wrong URL fails at
 * start rather than silently.
 */
import { EventEmitter } from 'events';
import os from 'os';
import { performance } from 'perf_hooks';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import {
  BusError,
  DEFAULT_RECORDING_MAX_AGE_MS,
  type Bus,
  type BusMessage,
  type BusSubscription,
  type PublishOptions,
  type ReadOptions,
  type RecordedMessage,
  type RecordingOptions,
} from './bus';

type NatsConnection = Awaited<ReturnType<typeof connect>>;
type Subscription = ReturnType<NatsConnection['subscribe']>;

export interface NatsBusOptions {
  /** nats://HOST:PORT (user:password@ allowed; never logged). */
  url: string;
  /** Connection name shown by the server. Default `dropline-<host>-<pid>`. */
  name?: string;
  /** Give up on the first connection after this long. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Wait between reconnect attempts. Default 250 ms. */
  reconnectWaitMs?: number;
  /**
   * Published messages reach the server in rounds at most this far apart (ms): a message that finds
   * the last round at least this long ago goes at the end of the current event-loop turn, otherwise
   * with the next round. Bounds the socket writes (a link agent's vehicles each publish from their own
   * read) to 1000/N a second. 0: a round every turn. Default 4 ms.
   */
  publishRoundMs?: number;
}

/** `nats://host:port` (or `host:port`) checked; user and password kept out of `url`. */
export function parseNatsUrl(url: string): { server: string; shown: string } {
  const bad = (why: string) => new BusError('INVALID_BUS_URL', `invalid bus URL ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}: ${why}`);
  const full = /^[a-z]+:\/\//.test(url) ? url : `nats://${url}`;
  let u: URL;
  try {
    u = new URL(full);
  } catch {
    throw bad('expected nats://HOST:PORT');
  }
  if (u.protocol !== 'nats:' && u.protocol !== 'tls:') throw bad('the scheme must be nats:// (or tls://)');
  if (!u.hostname) throw bad('no host');
  if (u.pathname && u.pathname !== '/') throw bad('no path after HOST:PORT');
  const port = u.port || '4222';
  return { server: full, shown: `${u.protocol}//${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${port}` };
}

export class NatsBus extends EventEmitter implements Bus {
  readonly kind = 'nats' as const;
  readonly url: string;
  private isUp = true;
  private closing = false;
  private jsmP: Promise<JetStreamManager> | undefined;
  /** Messages published during this turn of the event loop, handed to the client together (see publish). */
  private outbox: Array<{ subject: string; data: Uint8Array }> = [];
  private outboxScheduled = false;
  private outboxTimer: NodeJS.Timeout | null = null;
  /** A send at the end of this turn is scheduled (a message published with `now`). */
  private outboxNow = false;
  private lastRoundMs = -Infinity;

  private constructor(private readonly nc: NatsConnection, shown: string, private readonly publishRoundMs: number) {
    super();
    this.url = shown;
    // Every vehicle's link listens for the connection's ups and downs.
    this.setMaxListeners(0);
    void this.watch();
  }

  /** Connect; BusError BUS_UNREACHABLE when the server does not answer in time. */
  static async connect(opts: NatsBusOptions): Promise<NatsBus> {
    const { server, shown } = parseNatsUrl(opts.url);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: server,
        name: opts.name ?? `dropline-${os.hostname()}-${process.pid}`,
        timeout: opts.connectTimeoutMs ?? 5000,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: opts.reconnectWaitMs ?? 250,
        pingInterval: 5000,
        maxPingOut: 2,
      });
    } catch (e) {
      throw new BusError('BUS_UNREACHABLE', `cannot reach the bus at ${shown}: ${(e as Error).message}`);
    }
    return new NatsBus(nc, shown, Math.max(0, opts.publishRoundMs ?? 4));
  }

  private async watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closing) continue; // closing on purpose is not a lost connection
      if (s.type === 'disconnect') {
        if (this.isUp) {
          this.isUp = false;
          this.emit('disconnected');
        }
      } else if (s.type === 'reconnect') {
        if (!this.isUp) {
          this.isUp = true;
          this.emit('connected');
        }
      }
    }
  }

  get connected(): boolean {
    return this.isUp && !this.nc.isClosed();
  }

  /**
   * Queued and handed to the client in rounds (`publishRoundMs`), in order: the client writes what
   * it is given within one task as one socket write, and a link agent reads each vehicle's bytes in a
   * task of its own, so without rounds every frame would be a write (a system call) of its own. A
   * message waits at most the rest of the current turn, or until publishRoundMs after the last round.
   */
  publish(subject: string, data: Uint8Array, opts?: PublishOptions): boolean {
    if (this.nc.isClosed() || this.closing) return false;
    const max = this.nc.info?.max_payload;
    if (max !== undefined && data.byteLength > max) return false;
    this.outbox.push({ subject, data });
    if (opts?.now && !this.outboxNow) {
      // This turn: the round already waiting (with what it holds) goes now.
      this.outboxNow = true;
      if (this.outboxTimer) clearTimeout(this.outboxTimer);
      this.outboxTimer = null;
      this.outboxScheduled = true;
      setImmediate(this.sendOutbox);
    } else if (!this.outboxScheduled) {
      this.outboxScheduled = true;
      const wait = this.lastRoundMs + this.publishRoundMs - performance.now();
      if (wait <= 0) setImmediate(this.sendOutbox);
      else this.outboxTimer = setTimeout(this.sendOutbox, wait);
    }
    return this.isUp;
  }

  private readonly sendOutbox = (): void => {
    if (this.outboxTimer) clearTimeout(this.outboxTimer);
    this.outboxTimer = null;
    this.outboxScheduled = false;
    this.outboxNow = false;
    const out = this.outbox;
    if (out.length === 0) return;
    this.outbox = [];
    this.lastRoundMs = performance.now();
    if (this.nc.isClosed()) return;
    for (const m of out) {
      try {
        this.nc.publish(m.subject, m.data);
      } catch {
        /* the connection closed meanwhile: at most once, as NATS core */
      }
    }
  };

  subscribe(subject: string, handler: (m: BusMessage) => void): BusSubscription {
    if (this.nc.isClosed()) throw new BusError('BUS_CLOSED', 'the bus is closed');
    const sub: Subscription = this.nc.subscribe(subject, {
      callback: (err: Error | null, m: { subject: string; data: Uint8Array }) => {
        if (err) return;
        try {
          handler({ subject: m.subject, data: m.data });
        } catch (e) {
          if (this.listenerCount('error') > 0) this.emit('error', e);
        }
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  private jsm(): Promise<JetStreamManager> {
    this.jsmP ??= jetstreamManager(this.nc).catch((e) => {
      this.jsmP = undefined;
      throw new BusError('BUS_STREAM_FAILED', `JetStream is not available at ${this.url}: ${(e as Error).message} (start nats-server with -js)`);
    });
    return this.jsmP;
  }

  async ensureRecording(opts: RecordingOptions): Promise<void> {
    const jsm = await this.jsm();
    const maxAgeNs = Math.round((opts.maxAgeMs ?? DEFAULT_RECORDING_MAX_AGE_MS) * 1e6);
    const maxBytes = opts.maxBytes ?? -1;
    try {
      let info;
      try {
        info = await jsm.streams.info(opts.stream);
      } catch {
        info = null;
      }
      if (!info) {
        await jsm.streams.add({
          name: opts.stream,
          subjects: opts.subjects,
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          max_age: maxAgeNs,
          max_bytes: maxBytes,
          num_replicas: 1,
        });
        return;
      }
      const c = info.config;
      const same = c.subjects.length === opts.subjects.length && opts.subjects.every((s) => c.subjects.includes(s)) && c.max_age === maxAgeNs && c.max_bytes === maxBytes;
      if (!same) await jsm.streams.update(opts.stream, { subjects: opts.subjects, max_age: maxAgeNs, max_bytes: maxBytes });
    } catch (e) {
      throw new BusError('BUS_STREAM_FAILED', `stream ${opts.stream}: ${(e as Error).message}`);
    }
  }

  async readRecorded(stream: string, subject: string, opts: ReadOptions = {}): Promise<RecordedMessage[]> {
    await this.jsm();
    const js = jetstream(this.nc);
    const limit = opts.limit ?? 100_000;
    let consumer;
    try {
      consumer = await js.consumers.get(stream, {
        filter_subjects: subject,
        ...(opts.sinceMs !== undefined ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(opts.sinceMs).toISOString() } : { deliver_policy: DeliverPolicy.All }),
      });
    } catch (e) {
      const m = (e as Error).message;
      throw new BusError(/not found/i.test(m) ? 'NO_SUCH_STREAM' : 'BUS_STREAM_FAILED', `stream ${stream}: ${m}`);
    }
    const out: RecordedMessage[] = [];
    try {
      for (;;) {
        const batch = await consumer.fetch({ max_messages: Math.min(1000, limit - out.length), expires: 1000 });
        let got = 0;
        let pending = 0;
        for await (const m of batch) {
          got++;
          pending = m.info.pending;
          out.push({ subject: m.subject, data: m.data, seq: m.seq, timeMs: Math.floor(m.info.timestampNanos / 1e6) });
          if (out.length >= limit || pending === 0) break;
        }
        if (got === 0 || pending === 0 || out.length >= limit) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return out;
  }

  async removeRecording(stream: string): Promise<void> {
    const jsm = await this.jsm();
    try {
      await jsm.streams.delete(stream);
    } catch (e) {
      if (!/not found/i.test((e as Error).message)) throw new BusError('BUS_STREAM_FAILED', `stream ${stream}: ${(e as Error).message}`);
    }
  }

  async flush(): Promise<void> {
    this.sendOutbox();
    if (!this.nc.isClosed()) await this.nc.flush();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.sendOutbox();
    this.closing = true;
    if (!this.nc.isClosed()) {
      await this.nc.drain().catch(() => this.nc.close());
    }
    this.isUp = false;
  }
}
