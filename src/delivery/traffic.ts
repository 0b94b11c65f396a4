/**
 * Manned aircraft (ADS-B) against our flights.
 *
 * The judge (`judgeFlight`, pure): each aircraft of the traffic picture (src/fleet/traffic.ts) is
 * projected straight along its track at its speed and vertical speed for `horizonS`; each flight
 * along its remaining route (route-prediction.ts: the mission from its current item at the plan's
 * speeds; standing still while held; its velocity without a mission). A threat is an aircraft
 * closer than `alertM` horizontally and `alertVerticalM` vertically at the same time (an aircraft
 * without a valid altitude counts as within the vertical band). The suggested action:
 * - 'land' when the closest approach is within `landWithinS` (60 s) and nearer than `landBelowM` (500 m);
 * - 'descend' to the lowest cruise layer when the flight is above it and, there, every sample where
 *   the aircraft is within `alertM` keeps `alertVerticalM` below it;
 * - 'hold' otherwise.
 *
 * The monitor (`TrafficMonitor`) runs the judge every half second for every flying vehicle and
 * alerts (critical) once per threat and whenever the suggested action becomes more severe. With
 * policy `action: 'auto'` it sends the suggestion (audited before it leaves, user `traffic`, role
 * `system`; hold: DO_PAUSE_CONTINUE 0, or where the vehicle refuses the pause (ArduCopter during
 * take-off and landing) BRAKE (PX4: Hold); land: LAND; descend: DO_REPOSITION in GUIDED where it
 * stands; hold and descend only to a vehicle flying its mission, the others get the suggestion),
 * and a held or descended flight continues (DO_PAUSE_CONTINUE 1, or its mission mode) once no
 * aircraft threatens its remaining route for `clearS` (30 s) on the vehicles' clock. A landing is
 * never undone. A threat that passes raises an info alert.
 */
import { z } from 'zod';
import { localProjection } from '../../planner/geo';
import { Cmd, type MissionItem } from '../mavlink/mission-item';
import type { CommandResult, FleetHandle, VehicleHandle, VehicleState } from '../fleet/types';
import type { Aircraft } from '../fleet/traffic';
import type { Delivery } from './types';
import { DEFAULT_MOTION, missionRoute, trajectory, type Motion, type MotionModel, type P3 } from './route-prediction';

export const TrafficPolicySchema = z
  .object({
    /** Judge manned aircraft against flights (default true). */
    enabled: z.boolean().default(true),
    /** Look-ahead of the prediction on the vehicles' clock, s (default 60). */
    horizonS: z.number().min(5).max(600).default(60),
    /** Horizontal distance that makes a threat, m (default 2000). */
    alertM: z.number().min(50).max(20_000).default(2000),
    /** Vertical distance that makes a threat (with the horizontal one), m (default 300). */
    alertVerticalM: z.number().min(10).max(3000).default(300),
    /** 'suggest': alert with the suggested action (default); 'auto': send it. */
    action: z.enum(['suggest', 'auto']).default('suggest'),
    /** A held or descended flight continues after this long without a threat, s on the vehicles' clock (default 30; auto only). */
    clearS: z.number().min(0).max(600).default(30),
  })
  .strict();
export type TrafficPolicy = z.infer<typeof TrafficPolicySchema>;

export type TrafficAction = 'hold' | 'descend' | 'land';
const SEVERITY: Record<TrafficAction, number> = { descend: 1, hold: 2, land: 3 };

/** An aircraft in the local frame: position (z AMSL, NaN when unknown) and velocity, m and m/s. */
export interface AircraftTrack {
  icao: string;
  callsign: string;
  pos: P3;
  vx: number;
  vy: number;
  vz: number;
}

export interface JudgeOptions {
  horizonS: number;
  alertM: number;
  alertVerticalM: number;
  stepS: number;
  /** The lowest cruise layer, AMSL; null: no descent offered. */
  lowestLayerZ: number | null;
  /** Default 60 s and 500 m. */
  landWithinS?: number;
  landBelowM?: number;
}

