/**
 * Heartbeats on behalf of a service node, for one vehicle. GCS heartbeats tell the vehicle "an
 * operator can still command you" (DESIGN.md: the vehicle's failsafe belongs to the vehicle):
 *
 *   idle ──renew──▶ leased ──ttl passes──▶ grace ──grace passes──▶ stopped
 *                     ▲                      │                       │
 *                     └────────renew─────────┴───────────renew───────┘
 *
 * - idle: no node has held the vehicle since the agent started: no heartbeats.
 * - leased: a node renewed within its ttl: heartbeats.
 * - grace: the lease lapsed (the node died or restarts): heartbeats go on for `graceMs`, so a
 *   restart or a fail-over is invisible to the vehicle (ArduPilot's FS_GCS_TIMEOUT is 5 s).
 * - stopped: nobody can command the vehicle any more: no heartbeats, its own failsafe acts.
 *
 * Time comes from an injected clock, so this is tested with fake time.
 */
import { EventEmitter } from 'events';
import type { Clock, TimerHandle } from '../vehicle/clock';
import type { HeartbeatMode, LeaseRenewal } from '../bus/subjects';

export interface LeaseKeeperOptions {
  clock: Clock;
  /** Heartbeats go on this long after the lease lapses. Default 20000 ms. */
  graceMs?: number;
  /** A renewal's ttl is capped to this (a node cannot hold a vehicle for long without renewing). Default 10000 ms. */
  maxTtlMs?: number;
}

export const DEFAULT_GRACE_MS = 20_000;

/** Events: 'change' (HeartbeatMode, previous HeartbeatMode). */
export class LeaseKeeper extends EventEmitter {
  mode: HeartbeatMode = 'idle';
  /** The node holding (or last holding) the lease. */
  holder: string | null = null;
  /** When the lease lapses or lapsed. */
  leaseUntilMs: number | null = null;
  /** When the grace ends or ended (set once the lease lapsed). */
  graceUntilMs: number | null = null;
  readonly graceMs: number;
  private readonly maxTtlMs: number;
  private timer: TimerHandle | undefined;

  constructor(private readonly opts: LeaseKeeperOptions) {
    super();
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.maxTtlMs = opts.maxTtlMs ?? 10_000;
    if (!(this.graceMs >= 0)) throw Object.assign(new Error(`grace must be ≥ 0 ms, got ${opts.graceMs}`), { code: 'INVALID_OPTION' });
  }

  /** Heartbeats are wanted (leased or in grace). */
  get beating(): boolean {
    return this.mode === 'leased' || this.mode === 'grace';
  }

  /** A node renewed its lease. Malformed renewals are ignored (returns false). */
  renew(r: LeaseRenewal): boolean {
    if (!r || typeof r.node !== 'string' || !r.node || r.node.length > 200 || !(typeof r.ttlMs === 'number' && r.ttlMs > 0)) return false;
    const ttl = Math.min(r.ttlMs, this.maxTtlMs);
    this.holder = r.node;
    this.leaseUntilMs = this.opts.clock.now() + ttl;
    this.graceUntilMs = null;
    this.schedule(ttl, () => this.lapse());
    this.set('leased');
    return true;
  }

  private lapse(): void {
    const now = this.opts.clock.now();
    this.graceUntilMs = (this.leaseUntilMs ?? now) + this.graceMs;
    if (this.graceUntilMs <= now) {
      this.stopBeating();
      return;
    }
    this.schedule(this.graceUntilMs - now, () => this.stopBeating());
    this.set('grace');
  }

  private stopBeating(): void {
    this.clear();
    this.set('stopped');
  }

  private schedule(ms: number, fn: () => void): void {
    this.clear();
    this.timer = this.opts.clock.setTimeout(fn, ms);
  }

  private clear(): void {
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private set(mode: HeartbeatMode): void {
    if (mode === this.mode) return;
    const prev = this.mode;
    this.mode = mode;
    this.emit('change', mode, prev);
  }

  /** Forget the timers (the agent is closing). */
  dispose(): void {
    this.clear();
    this.removeAllListeners();
  }
}
