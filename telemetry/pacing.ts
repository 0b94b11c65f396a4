/**
 * How the telemetry hub (telemetry/hub.ts) paces frames: per viewer, or per group of viewers with the
 * same subscription, a token bucket per vehicle (`burstFrames` tokens, refilled at `rateHz`) and the
 * latest unsent frame per vehicle; and the `{type:'frames'}` message of a round, built once for
 * everyone sent the same set.
 */
import type { TimerHandle } from '../src/vehicle/clock';

export interface Entry {
  /** Unique per built frame: lets viewers that receive the same set share one encoded message. */
  n: number;
  id: string;
  json: string;
  /**
   * Nothing a viewer must see at once changed since the vehicle's previous frame (position, mode,
   * arming, landed state, link or staleness): such a frame does not take a viewer's last token, so
   * it never delays the next position; it goes out when the bucket is full, or rides with the next
   * frame (every frame carries the whole state).
   */
  lazy: boolean;
}

/**
 * How frames reach one viewer, or a group of viewers with the same subscription: a token bucket and
 * the latest unsent frame per vehicle.
 */
export interface Pace {
  rateHz: number;
  minIntervalMs: number;
  /** Token bucket per vehicle: tokens available at time `atMs`. */
  buckets: Map<string, { tokens: number; atMs: number }>;
  pending: Map<string, Entry>;
  /** Vehicles whose pending frame carries an urgent change (a lazy frame replacing it keeps it urgent). */
  urgent: Set<string>;
  timer: TimerHandle | null;
  timerAtMs: number;
}

export type Bucket = { tokens: number; atMs: number };

/** Tokens of `p`'s bucket for a vehicle at `now` (refilled at rateHz up to burstFrames). */
export function tokens(p: Pace, id: string, now: number, burstFrames: number): Bucket {
  let b = p.buckets.get(id);
  if (!b) {
    b = { tokens: burstFrames, atMs: now };
    p.buckets.set(id, b);
  } else if (now > b.atMs) {
    b.tokens = Math.min(burstFrames, b.tokens + ((now - b.atMs) * p.rateHz) / 1000);
    b.atMs = now;
  }
  return b;
}

/**
 * When the bucket holds a whole token again (≤ now when it does); for a lazy frame, when it is full
 * again (its token then costs no urgent frame a wait). 1% slack absorbs timer rounding.
 */
export function dueAt(p: Pace, b: Bucket, burstFrames: number, lazy = false): number {
  const need = lazy ? burstFrames - 0.01 : 0.99;
  return b.tokens >= need ? b.atMs : b.atMs + ((need - b.tokens) * 1000) / p.rateHz;
}

/**
 * The frames of `p` due now (their tokens taken, removed from pending), and when the next one is due
 * (Infinity: none pending).
 */
export function takeDue(p: Pace, now: number, burstFrames: number): { out: Entry[]; nextDue: number } {
  const out: Entry[] = [];
  let nextDue = Infinity;
  if (p.pending.size === 0) return { out, nextDue };
  for (const [id, e] of p.pending) {
    const b = tokens(p, id, now, burstFrames);
    const due = dueAt(p, b, burstFrames, !p.urgent.has(id));
    if (due <= now) {
      out.push(e);
      b.tokens = Math.max(0, b.tokens - 1);
    } else if (due < nextDue) nextDue = due;
  }
  for (const e of out) {
    p.pending.delete(e.id);
    p.urgent.delete(e.id);
  }
  return { out, nextDue };
}

/** One `{type:'frames'}` message of `out`, shared within a round by everyone sent the same set. */
export function encodeFrames(out: Entry[], now: number, shared: Map<string, Buffer>): Buffer {
  let key = '';
  for (const e of out) key += e.n + ',';
  let buf = shared.get(key);
  if (!buf) {
    let s = '{"type":"frames","t":' + now + ',"frames":[';
    for (let i = 0; i < out.length; i++) s += (i ? ',' : '') + out[i].json;
    buf = Buffer.from(s + ']}');
    shared.set(key, buf);
  }
  return buf;
}