export interface Threat {
  icao: string;
  callsign: string;
  /** Horizontal distance now, m. */
  nowM: number;
  /** Least horizontal distance within the vertical band over the horizon, m. */
  minM: number;
  /** Seconds to that closest approach. */
  tcaS: number;
  /** Vertical distance at the closest approach, m (0 when the aircraft reports no altitude). */
  verticalM: number;
  action: TrafficAction;
  /** For 'descend': the altitude to go to, AMSL. */
  toZ?: number;
}

/** The aircraft's straight-line path, sampled like `trajectory`. */
export function aircraftPath(a: AircraftTrack, horizonS: number, stepS: number): P3[] {
  return trajectory({ kind: 'velocity', from: a.pos, vx: a.vx, vy: a.vy, vz: a.vz }, horizonS, stepS);
}

/** An aircraft's track from its report, advanced to now by `ageS`, in the frame of `toXY`. */
export function trackOf(a: Aircraft, toXY: (ll: [number, number]) => [number, number], ageS: number): AircraftTrack {
  const [x, y] = toXY([a.lon, a.lat]);
  const h = ((a.headingDeg ?? 0) * Math.PI) / 180;
  const sp = a.headingDeg === null ? 0 : a.speedMps;
  const vx = sp * Math.sin(h), vy = sp * Math.cos(h), vz = a.climbMps;
  const age = Math.max(0, Math.min(30, ageS));
  const z = a.altAmslM === null ? NaN : a.altAmslM + vz * age;
  return { icao: a.icao, callsign: a.callsign, pos: { x: x + vx * age, y: y + vy * age, z }, vx, vy, vz };
}

/**
 * Threats to one flight (pure): `flight` is its path sampled every `stepS` from now (trajectory()).
 * The most severe first.
 */
export function judgeFlight(flight: readonly P3[], aircraft: readonly AircraftTrack[], o: JudgeOptions, paths?: ReadonlyArray<readonly P3[]>): Threat[] {
  const landWithinS = o.landWithinS ?? 60, landBelowM = o.landBelowM ?? 500;
  const out: Threat[] = [];
  // How far the flight goes from where it is over the horizon: aircraft that cannot come within
  // alertM of that are passed over without sampling (a county of drones, a few aircraft far away).
  const f0 = flight[0];
  let reach = 0;
  for (const p of flight) reach = Math.max(reach, Math.abs(p.x - f0.x) + Math.abs(p.y - f0.y));
  for (let i = 0; i < aircraft.length; i++) {
    const a = aircraft[i];
    const travel = Math.hypot(a.vx, a.vy) * o.horizonS;
    if (Math.hypot(a.pos.x - f0.x, a.pos.y - f0.y) - travel - reach >= o.alertM) continue;
    const ap = paths?.[i] ?? aircraftPath(a, o.horizonS, o.stepS);
    const n = Math.min(ap.length, flight.length);
    const noAlt = !Number.isFinite(a.pos.z);
    let threat = false, minM = Infinity, tcaS = 0, vAt = 0;
    for (let k = 0; k < n; k++) {
      const dx = ap[k].x - flight[k].x, dy = ap[k].y - flight[k].y;
      const h = Math.sqrt(dx * dx + dy * dy);
      const v = noAlt ? 0 : Math.abs(ap[k].z - flight[k].z);
      if (v >= o.alertVerticalM) continue;
      if (h < minM) (minM = h), (tcaS = k * o.stepS), (vAt = v);
      if (h < o.alertM) threat = true;
    }
    if (!threat) continue;
    const a0 = ap[0];
    const t: Threat = { icao: a.icao, callsign: a.callsign, nowM: Math.hypot(a0.x - f0.x, a0.y - f0.y), minM, tcaS, verticalM: vAt, action: 'hold' };
    if (tcaS <= landWithinS && minM < landBelowM) t.action = 'land';
    else if (o.lowestLayerZ !== null && !noAlt && f0.z > o.lowestLayerZ + 2) {
      const toZ = o.lowestLayerZ;
      let clears = true;
      for (let k = 0; k < n && clears; k++) {
        const dx = ap[k].x - flight[k].x, dy = ap[k].y - flight[k].y;
        if (Math.sqrt(dx * dx + dy * dy) < o.alertM && Math.abs(ap[k].z - toZ) < o.alertVerticalM) clears = false;
      }
      if (clears) (t.action = 'descend'), (t.toZ = toZ);
    }
    out.push(t);
  }
  return out.sort((p, q) => SEVERITY[q.action] - SEVERITY[p.action] || p.minM - q.minM);
}

