/**
 * The in-process bus: subscriptions in a list, delivery on the next turn of the event loop, in
 * publish order. Recording keeps messages in memory (bounded by maxBytes, default 64 MiB, and
 * maxAgeMs), so the same code reads a recorded stream with or without a NATS server.
 */
import { EventEmitter } from 'events';
import {
  BusError,
  DEFAULT_RECORDING_MAX_AGE_MS,
  subjectMatches,
  type Bus,
  type BusMessage,
  type BusSubscription,
  type ReadOptions,
  type RecordedMessage,
  type RecordingOptions,
} from './bus';

interface Sub {
  pattern: string;
  handler: (m: BusMessage) => void;
  active: boolean;
}

interface MemoryStream {
  subjects: string[];
  maxAgeMs: number;
  maxBytes: number;
  bytes: number;
  nextSeq: number;
  messages: RecordedMessage[];
}

const DEFAULT_MEMORY_MAX_BYTES = 64 * 1024 * 1024;

export class MemoryBus extends EventEmitter implements Bus {
  readonly kind = 'memory' as const;
  readonly url = 'memory';
  private subs: Sub[] = [];
  private readonly streams = new Map<string, MemoryStream>();
  private queue: BusMessage[] = [];
  private scheduled = false;
  private closed = false;

  get connected(): boolean {
    return !this.closed;
  }

  publish(subject: string, data: Uint8Array): boolean {
    if (this.closed) return false;
    const copy = new Uint8Array(data); // the publisher may reuse its buffer
    this.record(subject, copy);
    this.queue.push({ subject, data: copy });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
    }
    return true;
  }

  private deliver(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const m of batch) {
      for (const s of this.subs) {
        if (!s.active || !subjectMatches(s.pattern, m.subject)) continue;
        try {
          s.handler(m);
        } catch (e) {
          if (this.listenerCount('error') > 0) this.emit('error', e);
        }
      }
    }
  }

  subscribe(subject: string, handler: (m: BusMessage) => void): BusSubscription {
    if (this.closed) throw new BusError('BUS_CLOSED', 'the bus is closed');
    const sub: Sub = { pattern: subject, handler, active: true };
    this.subs.push(sub);
    return {
      unsubscribe: () => {
        sub.active = false;
        this.subs = this.subs.filter((x) => x !== sub);
      },
    };
  }

  async ensureRecording(opts: RecordingOptions): Promise<void> {
    const s = this.streams.get(opts.stream);
    const maxAgeMs = opts.maxAgeMs ?? DEFAULT_RECORDING_MAX_AGE_MS;
    const maxBytes = opts.maxBytes ?? DEFAULT_MEMORY_MAX_BYTES;
    if (s) Object.assign(s, { subjects: [...opts.subjects], maxAgeMs, maxBytes });
    else this.streams.set(opts.stream, { subjects: [...opts.subjects], maxAgeMs, maxBytes, bytes: 0, nextSeq: 1, messages: [] });
  }

  private record(subject: string, data: Uint8Array): void {
    if (this.streams.size === 0) return;
    const now = Date.now();
    for (const s of this.streams.values()) {
      if (!s.subjects.some((p) => subjectMatches(p, subject))) continue;
      s.messages.push({ subject, data, seq: s.nextSeq++, timeMs: now });
      s.bytes += data.length;
      while (s.messages.length > 0 && (s.bytes > s.maxBytes || now - s.messages[0].timeMs > s.maxAgeMs)) s.bytes -= s.messages.shift()!.data.length;
    }
  }

  async readRecorded(stream: string, subject: string, opts: ReadOptions = {}): Promise<RecordedMessage[]> {
    const s = this.streams.get(stream);
    if (!s) throw new BusError('NO_SUCH_STREAM', `no stream ${stream}`);
    const since = opts.sinceMs ?? 0;
    const limit = opts.limit ?? 100_000;
    const out: RecordedMessage[] = [];
    for (const m of s.messages) {
      if (m.timeMs < since || !subjectMatches(subject, m.subject)) continue;
      out.push(m);
      if (out.length >= limit) break;
    }
    return out;
  }

  async removeRecording(stream: string): Promise<void> {
    this.streams.delete(stream);
  }

  async flush(): Promise<void> {
    await new Promise((r) => setImmediate(r));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subs = [];
    this.queue = [];
  }
}

/** A bus inside this process. */
export function createMemoryBus(): MemoryBus {
  return new MemoryBus();
}
