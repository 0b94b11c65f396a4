/**
 * The bus: subjects carry messages between link agents and service nodes (subjects.ts names them).
 * Two implementations behind one small interface:
 *
 * - MemoryBus (memory.ts): in this process, no server. The embedded default; also what tests of
 *   the agent and the bus link use when no NATS server runs.
 * - NatsBus (nats.ts): NATS, with JetStream for the recorded stream. The scaled deployment.
 *
 * Delivery is at most once and in order per publisher, as NATS core gives it; handlers are called
 * asynchronously (never inside publish). Subjects follow NATS rules: tokens separated by `.`,
 * `*` matches one token, `>` the rest.
 */
import type { EventEmitter } from 'events';

export interface BusMessage {
  subject: string;
  data: Uint8Array;
}

export interface BusSubscription {
  unsubscribe(): void;
}

/** A recorded message read back from a stream. */
export interface RecordedMessage {
  subject: string;
  data: Uint8Array;
  /** Stream sequence, from 1. */
  seq: number;
  /** When the stream stored it, ms since the epoch. */
  timeMs: number;
}

export interface RecordingOptions {
  /** Stream name, e.g. DROPLINE_TLOG. */
  stream: string;
  /** Subjects kept (wildcards allowed). */
  subjects: string[];
  /** Drop messages older than this. Default 14 days. */
  maxAgeMs?: number;
  /** Keep at most this many bytes (oldest dropped first). Default: no limit beyond the server's. */
  maxBytes?: number;
}

export interface ReadOptions {
  /** Only messages stored at or after this time (ms since the epoch). Default: from the first. */
  sinceMs?: number;
  /** At most this many messages. Default 100000. */
  limit?: number;
}

/**
 * Events: 'disconnected' when the connection to the server is lost, 'connected' when it is back
 * (a MemoryBus never loses it; closing on purpose emits neither).
 */
export interface PublishOptions {
  /** Send at the end of this turn of the event loop, not with the next round. */
  now?: boolean;
}

export interface Bus extends EventEmitter {
  readonly kind: 'memory' | 'nats';
  /** Where it connects (a NATS URL), or 'memory'. */
  readonly url: string;
  /** True while messages can flow. */
  readonly connected: boolean;
  /**
   * Fire and forget. Returns false when not connected (the message may be buffered by the client until it reconnects).
   * A bus may hold messages for a few milliseconds to send many at once (NatsBus `publishRoundMs`);
   * `opts.now` asks for this turn of the event loop (an answer someone waits for: a command, its
   * acknowledgement, a mission item).
   */
  publish(subject: string, data: Uint8Array, opts?: PublishOptions): boolean;
  subscribe(subject: string, handler: (m: BusMessage) => void): BusSubscription;
  /** Make sure every message on `subjects` is kept in stream `stream` (created, or updated to these subjects). */
  ensureRecording(opts: RecordingOptions): Promise<void>;
  /**
   * Read back what a stream holds on one subject, oldest first. Wildcards are allowed within one of
   * the stream's subjects (`dropline.fugou.*.rx`; NATS servers before 2.10 refuse a filter that spans
   * two, such as `dropline.fugou.radio1-3.*`: read .rx and .tx apart and merge by seq).
   */
  readRecorded(stream: string, subject: string, opts?: ReadOptions): Promise<RecordedMessage[]>;
  /** Delete a recorded stream and what it holds (tests, retiring a deployment). No error when it does not exist. */
  removeRecording(stream: string): Promise<void>;
  /** Resolves once everything published so far has reached the server. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export class BusError extends Error {
  constructor(readonly code: 'BUS_UNREACHABLE' | 'BUS_CLOSED' | 'INVALID_BUS_URL' | 'BUS_STREAM_FAILED' | 'NO_SUCH_STREAM', message: string) {
    super(message);
    this.name = 'BusError';
  }
}

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

export const DEFAULT_RECORDING_MAX_AGE_MS = 14 * 24 * 3600 * 1000;