// ------------------------------------------------------------------------------------------ monitor

export interface TrafficHooks {
  fleet: FleetHandle;
  /** The aircraft heard now. */
  aircraft(): Aircraft[];
  policy(): TrafficPolicy;
  /** The lowest cruise layer above home, m (airspace.layersM); null: no descent. */
  lowestLayerRelM(): number | null;
  jobFor(vehicleId: string): Delivery | undefined;
  alert(level: 'info' | 'warning' | 'critical', text: string, ids: { vehicleId?: string; deliveryId?: string }): void;
  event(deliveryId: string, event: string, detail: unknown): void;
  audit(a: { action: string; vehicleId: string; deliveryId?: string; params: unknown }): number | Promise<number>;
  completeAudit(id: number, outcome: unknown): void | Promise<void>;
  /** Told just before a command leaves for a vehicle, so that its mode change (LAND) is not read as the vehicle's own failsafe. */
  commanding?(vehicleId: string, action: string): void;
  /** The vehicles' clock runs this many times faster than the wall clock. Default 1. */
  clockRate?: number;
  log?: { warn(o: object, msg?: string): void };
}

/** A flight's threat as the API and the console show it. */
export interface TrafficThreatView {
  vehicleId: string;
  deliveryId?: string;
  icao: string;
  callsign: string;
  distanceM: number;
  minM: number;
  tcaS: number;
  action: TrafficAction;
  /** What was done: 'suggested' (policy suggest), or the command sent and its result. */
  taken: 'suggested' | TrafficAction;
  since: string;
}

interface VehicleWatch {
  /** The threat alerted (most severe), while it lasts. */
  threat: Threat | null;
  sinceMs: number;
  /** The most severe action alerted during this encounter. */
  alerted: TrafficAction | null;
  /** The command in force (auto): what it did. */
  taken: TrafficAction | null;
  resumeMode?: string;
  /**
   * The hold is a mode (BRAKE; PX4: Hold), not a pause of the mission: the vehicle refused the pause
   * (ArduCopter pauses only on the way to a waypoint, not during take-off or landing). It continues
   * by going back to `resumeMode`.
   */
  holdMode?: string;
  /** Wall ms since when no threat was seen (while a command is in force). */
  clearSinceMs: number | null;
  deliveryId?: string;
  aircraftAlerted: Set<string>;
}

const STEP_S = 0.5;
const flying = (s: VehicleState) => s.connected && s.armed && !!s.position && (s.landedState === 2 || s.landedState === 3 || s.landedState === 4 || s.position.altRelM > 2);
const onMission = (mode: string) => mode === 'AUTO' || mode === 'AUTO.MISSION';
const round1 = (x: number) => Math.round(x * 10) / 10;

