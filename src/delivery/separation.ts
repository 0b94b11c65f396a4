/**
 * Tactical separation: while vehicles fly, any two predicted to come closer than the configured
 * separation (horizontally and vertically at once) within a short look-ahead raise an alert, and one
 * of them gives way until separation is restored, then continues. Every command is audited before it
 * leaves (who: `separation`, role `system`), its outcome after.
 *
 * Prediction (route-prediction.ts): a vehicle flying its delivery mission is predicted along the
 * remaining route of that mission (from where it is, from its current item, at the plan's speeds),
 * so a flight about to turn, descend to its drop or come back along its corridor is seen as it will
 * fly; a vehicle without a known mission along its straight-line velocity (from successive positions,
 * on the vehicles' clock: simulators run at a speed-up).
 *
 * Resolution: the action that actually keeps them apart over the resolution horizon, in this order —
 * the lower-priority one holds (DO_PAUSE_CONTINUE 0: it brakes and holds in AUTO) if the other's
 * route keeps clear of where it stops; else the higher-priority one holds if that keeps clear (the
 * one whose route crosses the other's position goes on only once the way is clear); else one climbs
 * where it stands (DO_REPOSITION, COMMAND_INT in GUIDED: ArduCopter and PX4 both accept it in flight,
 * and ArduPilot checks it against the fence) to an altitude clear of the other's route, within the
 * airspace ceiling. A vehicle holding in another's path is never left there: it climbs out of it.
 * Two vehicles never hold for each other. It continues (DO_PAUSE_CONTINUE 1, or the mission's mode
 * again after a climb: the autopilot resumes the current item from where it is) once its remaining
 * route and every moving vehicle's keep the separation and the restore margin apart horizontally
 * over the horizon, whatever the altitudes (going on, it climbs or descends back to its route).
 */
import { z } from 'zod';
import { localProjection } from '../../planner/geo';
import { Cmd, type MissionItem } from '../mavlink/mission-item';
import type { FleetHandle, VehicleState, CommandResult, VehicleHandle } from '../fleet/types';
import { PRIORITY_RANK, type Delivery } from './types';
import {
  comparePaths,
  decide,
  expectedMotion,
  missionRoute,
  resumedMotion,
  trajectory,
  DEFAULT_MOTION,
  ALTITUDE_TOLERANCE_M,
  type Action,
  type FlightView,
  type MotionModel,
  type P3,
  type ResolveOptions,
} from './route-prediction';

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
     * Look-ahead of the conflict prediction on the vehicles' clock, s (default 20: two vehicles
     * converging on one compound at 10 m/s are seen early enough that the one giving way stops well
     * short of it).
     */
    lookaheadS: z.number().min(0).max(120).default(20),
    /** Horizon over which an action must keep the two apart, and a held vehicle's way must be clear to continue, s (default 60). */
    resolveHorizonS: z.number().min(1).max(600).default(60),
    /** Let one of the two give way (default true); false: alert only. */
    hold: z.boolean().default(true),
    /**
     * When holding does not separate them (head-on on one corridor): 'climb' sends one up where it
     * stands, within the airspace ceiling (default); 'off' alerts an operator instead.
     */
    divert: z.enum(['climb', 'off']).default('climb'),
    /** How far a vehicle sent up climbs, m (default 15; at least the vertical separation and 5 m more). */
    climbM: z.number().min(1).max(200).default(15),
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
  /** Highest altitude above home a vehicle may be sent to, m (the airspace ceiling). Default 110. */
  ceilingRelM?(): number;
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
/** Flying its mission (ArduPilot AUTO, PX4 AUTO.MISSION). */
const onMission = (mode: string) => mode === 'AUTO' || mode === 'AUTO.MISSION';
const STEP_S = 0.5;

/** A vehicle giving way. */
interface Giving {
  other: string;
  how: 'hold' | 'climb';
  sinceMs: number;
  deliveryId?: string;
  /** Where it holds (local frame, AMSL). */
  at: P3;
  /** The altitude it climbs to, AMSL. */
  toZ?: number;
  /** The mode to go back to after a climb. */
  resumeMode?: string;
}

/** A vehicle held for separation, as the API and the console show it. */
export interface SeparationHold {
  vehicleId: string;
  givesWayTo: string;
  how: 'hold' | 'climb';
  since: string;
  deliveryId?: string;
  /** Climbing to this altitude above home, m. */
  toAltRelM?: number;
}

