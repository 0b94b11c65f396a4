/**
 * Tactical separation: while vehicles fly, any two predicted to come closer than the configured
 * separation (horizontally and vertically at once) within a short look-ahead raise an alert, and the
 * lower-priority one flying a mission is paused (DO_PAUSE_CONTINUE 0: the vehicle brakes and holds
 * where it is, in AUTO) until separation is restored, then continues (DO_PAUSE_CONTINUE 1). Every
 * command is audited before it leaves (who: `separation`, role `system`), its outcome after.
 *
 * A hold resolves crossings and catching up; it cannot resolve a vehicle flying straight at the one
 * that holds (head-on on one corridor): then both hold and an operator is alerted (critical). The
 * strategic deconfliction (airspace slots) keeps such flights apart in the first place.
 *
 * Velocities come from successive positions (a multicopter's heading is not its course), on the
 * vehicles' clock (`clockRate`: simulators at a speed-up).
 */
import { z } from 'zod';
import { localProjection } from '../../planner/geo';
import type { FleetHandle, VehicleState, CommandResult, VehicleHandle } from '../fleet/types';
import { PRIORITY_RANK, type Delivery } from './types';

export const SeparationPolicySchema = z
  .object({
    /** Watch the separation between flying vehicles (default true). */
    enabled: z.boolean().default(true),
    /** Horizontal separation, m (default 30). */
    horizontalM: z.number().min(1).max(5000).default(30),
    /** Vertical separation, m (default 10): vehicles this far apart in altitude are separated whatever the distance. */
    verticalM: z.number().min(1).max(500).default(10),
    /** Separation counts as restored only this far beyond it (hysteresis), m (default 15). */
    restoreMarginM: z.number().min(0).max(1000).default(15),
    /**
     * Look-ahead of the prediction on the vehicles' clock, s (default 20: two vehicles converging on
     * one compound at 10 m/s are seen early enough that the one giving way stops well short of it).
     */
    lookaheadS: z.number().min(0).max(120).default(20),
    /** Pause the lower-priority vehicle's mission (default true); false: alert only. */
    hold: z.boolean().default(true),
  })
  .strict();
export type SeparationPolicy = z.infer<typeof SeparationPolicySchema>;

interface Track {
  x: number;
  y: number;
  z: number;
  vx: number;
  vy: number;
  vz: number;
  atMs: number;
  /** Where the velocity is measured from. */
  anchor?: { x: number; y: number; atMs: number };
}

export interface SeparationHooks {
  fleet: FleetHandle;
  policy(): SeparationPolicy;
  /** The job a vehicle flies, if any. */
  jobFor(vehicleId: string): Delivery | undefined;
  alert(level: 'info' | 'warning' | 'critical', text: string, ids: { vehicleId?: string; deliveryId?: string }): void;
  event(deliveryId: string, event: string, detail: unknown): void;
  /** Write an audit row before the command leaves; returns its id. */
  audit(a: { action: string; vehicleId: string; deliveryId?: string; params: unknown }): number | Promise<number>;
  completeAudit(id: number, outcome: unknown): void | Promise<void>;
  /** The vehicles' clock runs this many times faster than the wall clock. Default 1. */
  clockRate?: number;
  log?: { warn(o: object, msg?: string): void };
}

/** A pair's closest approach within the look-ahead (relative motion, straight lines). */
export function closestApproach(a: Track, b: Track, lookaheadS: number): { nowH: number; nowV: number; minH: number; minV: number; closing: boolean } {
  const rx = b.x - a.x, ry = b.y - a.y, rz = b.z - a.z;
  const wx = b.vx - a.vx, wy = b.vy - a.vy, wz = b.vz - a.vz;
  const w2 = wx * wx + wy * wy;
  const tc = w2 > 1e-9 ? Math.max(0, Math.min(lookaheadS, -(rx * wx + ry * wy) / w2)) : 0;
  const minH = Math.hypot(rx + wx * tc, ry + wy * tc);
  // vertical: the least |dz| over [0, lookahead]
  const z1 = rz + wz * lookaheadS;
  const minV = rz * z1 <= 0 ? 0 : Math.min(Math.abs(rz), Math.abs(z1));
  return { nowH: Math.hypot(rx, ry), nowV: Math.abs(rz), minH, minV, closing: rx * wx + ry * wy < 0 };
}

const flying = (s: VehicleState) => s.connected && s.armed && !!s.position && (s.landedState === 2 || s.landedState === 3 || s.landedState === 4 || s.position.altRelM > 2);

export class SeparationMonitor {
  private readonly tracks = new Map<string, Track>();
  /** vehicle held → the vehicle it gives way to */
  private readonly held = new Map<string, { other: string; sinceMs: number; deliveryId?: string; vx: number; vy: number }>();
  /** pairs alerted and not yet restored ("a|b") */
  private readonly alerted = new Set<string>();
  private readonly pendingCmd = new Set<string>();
  private proj: ReturnType<typeof localProjection> | null = null;
  /** Closest approach seen between flying vehicles (current distances, not predictions). */
  readonly closest = { horizontalM: Infinity, verticalM: Infinity, at: '', pair: '' };
  private readonly onState = (s: VehicleState) => this.update(s);
  private lastCheckMs = 0;
  private pol: { value: SeparationPolicy; atMs: number } | null = null;

