/**
 * Battery swaps seen in telemetry. A vehicle that landed is not ready until its pack is above the
 * policy's launch threshold; an operator records a swap (POST /api/vehicles/:id/battery-swap), and
 * this watcher records one the vehicle's own charge shows: while the vehicle is disarmed, its
 * remaining charge rises by at least 30 percentage points between two readings, or from below the
 * launch threshold (the policy's minBatteryPct) to 90 % or more. Each rise is recorded once
 * (source 'telemetry', with the readings before and after), and not at all when a swap was recorded
 * for the vehicle by an operator in the 10 minutes before (the same pack), or by telemetry in the
 * minute before (another node sharing the store saw the same reading).
 *
 * Readings without a measured pack (no battery message yet, or a voltage of 0) are not readings.
 * Replays re-send old telemetry: never watched.
 */
import type { BatterySwapRow, BatterySwapInput } from '../store';
import type { VehicleState } from './types';

/** A rise of this many percentage points while disarmed is a fresh pack. */
export const SWAP_RISE_PCT = 30;
/** From below the launch threshold to this charge or more is a fresh pack. */
export const SWAP_FULL_PCT = 90;
/** A swap an operator recorded this recently is the one telemetry sees (ms). */
export const OPERATOR_WINDOW_MS = 10 * 60_000;
/** A swap telemetry recorded this recently (another node, same reading) is not recorded again (ms). */
export const TELEMETRY_WINDOW_MS = 60_000;

export interface BatteryReading {
  vehicleId: string;
  armed: boolean;
  /** Remaining charge, %; null when the vehicle reports no measured pack. */
  pct: number | null;
  atMs: number;
}

export interface SwapSeen {
  vehicleId: string;
  fromPct: number;
  toPct: number;
  atMs: number;
}

/** Whether a rise of the charge from `fromPct` to `toPct` is a fresh pack. */
export function isFreshPack(fromPct: number, toPct: number, launchPct: number): boolean {
  return toPct - fromPct >= SWAP_RISE_PCT || (fromPct < launchPct && toPct >= SWAP_FULL_PCT);
}

/** The charge a vehicle's state reports, or null without a measured pack. */
export function readingOf(s: Pick<VehicleState, 'id' | 'armed' | 'battery'>, atMs: number): BatteryReading {
  const b = s.battery;
  const pct = b && b.voltageV > 0 && Number.isFinite(b.remainingPct) && b.remainingPct >= 0 && b.remainingPct <= 100 ? b.remainingPct : null;
  return { vehicleId: s.id, armed: s.armed, pct, atMs };
}

/** Pure: compares each vehicle's reading with its previous one. */
export class BatterySwapDetector {
  private readonly last = new Map<string, number>();

  /** One reading: the swap it shows, or null. The reading becomes the vehicle's previous one. */
  observe(r: BatteryReading, launchPct: number): SwapSeen | null {
    if (r.pct === null) return null;
    const prev = this.last.get(r.vehicleId);
    this.last.set(r.vehicleId, r.pct);
    if (prev === undefined || r.armed || r.pct <= prev) return null;
    return isFreshPack(prev, r.pct, launchPct) ? { vehicleId: r.vehicleId, fromPct: prev, toPct: r.pct, atMs: r.atMs } : null;
  }

  forget(vehicleId: string): void {
    this.last.delete(vehicleId);
  }
}

type Recent = Pick<BatterySwapRow, 'id' | 'source' | 'at' | 'confirmsId'>;

/** Whether a swap seen in telemetry at `nowMs` was recorded already (newest first or in any order). */
export function alreadyRecorded(recent: Recent[], nowMs: number): boolean {
  return recent.some((r) => {
    const age = nowMs - Date.parse(r.at);
    return r.source === 'operator' ? age <= OPERATOR_WINDOW_MS : age <= TELEMETRY_WINDOW_MS;
  });
}

/**
 * The telemetry swap an operator's record at `nowMs` confirms: the newest one seen in the 10 minutes
 * before that no other record confirms yet (null when none: a swap of its own).
 */
export function confirmedSwap(recent: Recent[], nowMs: number): number | null {
  const confirmed = new Set(recent.map((r) => r.confirmsId).filter((x): x is number => x !== null));
  const c = recent
    .filter((r) => r.source === 'telemetry' && nowMs - Date.parse(r.at) <= OPERATOR_WINDOW_MS && !confirmed.has(r.id))
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || b.id - a.id)[0];
  return c ? c.id : null;
}

export interface BatterySwapWatcherDeps {
  fleet: { on(ev: 'state', fn: (s: VehicleState) => void): unknown; off(ev: 'state', fn: (s: VehicleState) => void): unknown };
  store: {
    recordBatterySwap(s: BatterySwapInput): Promise<BatterySwapRow>;
    listBatterySwaps(vehicleId: string, q?: { limit?: number; since?: string }): Promise<BatterySwapRow[]>;
  };
  /** The launch threshold now (the policy's minBatteryPct). */
  launchPct: () => Promise<number>;
  onRecorded?: (row: BatterySwapRow) => void;
  log?: { warn(obj: unknown, msg: string): void };
  now?: () => number;
}

/** Watches the fleet's states and records the swaps they show. */
export class BatterySwapWatcher {
  private readonly detector = new BatterySwapDetector();
  private launch = 60;
  private launchReadMs = -Infinity;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly now: () => number;
  private readonly onState = (s: VehicleState) => this.observe(s);

  constructor(private readonly deps: BatterySwapWatcherDeps) {
    this.now = deps.now ?? Date.now;
    deps.fleet.on('state', this.onState);
    this.refreshLaunch();
  }

  /** Resolves once every swap seen so far is recorded (or given up). */
  idle(): Promise<void> {
    return this.chain;
  }

  close(): Promise<void> {
    this.closed = true;
    this.deps.fleet.off('state', this.onState);
    return this.chain;
  }

  private refreshLaunch(): void {
    this.launchReadMs = this.now();
    this.deps.launchPct().then(
      (p) => void (Number.isFinite(p) && (this.launch = p)),
      (e) => this.deps.log?.warn({ err: e }, 'launch threshold not read'),
    );
  }

  private observe(s: VehicleState): void {
    if (this.closed || s.id.startsWith('replay-')) return;
    const now = this.now();
    if (now - this.launchReadMs > 5_000) this.refreshLaunch();
    const seen = this.detector.observe(readingOf(s, now), this.launch);
    if (seen) this.chain = this.chain.then(() => this.record(seen));
  }

  private async record(seen: SwapSeen): Promise<void> {
    try {
      const since = new Date(seen.atMs - OPERATOR_WINDOW_MS).toISOString();
      const recent = await this.deps.store.listBatterySwaps(seen.vehicleId, { since, limit: 50 });
      if (alreadyRecorded(recent, seen.atMs)) return;
      const row = await this.deps.store.recordBatterySwap({
        vehicleId: seen.vehicleId,
        source: 'telemetry',
        at: new Date(seen.atMs).toISOString(),
        fromPct: seen.fromPct,
        toPct: seen.toPct,
      });
      this.deps.onRecorded?.(row);
    } catch (e) {
      this.deps.log?.warn({ err: e, vehicleId: seen.vehicleId }, 'battery swap not recorded');
    }
  }
}
