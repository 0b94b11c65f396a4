/**
 * How long a vehicle may stay silent before the console shows its link as lost, judged per vehicle
 * from how often it has been speaking.
 *
 * A fixed threshold cannot serve both kinds of link a ground station meets:
 * - a vehicle streaming telemetry (ArduPilot sends each message at the rate asked with
 *   SET_MESSAGE_INTERVAL — here ATTITUDE and GLOBAL_POSITION_INT at 4 Hz, several others at 1–2 Hz —
 *   so something arrives every 50–250 ms) that goes quiet for one second has lost its link, and an
 *   operator must see it at once;
 * - a vehicle that only sends its 1 Hz HEARTBEAT (streams not yet requested, a reboot, a radio that
 *   carries only heartbeats) is silent for a second between every two messages, and must not flap.
 *
 * The display threshold is therefore `clamp(factor × recent largest gap, minMs, maxMs)`:
 * - `factor` 3: silence for three of the vehicle's own largest gaps means at least two consecutive
 *   messages of its sparsest cadence were missed. Radios lose single packets all the time (SiK
 *   radios at a few % loss, bursts of two or three); a heartbeat-only link that loses one heartbeat
 *   has a 2 s gap, right at 2 × its cadence, which 3 × 1 s (capped at 3 s) tolerates with a margin.
 * - `minMs` 750: the shortest silence ever called a lost link. A vehicle streaming at 4 Hz (the
 *   rate asked for ATTITUDE and GLOBAL_POSITION_INT) sends a burst every 250 ms, so its own rule
 *   already gives about 3 × 250–280 ms; the floor only matters for faster streams (at 10 Hz it is
 *   still seven missed bursts). It keeps "LINK LOST" on an open console within a second of the
 *   vehicle's last message (silence + the hub's sweep + the frame's way to the screen).
 * - `maxMs` the service's fixed stale threshold (DEFAULT_STALE_AFTER_MS, 3 s): never slower than before.
 * - "recent largest gap": the largest gap between consecutive messages over the last 5–10 s (two
 *   5 s buckets), so a 1 Hz heartbeat is always inside the window. Gaps longer than `maxMs` are
 *   outages, not a cadence, and are left out. When a vehicle's streams stop and only its heartbeats
 *   remain, the first gap is under a second (heartbeats went on beside the streams) and widens the
 *   threshold at once; only a heartbeat late by more than the floor shows that one silence as lost,
 *   and never again while the heartbeats keep coming.
 * - until the vehicle has been heard for `maxMs`, the threshold is `maxMs` (its cadence is unknown).
 *
 * Only what is displayed depends on this: the delivery logic and alerts judge link loss with their
 * own thresholds (the fleet's link timeout, the failsafe judgement), not from the frame's `stale`.
 *
 * Gaps are observed from the vehicle state's `lastSeenMs` whenever the hub looks at it (each state
 * it publishes and each sweep); two messages seen in one look count as one gap, which can only
 * overestimate a gap and so only make the threshold longer.
 */

export interface SilenceOptions {
  /** Multiple of the recent largest gap. Default 3. */
  factor?: number;
  /** Shortest threshold, ms. Default 750. */
  minMs?: number;
  /** Longest threshold (and the threshold while the cadence is unknown), ms. Default 3000. */
  maxMs?: number;
  /** Length of each of the two buckets of gaps, ms. Default 5000. */
  bucketMs?: number;
}

export const SILENCE_FACTOR = 3;
export const SILENCE_MIN_MS = 750;

interface Cadence {
  firstMs: number;
  lastMs: number;
  bucketStartMs: number;
  curMax: number;
  prevMax: number;
}

/** Per-vehicle silence thresholds from observed message times. */
export class SilenceJudge {
  private readonly factor: number;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly bucketMs: number;
  private readonly cadence = new Map<string, Cadence>();

  constructor(opts: SilenceOptions = {}) {
    this.factor = opts.factor ?? SILENCE_FACTOR;
    this.maxMs = opts.maxMs ?? 3000;
    this.minMs = Math.min(opts.minMs ?? SILENCE_MIN_MS, this.maxMs);
    this.bucketMs = opts.bucketMs ?? 5000;
    if (!(this.factor > 0 && this.minMs > 0 && this.bucketMs > 0)) throw new RangeError('factor, minMs and bucketMs must be > 0');
  }

  /** Note that vehicle `id` was last heard at `lastSeenMs` (called with the same time again is harmless). */
  observe(id: string, lastSeenMs: number): void {
    if (!Number.isFinite(lastSeenMs) || lastSeenMs <= 0) return;
    const c = this.cadence.get(id);
    if (!c) {
      this.cadence.set(id, { firstMs: lastSeenMs, lastMs: lastSeenMs, bucketStartMs: lastSeenMs, curMax: 0, prevMax: 0 });
      return;
    }
    if (lastSeenMs <= c.lastMs) return;
    const gap = lastSeenMs - c.lastMs;
    c.lastMs = lastSeenMs;
    this.roll(c, lastSeenMs);
    if (gap > this.maxMs) {
      // An outage: start learning the cadence again from here.
      c.firstMs = lastSeenMs;
      c.curMax = c.prevMax = 0;
      c.bucketStartMs = lastSeenMs;
      return;
    }
    if (gap > c.curMax) c.curMax = gap;
  }

  /** The silence (ms) after which vehicle `id` is shown stale, as of `nowMs`. */
  thresholdMs(id: string, nowMs: number): number {
    const c = this.cadence.get(id);
    if (!c || c.lastMs - c.firstMs < this.maxMs) return this.maxMs;
    this.roll(c, nowMs);
    const gap = Math.max(c.curMax, c.prevMax);
    return Math.round(Math.min(this.maxMs, Math.max(this.minMs, this.factor * gap)));
  }

  forget(id: string): void {
    this.cadence.delete(id);
  }

  private roll(c: Cadence, nowMs: number): void {
    const elapsed = nowMs - c.bucketStartMs;
    if (elapsed < this.bucketMs) return;
    // One bucket on: the current becomes the previous; two or more: both are empty.
    c.prevMax = elapsed < 2 * this.bucketMs ? c.curMax : 0;
    c.curMax = 0;
    c.bucketStartMs = elapsed < 2 * this.bucketMs ? c.bucketStartMs + this.bucketMs : nowMs;
  }
}