  constructor(private readonly h: SeparationHooks) {
    h.fleet.on('state', this.onState);
  }

  close(): void {
    this.h.fleet.off('state', this.onState);
  }

  /** Vehicles held for separation, with the one each gives way to. */
  holds(): Array<{ vehicleId: string; givesWayTo: string; since: string }> {
    return [...this.held].map(([vehicleId, x]) => ({ vehicleId, givesWayTo: x.other, since: new Date(x.sinceMs).toISOString() }));
  }

  private update(s: VehicleState): void {
    if (!s.position) return;
    const now = Date.now();
    this.proj ??= localProjection(s.position.lon, s.position.lat);
    const [x, y] = this.proj.toXY([s.position.lon, s.position.lat]);
    const z = s.position.altAmslM;
    const prev = this.tracks.get(s.id);
    if (!flying(s)) {
      this.tracks.delete(s.id);
      if (this.held.has(s.id)) this.held.delete(s.id);
      return;
    }
    // Every message updates the state; only a new position moves the track (and gives a velocity).
    if (prev && prev.x === x && prev.y === y && prev.z === z) {
      if (now - this.lastCheckMs >= 20) this.check(now);
      return;
    }
    // Velocity over at least a second of the vehicles' clock: positions arrive in bursts on the wall clock.
    const rate = this.h.clockRate ?? 1;
    let vx = prev?.vx ?? 0, vy = prev?.vy ?? 0;
    let anchor = prev?.anchor ?? { x, y, atMs: now };
    const dt = ((now - anchor.atMs) / 1000) * rate;
    if (dt >= 1) {
      if (dt < 5) {
        vx = (x - anchor.x) / dt;
        vy = (y - anchor.y) / dt;
      }
      anchor = { x, y, atMs: now };
    }
    this.tracks.set(s.id, { x, y, z, vx, vy, vz: s.climbMps, atMs: now, anchor });
    if (now - this.lastCheckMs >= 20) this.check(now);
  }

  private check(now: number): void {
    this.lastCheckMs = now;
    if (!this.pol || now - this.pol.atMs > 1000) this.pol = { value: this.h.policy(), atMs: now };
    const pol = this.pol.value;
    if (!pol.enabled) return;
    const ids = [...this.tracks.keys()].filter((id) => {
      const v = this.h.fleet.get(id);
      return !!v && flying(v.state) && now - v.state.lastSeenMs < 3000;
    });
    for (let i = 0; i < ids.length; i++)
      for (let j = i + 1; j < ids.length; j++) this.pair(ids[i], ids[j], pol, now);
    // Held vehicles whose conflict is over continue.
    for (const [id, x] of [...this.held]) {
      const a = this.tracks.get(id), b = this.tracks.get(x.other);
      if (!a || !b) {
        if (a) this.resume(id, x.deliveryId, 'the other vehicle landed or is no longer seen');
        continue;
      }
      // Restored when the other no longer closes on this one and is, and keeps, the separation and
      // the margin away horizontally, whether this one stays or goes on as it flew before the hold.
      // Not by altitude alone: a held vehicle resuming climbs or descends.
      const need = pol.horizontalM + pol.restoreMarginM;
      const staying = closestApproach({ ...a, vx: 0, vy: 0, vz: 0 }, b, pol.lookaheadS);
      const going = closestApproach({ ...a, vx: x.vx, vy: x.vy, vz: 0 }, b, pol.lookaheadS);
      if (!staying.closing && Math.min(staying.nowH, staying.minH, going.minH) >= need) this.resume(id, x.deliveryId, `${staying.nowH.toFixed(0)} m apart at ${staying.nowV.toFixed(0)} m vertically`);
    }
  }