export class SeparationMonitor {
  private readonly tracks = new Map<string, Track>();
  /** vehicle giving way → how, and to which vehicle */
  private readonly held = new Map<string, Giving>();
  /** pairs alerted and not yet restored ("a|b") */
  private readonly alerted = new Set<string>();
  /** pairs whose conflict no action resolves, alerted ("a|b") */
  private readonly unresolved = new Set<string>();
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

  /** Vehicles giving way for separation: to which vehicle, how, since when. */
  holds(): SeparationHold[] {
    return [...this.held].map(([vehicleId, x]) => {
      const s = this.h.fleet.get(vehicleId)?.state;
      const homeZ = s?.position ? s.position.altAmslM - s.position.altRelM : null;
      return {
        vehicleId,
        givesWayTo: x.other,
        how: x.how,
        since: new Date(x.sinceMs).toISOString(),
        ...(x.deliveryId ? { deliveryId: x.deliveryId } : {}),
        ...(x.how === 'climb' && x.toZ !== undefined && homeZ !== null ? { toAltRelM: round1(x.toZ - homeZ) } : {}),
      };
    });
  }

  /** How a vehicle gives way now, if it does. */
  holdOf(vehicleId: string): { givesWayTo: string; how: 'hold' | 'climb'; since: string; toAltRelM?: number } | undefined {
    if (!this.held.has(vehicleId)) return undefined;
    const { givesWayTo, how, since, toAltRelM } = this.holds().find((x) => x.vehicleId === vehicleId)!;
    return { givesWayTo, how, since, ...(toAltRelM !== undefined ? { toAltRelM } : {}) };
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

  /** The vehicle as the prediction sees it. */
  private view(id: string, pol: SeparationPolicy): FlightView {
    const t = this.tracks.get(id)!;
    const s = this.h.fleet.get(id)!.state;
    const job = this.h.jobFor(id);
    const giving = this.held.get(id);
    const homeZ = s.position!.altAmslM - s.position!.altRelM;
    const plan = job?.plan as { mission?: MissionItem[]; request?: { profile?: { cruiseSpeedMps?: number; climbRateMps?: number; descentRateMps?: number } } } | undefined;
    const prof = plan?.request?.profile;
    const model: MotionModel = {
      speedMps: prof?.cruiseSpeedMps ?? DEFAULT_MOTION.speedMps,
      climbMps: prof?.climbRateMps ?? DEFAULT_MOTION.climbMps,
      descentMps: prof?.descentRateMps ?? DEFAULT_MOTION.descentMps,
      brakeMps2: DEFAULT_MOTION.brakeMps2,
    };
    const pos = { x: t.x, y: t.y, z: t.z };
    const mission = (onMission(s.mode) || giving) && Array.isArray(plan?.mission) && s.mission.current > 0 ? plan!.mission : null;
    const route = mission ? missionRoute(mission, s.mission.current, homeZ, (ll) => this.proj!.toXY(ll), pos) : null;
    const rank = job ? ([PRIORITY_RANK[job.priority] ?? 9, String(job.createdAt)] as [number, string]) : ([10, ''] as [number, string]);
    const canDivert = pol.divert === 'climb' && (onMission(s.mode) || giving?.how === 'hold');
    return {
      id,
      rank,
      pos,
      groundSpeedMps: s.groundSpeedMps,
      route,
      velocity: { vx: t.vx, vy: t.vy, vz: t.vz },
      model,
      canPause: onMission(s.mode) && !giving,
      ceilingZ: canDivert ? homeZ + (this.h.ceilingRelM?.() ?? 110) : null,
      giving: giving ? { how: giving.how, at: giving.at, toZ: giving.toZ } : null,
    };
  }

  private options(pol: SeparationPolicy): ResolveOptions {
    return { horizontalM: pol.horizontalM, verticalM: pol.verticalM, horizonS: Math.max(pol.lookaheadS, pol.resolveHorizonS), stepS: STEP_S, climbM: Math.max(pol.climbM, pol.verticalM + 2 * ALTITUDE_TOLERANCE_M + 1), divert: pol.divert === 'climb' };
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
    const views = new Map(ids.map((id) => [id, this.view(id, pol)]));
    const paths = new Map(ids.map((id) => [id, trajectory(expectedMotion(views.get(id)!), pol.lookaheadS, STEP_S)]));
    for (let i = 0; i < ids.length; i++)
      for (let j = i + 1; j < ids.length; j++) this.pair(ids[i], ids[j], views, paths, pol, now);
    // Vehicles giving way whose way is clear continue.
    const o = this.options(pol);
    for (const [id, x] of [...this.held]) {
      if (this.pendingCmd.has(id)) continue;
      const me = views.get(id);
      if (!me) continue;
      if (!views.has(x.other)) {
        this.resume(id, x, 'the other vehicle landed or is no longer seen');
        continue;
      }
      // Its own remaining route against the vehicle it gave way to and every vehicle that moves: the
      // separation and the restore margin horizontally, whatever the altitudes (a vehicle going on
      // climbs or descends back to its route as fast as it can).
      const mine = trajectory(resumedMotion(me), o.horizonS, STEP_S);
      const needM = pol.horizontalM + pol.restoreMarginM;
      let clear = true;
      let nearest = Infinity;
      for (const [oid, ov] of views) {
        if (oid === id || (ov.giving && oid !== x.other)) continue;
        const p = comparePaths(mine, trajectory(expectedMotion(ov), o.horizonS, STEP_S), pol, STEP_S);
        if (p.minHAny < needM) {
          clear = false;
          break;
        }
        if (oid === x.other) nearest = p.minHAny;
      }
      if (clear) {
        const b = this.tracks.get(x.other)!, a = this.tracks.get(id)!;
        this.resume(id, x, `${Math.hypot(b.x - a.x, b.y - a.y).toFixed(0)} m apart at ${Math.abs(b.z - a.z).toFixed(0)} m vertically, ${Number.isFinite(nearest) ? nearest.toFixed(0) : '—'} m at the closest ahead`);
      }
    }
  }

  private pair(a: string, b: string, views: Map<string, FlightView>, paths: Map<string, P3[]>, pol: SeparationPolicy, now: number): void {
    const ta = this.tracks.get(a)!, tb = this.tracks.get(b)!;
    const nowH = Math.hypot(tb.x - ta.x, tb.y - ta.y), nowV = Math.abs(tb.z - ta.z);
    if (nowH < this.closest.horizontalM && nowV < pol.verticalM) Object.assign(this.closest, { horizontalM: nowH, verticalM: nowV, at: new Date(now).toISOString(), pair: `${a} ${b}` });
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    const p = comparePaths(paths.get(a)!, paths.get(b)!, pol, STEP_S);
    if (!p.conflict) {
      if (nowH >= pol.horizontalM + pol.restoreMarginM) {
        this.alerted.delete(key);
        this.unresolved.delete(key);
      }
      return;
    }
    if (this.pendingCmd.has(a) || this.pendingCmd.has(b)) return;
    const va = views.get(a)!, vb = views.get(b)!;
    const text = (predictedM: number, what: string) => `Separation: ${a} and ${b} ${nowH.toFixed(0)} m apart at ${nowV.toFixed(0)} m vertically (predicted ${Number.isFinite(predictedM) ? predictedM.toFixed(0) : '0'} m); ${what}`;
    if (!pol.hold) {
      if (!this.alerted.has(key)) {
        this.alerted.add(key);
        this.h.alert('critical', text(p.minH, 'neither can hold'), { vehicleId: a });
      }
      return;
    }
    // One already giving way to the other is the one that does more; the other is never made to give way to it.
    const only = this.held.get(a)?.other === b ? a : this.held.get(b)?.other === a ? b : undefined;
    const d = decide(va, vb, this.options(pol), only);
    if (!d.action) {
      // Neither can give way; or the one giving way already can do no more.
      if (only ? !this.unresolved.has(key) : !this.alerted.has(key)) {
        this.alerted.add(key);
        if (only) this.unresolved.add(key);
        this.h.alert('critical', text(p.minH, only ? 'no action keeps them apart, operator action needed' : 'neither can hold'), { vehicleId: only ?? a, deliveryId: only ? this.h.jobFor(only)?.id : undefined });
      }
      return;
    }
    const act = d.action;
    const already = this.held.get(act.vehicle);
    // The same action again (a climb under way that does not yet resolve): nothing new to command.
    if (already && already.how === act.kind) return;
    this.alerted.add(key);
    if (!d.resolves && !this.unresolved.has(key)) {
      this.unresolved.add(key);
      this.h.alert('critical', text(d.predictedM, 'no action keeps them apart, operator action needed'), { vehicleId: act.vehicle, deliveryId: this.h.jobFor(act.vehicle)?.id });
    }
    this.take(act, text(p.minH, act.kind === 'hold' ? `${act.vehicle} holds` : `${act.vehicle} climbs to ${this.relAlt(act.vehicle, act.toZ).toFixed(0)} m`), { horizontalM: round1(nowH), verticalM: round1(nowV), predictedM: round1(Number.isFinite(p.minH) ? p.minH : 0), resolves: d.resolves, ...(already ? { after: already.how } : {}) }, now);
  }

  private relAlt(id: string, z: number): number {
    const s = this.h.fleet.get(id)?.state;
    return s?.position ? z - (s.position.altAmslM - s.position.altRelM) : z;
  }

  private take(act: Action, alertText: string, params: Record<string, unknown>, now: number): void {
    const job = this.h.jobFor(act.vehicle);
    const prev = this.held.get(act.vehicle);
    const s = this.h.fleet.get(act.vehicle)?.state;
    const g: Giving = { other: act.other, how: act.kind, sinceMs: prev?.sinceMs ?? now, deliveryId: job?.id, at: act.at };
    if (act.kind === 'climb') {
      g.toZ = act.toZ;
      g.resumeMode = prev?.resumeMode ?? (s && onMission(s.mode) ? s.mode : s?.autopilot === 'px4' ? 'AUTO.MISSION' : 'AUTO');
    }
    this.held.set(act.vehicle, g);
    this.h.alert('warning', alertText, { vehicleId: act.vehicle, deliveryId: job?.id });
    const [lon, lat] = this.proj!.toLonLat([act.at.x, act.at.y]);
    const detail = { givesWayTo: act.other, ...params, ...(act.kind === 'climb' ? { toAltRelM: round1(this.relAlt(act.vehicle, act.toZ)), at: [round7(lon), round7(lat)] } : {}) };
    void this.command(act.vehicle, act.kind, job?.id, detail, prev);
  }

  private resume(id: string, x: Giving, why: string): void {
    this.held.delete(id);
    this.h.alert('info', `Separation restored: ${id} continues (${why})`, { vehicleId: id, deliveryId: x.deliveryId });
    void this.command(id, 'continue', x.deliveryId, { reason: why, after: x.how, ...(x.how === 'climb' ? { mode: x.resumeMode } : {}) }, x);
  }

  private send(v: VehicleHandle, kind: 'hold' | 'climb' | 'continue', g: Giving | undefined): Promise<CommandResult> {
    if (kind === 'hold') return v.pauseContinue(true);
    if (kind === 'continue') return g?.how === 'climb' ? v.setMode(g.resumeMode ?? 'AUTO') : v.pauseContinue(false);
    // DO_REPOSITION as COMMAND_INT, frame GLOBAL_INT (altitude AMSL), param2 bit 0: switch to GUIDED.
    const [lon, lat] = this.proj!.toLonLat([g!.at.x, g!.at.y]);
    return v.command({ command: Cmd.DO_REPOSITION, params: [-1, 1, 0, 0, Math.round(lat * 1e7), Math.round(lon * 1e7), round1(g!.toZ!)], useInt: true, frame: 5 });
  }

  private async command(id: string, kind: 'hold' | 'climb' | 'continue', deliveryId: string | undefined, params: Record<string, unknown>, prev: Giving | undefined): Promise<void> {
    const v: VehicleHandle | undefined = this.h.fleet.get(id);
    if (!v) return;
    const action = `separation.${kind}`;
    this.pendingCmd.add(id);
    let ack: CommandResult | null = null;
    try {
      const auditId = await this.h.audit({ action, vehicleId: id, deliveryId, params });
      ack = await this.send(v, kind, kind === 'continue' ? prev : this.held.get(id));
      await this.h.completeAudit(auditId, { ok: ack.ok, result: ack.result, attempts: ack.attempts });
      if (deliveryId) this.h.event(deliveryId, `separation-${kind}`, { vehicleId: id, ...params, ack: { result: ack.result } });
    } catch (e) {
      this.h.log?.warn({ err: e, vehicleId: id }, `${action} failed`);
    } finally {
      this.pendingCmd.delete(id);
    }
    if (kind !== 'continue' && ack && !ack.ok) {
      // Refused: it does what it did before (a held vehicle refused a climb stays held).
      if (prev && kind === 'climb') this.held.set(id, prev);
      else this.held.delete(id);
      this.h.alert('critical', `Separation: ${id} refused to ${kind} (${ack.result})`, { vehicleId: id, deliveryId });
    }
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round7 = (x: number) => Math.round(x * 1e7) / 1e7;