export class TrafficMonitor {
  private readonly watch = new Map<string, VehicleWatch>();
  private readonly pending = new Set<string>();
  private proj: ReturnType<typeof localProjection> | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly h: TrafficHooks, tickMs = 500) {
    this.timer = setInterval(() => {
      try {
        this.check(Date.now());
      } catch (e) {
        h.log?.warn({ err: e }, 'traffic check failed');
      }
    }, tickMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Flights threatened now. */
  threats(): TrafficThreatView[] {
    const out: TrafficThreatView[] = [];
    for (const [vehicleId, w] of this.watch) {
      const t = w.threat;
      if (!t) continue;
      out.push({ vehicleId, ...(w.deliveryId ? { deliveryId: w.deliveryId } : {}), icao: t.icao, callsign: t.callsign, distanceM: Math.round(t.nowM), minM: Math.round(t.minM), tcaS: Math.round(t.tcaS), action: t.action, taken: w.taken ?? 'suggested', since: new Date(w.sinceMs).toISOString() });
    }
    return out;
  }

  threatOf(vehicleId: string): Omit<TrafficThreatView, 'vehicleId' | 'deliveryId'> | undefined {
    const t = this.threats().find((x) => x.vehicleId === vehicleId);
    if (!t) return undefined;
    const { vehicleId: _v, deliveryId: _d, ...rest } = t;
    return rest;
  }

  /** How a vehicle is expected to move: as it flies now, and as it would once it continues. */
  private motions(s: VehicleState, w: VehicleWatch | undefined): { now: Motion; resumed: Motion } {
    const p = s.position!;
    const [x, y] = this.proj!.toXY([p.lon, p.lat]);
    const pos = { x, y, z: p.altAmslM };
    const homeZ = p.altAmslM - p.altRelM;
    const job = this.h.jobFor(s.id);
    const plan = job?.plan as { mission?: MissionItem[]; request?: { profile?: { cruiseSpeedMps?: number; climbRateMps?: number; descentRateMps?: number } } } | undefined;
    const prof = plan?.request?.profile;
    const model: MotionModel = { speedMps: prof?.cruiseSpeedMps ?? DEFAULT_MOTION.speedMps, climbMps: prof?.climbRateMps ?? DEFAULT_MOTION.climbMps, descentMps: prof?.descentRateMps ?? DEFAULT_MOTION.descentMps, brakeMps2: DEFAULT_MOTION.brakeMps2 };
    const route = Array.isArray(plan?.mission) && s.mission.current > 0 ? missionRoute(plan!.mission, s.mission.current, homeZ, (ll) => this.proj!.toXY(ll), pos) : null;
    const h = (s.headingDeg * Math.PI) / 180;
    const velocity: Motion = { kind: 'velocity', from: pos, vx: s.groundSpeedMps * Math.sin(h), vy: s.groundSpeedMps * Math.cos(h), vz: s.climbMps };
    const resumed: Motion = route && route.length > 0 ? { kind: 'route', from: pos, route, model } : velocity;
    if (w?.taken === 'hold') return { now: { kind: 'still', at: pos }, resumed };
    if (w?.taken === 'descend' && w.threat?.toZ !== undefined) return { now: { kind: 'vertical', at: pos, toZ: w.threat.toZ, model }, resumed };
    if (w?.taken === 'land') return { now: { kind: 'vertical', at: pos, toZ: homeZ, model }, resumed: { kind: 'vertical', at: pos, toZ: homeZ, model } };
    return { now: onMission(s.mode) ? resumed : velocity, resumed };
  }

  check(nowMs: number): void {
    const pol = this.h.policy();
    const rate = this.h.clockRate ?? 1;
    const list = pol.enabled ? this.h.aircraft() : [];
    const vehicles = this.h.fleet.vehicles().filter((v) => flying(v.state) && !v.id.startsWith('replay-'));
    for (const id of [...this.watch.keys()]) if (!vehicles.some((v) => v.id === id)) this.forget(id);
    if (vehicles.length === 0) return;
    const first = vehicles[0].state.position!;
    this.proj ??= localProjection(first.lon, first.lat);
    const tracks = list.map((a) => trackOf(a, (ll) => this.proj!.toXY(ll), ((nowMs - a.seenMs) / 1000) * rate));
    const paths = tracks.map((a) => aircraftPath(a, pol.horizonS, STEP_S));
    for (const v of vehicles) {
      const s = v.state;
      if (this.pending.has(s.id)) continue;
      const w = this.watch.get(s.id);
      const homeZ = s.position!.altAmslM - s.position!.altRelM;
      const layer = this.h.lowestLayerRelM();
      const o: JudgeOptions = { horizonS: pol.horizonS, alertM: pol.alertM, alertVerticalM: pol.alertVerticalM, stepS: STEP_S, lowestLayerZ: layer === null ? null : homeZ + layer };
      const m = this.motions(s, w);
      const threats = tracks.length ? judgeFlight(trajectory(m.now, pol.horizonS, STEP_S), tracks, o, paths) : [];
      const top = threats[0] ?? null;
      if (top) this.threatened(v, w, top, threats, pol, nowMs);
      else if (w) this.calm(v, w, m.resumed, tracks, paths, o, pol, nowMs);
    }
  }

  private text(vehicleId: string, t: Threat): string {
    return `Traffic: ${t.callsign} predicted ${t.minM.toFixed(0)} m from ${vehicleId} in ${t.tcaS.toFixed(0)} s (${t.verticalM.toFixed(0)} m vertically, ${t.nowM.toFixed(0)} m now)`;
  }

  private threatened(v: VehicleHandle, w0: VehicleWatch | undefined, top: Threat, all: Threat[], pol: TrafficPolicy, nowMs: number): void {
    const id = v.id;
    const job = this.h.jobFor(id);
    const w: VehicleWatch = w0 ?? { threat: null, sinceMs: nowMs, alerted: null, taken: null, clearSinceMs: null, deliveryId: job?.id, aircraftAlerted: new Set() };
    this.watch.set(id, w);
    w.clearSinceMs = null;
    // A flight already landing is not told to hold; one holding may be told to land.
    const action: TrafficAction = w.taken && SEVERITY[w.taken] > SEVERITY[top.action] ? w.taken : top.action;
    w.threat = { ...top, action };
    for (const t of all) w.aircraftAlerted.add(t.icao);
    const worse = !w.alerted || SEVERITY[action] > SEVERITY[w.alerted];
    if (!worse) return;
    w.alerted = action;
    const detail = { icao: top.icao, callsign: top.callsign, minM: round1(top.minM), tcaS: round1(top.tcaS), verticalM: round1(top.verticalM), nowM: round1(top.nowM), action, ...(top.toZ !== undefined ? { toAltRelM: round1(top.toZ - (v.state.position!.altAmslM - v.state.position!.altRelM)) } : {}) };
    // Hold (a pause in AUTO) and descend act on a vehicle flying its mission; one flown otherwise (by a
    // pilot, another ground station) gets the suggestion only. LAND works in any mode.
    const commandable = action === 'land' || onMission(v.state.mode) || w.taken !== null;
    if (pol.action !== 'auto' || !commandable || (w.taken && SEVERITY[w.taken] >= SEVERITY[action])) {
      this.h.alert('critical', `${this.text(id, top)}; suggested action ${action}`, { vehicleId: id, deliveryId: w.deliveryId });
      if (w.deliveryId) this.h.event(w.deliveryId, 'traffic-threat', { vehicleId: id, ...detail });
      return;
    }
    this.h.alert('critical', `${this.text(id, top)}; ${id} ordered to ${action}`, { vehicleId: id, deliveryId: w.deliveryId });
    const prevMode = v.state.mode;
    if (!w.taken) w.resumeMode = onMission(prevMode) ? prevMode : v.state.autopilot === 'px4' ? 'AUTO.MISSION' : 'AUTO';
    const before = w.taken;
    w.taken = action;
    void this.command(v, action, w, detail, before);
  }

  private calm(v: VehicleHandle, w: VehicleWatch, resumed: Motion, tracks: AircraftTrack[], paths: P3[][], o: JudgeOptions, pol: TrafficPolicy, nowMs: number): void {
    const id = v.id;
    if (w.threat) {
      const t = w.threat;
      w.threat = null;
      this.h.alert('info', `Traffic clear: ${t.callsign} no longer threatens ${id}`, { vehicleId: id, deliveryId: w.deliveryId });
    }
    if (!w.taken || w.taken === 'land') {
      if (!w.taken) this.watch.delete(id);
      return;
    }
    // Commanded by us: continue once its remaining route has been clear for clearS.
    if (tracks.length && judgeFlight(trajectory(resumed, o.horizonS, STEP_S), tracks, o, paths).length > 0) {
      w.clearSinceMs = null;
      return;
    }
    w.clearSinceMs ??= nowMs;
    if (((nowMs - w.clearSinceMs) / 1000) * (this.h.clockRate ?? 1) < pol.clearS) return;
    const after = w.taken;
    this.watch.delete(id);
    this.h.alert('info', `Traffic clear: ${id} continues (no threat for ${pol.clearS} s)`, { vehicleId: id, deliveryId: w.deliveryId });
    void this.command(v, 'continue', w, { after, clearS: pol.clearS, ...(after === 'descend' ? { mode: w.resumeMode } : {}) }, after);
  }

  private forget(id: string): void {
    const w = this.watch.get(id);
    this.watch.delete(id);
    if (w?.threat) this.h.alert('info', `Traffic clear: ${w.threat.callsign} no longer threatens ${id}`, { vehicleId: id, deliveryId: w.deliveryId });
  }

  private send(v: VehicleHandle, kind: TrafficAction | 'continue', w: VehicleWatch, before: TrafficAction | null): Promise<CommandResult> {
    if (kind === 'hold') return v.pauseContinue(true);
    if (kind === 'land') return v.land();
    if (kind === 'continue') return before === 'descend' || w.holdMode ? v.setMode(w.resumeMode ?? 'AUTO') : v.pauseContinue(false);
    // descend: DO_REPOSITION where it stands (COMMAND_INT, GLOBAL_INT: altitude AMSL), param2 bit 0: switch to GUIDED.
    const p = v.state.position!;
    return v.command({ command: Cmd.DO_REPOSITION, params: [-1, 1, 0, 0, Math.round(p.lat * 1e7), Math.round(p.lon * 1e7), round1(w.threat?.toZ ?? p.altAmslM)], useInt: true, frame: 5 });
  }

  private async command(v: VehicleHandle, kind: TrafficAction | 'continue', w: VehicleWatch, params: Record<string, unknown>, before: TrafficAction | null): Promise<void> {
    const id = v.id;
    const action = `traffic.${kind}`;
    this.pending.add(id);
    let ack: CommandResult | null = null;
    try {
      const auditId = await this.h.audit({ action, vehicleId: id, deliveryId: w.deliveryId, params });
      this.h.commanding?.(id, action);
      ack = await this.send(v, kind, w, before);
      await this.h.completeAudit(auditId, { ok: ack.ok, result: ack.result, attempts: ack.attempts });
      if (w.deliveryId) this.h.event(w.deliveryId, `traffic-${kind}`, { vehicleId: id, ...params, ack: { result: ack.result } });
      if (kind === 'hold' && !ack.ok) {
        // The pause refused (take-off, landing): stop it by a mode that holds position wherever it flies.
        const mode = v.state.autopilot === 'px4' ? 'AUTO.LOITER' : 'BRAKE';
        const more = { ...params, mode, pauseRefused: ack.result };
        const modeAudit = await this.h.audit({ action, vehicleId: id, deliveryId: w.deliveryId, params: more });
        this.h.commanding?.(id, action);
        const byMode = await v.setMode(mode);
        await this.h.completeAudit(modeAudit, { ok: byMode.ok, result: byMode.result, attempts: byMode.attempts });
        if (w.deliveryId) this.h.event(w.deliveryId, 'traffic-hold', { vehicleId: id, ...more, ack: { result: byMode.result } });
        if (byMode.ok) {
          w.holdMode = mode;
          ack = byMode;
        }
      }
    } catch (e) {
      this.h.log?.warn({ err: e, vehicleId: id }, `${action} failed`);
    } finally {
      this.pending.delete(id);
    }
    if (kind !== 'continue' && ack && !ack.ok) {
      w.taken = before;
      this.h.alert('critical', `Traffic: ${id} refused to ${kind} (${ack.result})`, { vehicleId: id, deliveryId: w.deliveryId });
    }
  }
}