  private pair(a: string, b: string, pol: SeparationPolicy, now: number): void {
    const ta = this.tracks.get(a)!, tb = this.tracks.get(b)!;
    const c = closestApproach(ta, tb, pol.lookaheadS);
    if (c.nowH < this.closest.horizontalM && c.nowV < pol.verticalM) Object.assign(this.closest, { horizontalM: c.nowH, verticalM: c.nowV, at: new Date(now).toISOString(), pair: `${a} ${b}` });
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    const conflict = Math.min(c.nowH, c.minH) < pol.horizontalM && Math.min(c.nowV, c.minV) < pol.verticalM;
    if (!conflict) {
      if (this.alerted.has(key) && c.nowH >= pol.horizontalM + pol.restoreMarginM) this.alerted.delete(key);
      return;
    }
    const giving = this.held.get(a)?.other === b ? a : this.held.get(b)?.other === a ? b : null;
    if (giving) {
      // One gives way already. If the other still closes on it where it holds, it holds too: an operator decides.
      const other = giving === a ? b : a;
      const still = { ...this.tracks.get(giving)!, vx: 0, vy: 0, vz: 0 };
      const c2 = closestApproach(still, this.tracks.get(other)!, pol.lookaheadS);
      if (c2.closing && c2.minH < pol.horizontalM && Math.min(c2.nowV, c2.minV) < pol.verticalM && pol.hold && !this.held.has(other) && !this.pendingCmd.has(other) && this.h.fleet.get(other)?.state.mode.startsWith('AUTO')) {
        const job = this.h.jobFor(other);
        const t = this.tracks.get(other)!;
        this.held.set(other, { other: giving, sinceMs: now, deliveryId: job?.id, vx: t.vx, vy: t.vy });
        this.h.alert('critical', `Separation: ${a} and ${b} ${c.nowH.toFixed(0)} m apart at ${c.nowV.toFixed(0)} m vertically (predicted ${c2.minH.toFixed(0)} m); both hold, operator action needed`, { vehicleId: other, deliveryId: job?.id });
        void this.command(other, true, job?.id, { givesWayTo: giving, horizontalM: round1(c.nowH), verticalM: round1(c.nowV), predictedM: round1(c2.minH), both: true });
      }
      return;
    }
    const [give, keep] = this.whoGivesWay(a, b, pol);
    const text = (who: string) => `Separation: ${a} and ${b} ${c.nowH.toFixed(0)} m apart at ${c.nowV.toFixed(0)} m vertically (predicted ${c.minH.toFixed(0)} m); ${who}`;
    const canHold = pol.hold && give !== null && !this.held.has(give) && !this.pendingCmd.has(give);
    if (!canHold) {
      if (!this.alerted.has(key)) {
        this.alerted.add(key);
        this.h.alert('critical', text('neither can hold'), { vehicleId: a });
      }
      return;
    }
    this.alerted.add(key);
    const job = this.h.jobFor(give!);
    const tg = this.tracks.get(give!)!;
    this.held.set(give!, { other: keep!, sinceMs: now, deliveryId: job?.id, vx: tg.vx, vy: tg.vy });
    this.h.alert('warning', text(`${give} holds`), { vehicleId: give!, deliveryId: job?.id });
    void this.command(give!, true, job?.id, { givesWayTo: keep, horizontalM: round1(c.nowH), verticalM: round1(c.nowV), predictedM: round1(c.minH) });
  }

  /**
   * The vehicle that gives way and the one that keeps going; null when neither can hold (not flying a
   * mission in AUTO). The lower priority (else the later job) gives way, unless only the other's hold
   * resolves the conflict (the first would still be flown into where it holds).
   */
  private whoGivesWay(a: string, b: string, pol: SeparationPolicy): [string | null, string | null] {
    const can = (id: string) => {
      const v = this.h.fleet.get(id);
      return !!v && v.state.mode.startsWith('AUTO') && !this.held.has(id);
    };
    const rank = (id: string) => {
      const d = this.h.jobFor(id);
      return d ? [PRIORITY_RANK[d.priority] ?? 9, d.createdAt] : [10, ''];
    };
    const [ra, rb] = [rank(a), rank(b)];
    // the lower priority (higher rank), then the later request
    const aLower = ra[0] !== rb[0] ? ra[0] > rb[0] : String(ra[1]) > String(rb[1]);
    const first = aLower ? a : b, second = aLower ? b : a;
    const resolves = (g: string, k: string) => {
      const c = closestApproach({ ...this.tracks.get(g)!, vx: 0, vy: 0, vz: 0 }, this.tracks.get(k)!, pol.lookaheadS);
      return Math.min(c.nowH, c.minH) >= pol.horizontalM || Math.min(c.nowV, c.minV) >= pol.verticalM;
    };
    if (can(first) && (resolves(first, second) || !can(second) || !resolves(second, first))) return [first, second];
    if (can(second)) return [second, first];
    return [null, null];
  }

  private resume(id: string, deliveryId: string | undefined, why: string): void {
    this.held.delete(id);
    this.h.alert('info', `Separation restored: ${id} continues (${why})`, { vehicleId: id, deliveryId });
    void this.command(id, false, deliveryId, { reason: why });
  }

  private async command(id: string, pause: boolean, deliveryId: string | undefined, params: Record<string, unknown>): Promise<void> {
    const v: VehicleHandle | undefined = this.h.fleet.get(id);
    if (!v) return;
    const action = pause ? 'separation.hold' : 'separation.continue';
    this.pendingCmd.add(id);
    let ack: CommandResult | null = null;
    try {
      const auditId = await this.h.audit({ action, vehicleId: id, deliveryId, params });
      ack = await v.pauseContinue(pause);
      await this.h.completeAudit(auditId, { ok: ack.ok, result: ack.result, attempts: ack.attempts });
      if (deliveryId) this.h.event(deliveryId, pause ? 'separation-hold' : 'separation-continue', { vehicleId: id, ...params, ack: { result: ack.result } });
    } catch (e) {
      this.h.log?.warn({ err: e, vehicleId: id }, `${action} failed`);
    } finally {
      this.pendingCmd.delete(id);
    }
    if (pause && ack && !ack.ok) {
      // Refused (not in a mission any more): nothing is held.
      this.held.delete(id);
      this.h.alert('critical', `Separation: ${id} refused to hold (${ack.result})`, { vehicleId: id, deliveryId });
    }
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;
