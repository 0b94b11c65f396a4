/**
 * Where a flying vehicle will be over the next minute, for tactical separation: along the remaining
 * route of the mission it flies (from where it is, through the mission's items from its current one,
 * at the plan's speeds), standing where it stops when held, climbing where it stands when sent up to
 * another altitude, or — without a mission — along its straight-line velocity. And, for two flights
 * predicted too close, the action that actually separates them.
 *
 * Pure: positions in a local metric frame (x east, y north, m) with altitudes AMSL (z, m); time in
 * seconds on the vehicles' clock from now.
 */
import { Cmd, type MissionItem } from '../mavlink/mission-item';

export interface P3 {
  x: number;
  y: number;
  z: number;
}

/** A point the route passes, and how long the vehicle stays there. */
export interface RoutePoint extends P3 {
  holdS: number;
}

export interface MotionModel {
  /** Horizontal speed along the route, m/s. */
  speedMps: number;
  climbMps: number;
  descentMps: number;
  /** Horizontal deceleration when told to stop, m/s² (ArduCopter WPNAV_ACCEL: 2.5). */
  brakeMps2: number;
}

export const DEFAULT_MOTION: MotionModel = { speedMps: 10, climbMps: 2.5, descentMps: 1.5, brakeMps2: 2.5 };

/** How a vehicle is expected to move. */
export type Motion =
  | { kind: 'route'; from: P3; route: RoutePoint[]; model: MotionModel }
  | { kind: 'still'; at: P3 }
  | { kind: 'velocity'; from: P3; vx: number; vy: number; vz: number }
  /** Standing at `at` (x, y), going to altitude `toZ` at the model's vertical rates. */
  | { kind: 'vertical'; at: P3; toZ: number; model: MotionModel };

/** Mission frames whose altitude is AMSL; the others (relative, terrain) are taken as above home. */
const AMSL_FRAMES = new Set([0, 5]);

/**
 * The remaining route of a mission from its current item: every navigation item at or after
 * `current` as a point (altitudes AMSL from `homeAmslM`), a takeoff straight up where the vehicle
 * stands, a landing as the flight to the point at its altitude and the descent there. Items the
 * route cannot place (DO commands, jumps, unlimited loiters) are skipped; a loiter without end ends it.
 */
export function missionRoute(
  mission: readonly MissionItem[],
  current: number,
  homeAmslM: number,
  toXY: (lonLat: [number, number]) => [number, number],
  from: P3,
): RoutePoint[] {
  const out: RoutePoint[] = [];
  let last: P3 = from;
  for (const m of mission) {
    if (m.seq < current || m.seq === 0) continue;
    const z = AMSL_FRAMES.has(m.frame) ? m.z : homeAmslM + m.z;
    const hasPos = m.x !== 0 || m.y !== 0;
    const [x, y] = hasPos ? toXY([m.y / 1e7, m.x / 1e7]) : [last.x, last.y];
    switch (m.command) {
      case Cmd.NAV_TAKEOFF:
        // ArduCopter climbs where it stands.
        last = { x: last.x, y: last.y, z: Math.max(z, last.z) };
        out.push({ ...last, holdS: 0 });
        break;
      case Cmd.NAV_WAYPOINT:
      case Cmd.NAV_SPLINE_WAYPOINT:
        last = { x, y, z };
        out.push({ ...last, holdS: m.command === Cmd.NAV_WAYPOINT ? Math.max(0, m.param1 || 0) : 0 });
        break;
      case Cmd.NAV_LOITER_TIME:
        last = { x, y, z };
        out.push({ ...last, holdS: Math.max(0, m.param1 || 0) });
        break;
      case Cmd.NAV_LAND:
      case Cmd.NAV_PAYLOAD_PLACE:
        out.push({ x, y, z: last.z, holdS: 0 });
        last = { x, y, z: m.command === Cmd.NAV_LAND ? homeAmslM : Math.min(last.z, z) };
        out.push({ ...last, holdS: 0 });
        if (m.command === Cmd.NAV_LAND) return out;
        break;
      case Cmd.NAV_LOITER_UNLIM:
        out.push({ x, y, z, holdS: Infinity });
        return out;
      default:
        break; // DO commands: no movement
    }
  }
  return out;
}

/** Seconds to fly from `a` to `b`: horizontal at the speed, vertical at the climb or descent rate, whichever takes longer. */
function legS(a: P3, b: P3, m: MotionModel): number {
  const h = Math.sqrt((b.x - a.x) ** 2 + (b.y - a.y) ** 2) / Math.max(0.1, m.speedMps);
  const dz = b.z - a.z;
  const v = dz >= 0 ? dz / Math.max(0.1, m.climbMps) : -dz / Math.max(0.1, m.descentMps);
  return Math.max(h, v);
}

/** Where a vehicle flying at `groundSpeedMps` comes to a stop along its route (or in place). */
export function stopPoint(from: P3, route: readonly RoutePoint[], groundSpeedMps: number, m: MotionModel): P3 {
  let left = (groundSpeedMps * groundSpeedMps) / (2 * Math.max(0.1, m.brakeMps2));
  let a = from;
  for (const b of route) {
    const d = Math.hypot(b.x - a.x, b.y - a.y);
    if (d >= left) {
      const f = d > 0 ? left / d : 0;
      return { x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f, z: a.z };
    }
    left -= d;
    a = { x: b.x, y: b.y, z: a.z };
  }
  return a;
}

/** Positions at t = 0, stepS, 2·stepS … horizonS. */
export function trajectory(mo: Motion, horizonS: number, stepS: number): P3[] {
  const n = Math.max(1, Math.ceil(horizonS / stepS)) + 1;
  const out: P3[] = new Array(n);
  switch (mo.kind) {
    case 'still':
      for (let k = 0; k < n; k++) out[k] = mo.at;
      return out;
    case 'velocity':
      for (let k = 0; k < n; k++) {
        const t = k * stepS;
        out[k] = { x: mo.from.x + mo.vx * t, y: mo.from.y + mo.vy * t, z: mo.from.z + mo.vz * t };
      }
      return out;
    case 'vertical': {
      const rate = mo.toZ >= mo.at.z ? mo.model.climbMps : -mo.model.descentMps;
      for (let k = 0; k < n; k++) {
        const z = mo.at.z + rate * k * stepS;
        out[k] = { x: mo.at.x, y: mo.at.y, z: rate >= 0 ? Math.min(z, mo.toZ) : Math.max(z, mo.toZ) };
      }
      return out;
    }
    case 'route': {
      // Keyframes (time, point); within a leg the altitude changes at the vertical rate from its
      // start, not spread along the leg (a multicopter resuming a mission reaches the leg's altitude
      // first: the sooner it does, the sooner it meets a vehicle there).
      const times: number[] = [0];
      const pts: P3[] = [{ x: mo.from.x, y: mo.from.y, z: mo.from.z }];
      let t = 0;
      let a: P3 = mo.from;
      for (const p of mo.route) {
        if (t > horizonS) break;
        t += legS(a, p, mo.model);
        times.push(t);
        pts.push(p);
        a = p;
        if (p.holdS > 0) {
          t += p.holdS;
          times.push(t);
          pts.push(p);
        }
      }
      let j = 0;
      for (let k = 0; k < n; k++) {
        const tk = k * stepS;
        while (j + 1 < times.length && times[j + 1] <= tk) j++;
        if (j + 1 >= times.length) {
          const e = pts[pts.length - 1];
          out[k] = { x: e.x, y: e.y, z: e.z };
        } else {
          const p0 = pts[j], p1 = pts[j + 1];
          const span = times[j + 1] - times[j];
          const el = tk - times[j];
          const f = span > 0 ? el / span : 1;
          const dz = p1.z - p0.z;
          const zr = dz >= 0 ? Math.min(p1.z, p0.z + mo.model.climbMps * el) : Math.max(p1.z, p0.z - mo.model.descentMps * el);
          out[k] = { x: p0.x + (p1.x - p0.x) * f, y: p0.y + (p1.y - p0.y) * f, z: zr };
        }
      }
      return out;
    }
  }
}

export interface Separation {
  horizontalM: number;
  verticalM: number;
}

export interface PairPrediction {
  /** Some time in the horizon the two are closer than the separation horizontally and vertically at once. */
  conflict: boolean;
  /** When the conflict begins, s (null without one). */
  atS: number | null;
  /** Least horizontal distance over the samples where they are within the vertical separation, m (Infinity: never within it). */
  minH: number;
  /** Least horizontal distance over the horizon whatever the altitudes, m. */
  minHAny: number;
}

/**
 * Two trajectories sampled at the same times: the least distances, and whether they come closer than
 * the separation. Between samples the relative motion is taken as straight (the closest point of each
 * step is found, not just its ends).
 */
export function comparePaths(a: readonly P3[], b: readonly P3[], sep: Separation, stepS: number): PairPrediction {
  const n = Math.min(a.length, b.length);
  let minH = Infinity, minHAny = Infinity, atS: number | null = null;
  for (let k = 0; k < n; k++) {
    const rx = b[k].x - a[k].x, ry = b[k].y - a[k].y, rz = b[k].z - a[k].z;
    // (Math.sqrt, not Math.hypot: this loop runs on every telemetry check)
    let h = Math.sqrt(rx * rx + ry * ry);
    let v = Math.abs(rz);
    if (k + 1 < n) {
      const sx = b[k + 1].x - a[k + 1].x - rx, sy = b[k + 1].y - a[k + 1].y - ry, sz = b[k + 1].z - a[k + 1].z - rz;
      const s2 = sx * sx + sy * sy;
      const f = s2 > 1e-9 ? Math.max(0, Math.min(1, -(rx * sx + ry * sy) / s2)) : 0;
      const cx = rx + sx * f, cy = ry + sy * f;
      h = Math.min(h, Math.sqrt(cx * cx + cy * cy));
      const z1 = rz + sz;
      v = rz * z1 <= 0 ? 0 : Math.min(v, Math.abs(z1));
    }
    if (h < minHAny) minHAny = h;
    if (v < sep.verticalM && h < minH) minH = h;
    if (atS === null && h < sep.horizontalM && v < sep.verticalM) atS = k * stepS;
  }
  return { conflict: atS !== null, atS, minH, minHAny };
}

// ------------------------------------------------------------------------------------------ resolution

/** A flying vehicle as the resolution sees it. */
export interface FlightView {
  id: string;
  /** Lower gives way first: [priority rank, request time]. */
  rank: [number, string];
  pos: P3;
  groundSpeedMps: number;
  /** The remaining route of its mission; null when it flies none we know (manual, another ground station). */
  route: RoutePoint[] | null;
  /** Straight-line velocity, for a vehicle without a route. */
  velocity: { vx: number; vy: number; vz: number };
  model: MotionModel;
  /** Flying its mission in AUTO: can be paused. */
  canPause: boolean;
  /** Can be sent to another altitude where it stands (GUIDED reposition); the highest altitude allowed, AMSL. */
  ceilingZ: number | null;
  /** Already giving way: held where it stands, or sent to another altitude (to `toZ`). */
  giving: null | { how: 'hold' | 'climb'; at: P3; toZ?: number };
}

/** How the vehicle moves as things stand now. */
export function expectedMotion(f: FlightView): Motion {
  // where it holds, from the altitude it has reached
  if (f.giving?.how === 'climb') return { kind: 'vertical', at: { x: f.giving.at.x, y: f.giving.at.y, z: f.pos.z }, toZ: f.giving.toZ ?? f.pos.z, model: f.model };
  if (f.giving?.how === 'hold') return { kind: 'still', at: { x: f.giving.at.x, y: f.giving.at.y, z: f.pos.z } };
  if (f.route && f.route.length > 0) return { kind: 'route', from: f.pos, route: f.route, model: f.model };
  return { kind: 'velocity', from: f.pos, ...f.velocity };
}

/** How it moves once it goes on with its mission from where it is. */
export function resumedMotion(f: FlightView): Motion {
  if (f.route && f.route.length > 0) return { kind: 'route', from: f.pos, route: f.route, model: f.model };
  return { kind: 'still', at: f.pos };
}

export type Action = { kind: 'hold'; vehicle: string; other: string; at: P3 } | { kind: 'climb'; vehicle: string; other: string; at: P3; toZ: number };

export interface Decision {
  /** The action taken; null when neither vehicle can do anything. */
  action: Action | null;
  /** The action keeps them apart over the horizon (else the best there is, and an operator must act). */
  resolves: boolean;
  /** Least predicted horizontal distance within the vertical separation with the action, m. */
  predictedM: number;
}

export interface ResolveOptions extends Separation {
  /** Horizon over which an action must keep them apart, s. */
  horizonS: number;
  stepS: number;
  /** Climb for a vertical divert, m (at least the vertical separation and both vehicles' altitude errors). */
  climbM: number;
  /** Vertical diverts allowed by the policy. */
  divert: boolean;
}

/** Where a vehicle stops when told to hold now. */
export function holdPoint(f: FlightView): P3 {
  if (f.giving) return f.giving.at;
  if (f.route && f.route.length > 0) return stopPoint(f.pos, f.route, f.groundSpeedMps, f.model);
  const v = Math.hypot(f.velocity.vx, f.velocity.vy);
  if (v < 0.1) return f.pos;
  const d = (v * v) / (2 * f.model.brakeMps2);
  return { x: f.pos.x + (f.velocity.vx / v) * d, y: f.pos.y + (f.velocity.vy / v) * d, z: f.pos.z };
}

function holdOf(give: FlightView, keep: FlightView): Action | null {
  // A hold only for a vehicle that is free, giving way to one that goes on (two holding for each other never resolve).
  if (give.giving || !give.canPause || keep.giving) return null;
  return { kind: 'hold', vehicle: give.id, other: keep.id, at: holdPoint(give) };
}

function climbOf(give: FlightView, keep: FlightView, o: ResolveOptions): Action | null {
  if (!o.divert || give.ceilingZ === null || give.giving?.how === 'climb') return null;
  const at = holdPoint(give);
  const toZ = at.z + o.climbM;
  if (toZ > give.ceilingZ) return null;
  return { kind: 'climb', vehicle: give.id, other: keep.id, at, toZ };
}

/** The outcome of an action, predicted: the two vehicles' paths over the horizon. */
export function predictAction(act: Action, a: FlightView, b: FlightView, o: ResolveOptions): PairPrediction {
  const [g, k] = act.vehicle === a.id ? [a, b] : [b, a];
  const mg: Motion = act.kind === 'hold' ? { kind: 'still', at: act.at } : { kind: 'vertical', at: act.at, toZ: act.toZ, model: g.model };
  // vertical separation with each vehicle's altitude error on top: an action does not rest on a thin margin
  const sep = { horizontalM: o.horizontalM, verticalM: o.verticalM + 2 * ALTITUDE_TOLERANCE_M };
  return comparePaths(trajectory(mg, o.horizonS, o.stepS), trajectory(expectedMotion(k), o.horizonS, o.stepS), sep, o.stepS);
}

/** A vehicle's altitude error around where it is told to be, m (the airspace's default tolerance). */
export const ALTITUDE_TOLERANCE_M = 2;

/**
 * For two flights predicted to come too close: who gives way and how. The lower-ranked holds where
 * it stops if the other's remaining route keeps clear of that point; else the higher-ranked holds if
 * that keeps clear (the one whose route crosses the other's position goes on only when the other is
 * out of its way); else one climbs where it stands to an altitude clear of the other's route (the
 * lower-ranked first), within its ceiling. A vehicle already holding is never answered by holding
 * the other: it climbs (one holding in the other's way climbs first). When nothing resolves, the
 * action that keeps them farthest apart, unresolved. `only`: just this vehicle may act (it already
 * gives way to the other).
 */
export function decide(a: FlightView, b: FlightView, o: ResolveOptions, only?: string): Decision {
  const aLower = a.rank[0] !== b.rank[0] ? a.rank[0] > b.rank[0] : a.rank[1] > b.rank[1];
  const lower = aLower ? a : b, higher = aLower ? b : a;
  // One already holding (for this vehicle or another) in the other's way climbs out of it first.
  const climbers = lower.giving && !higher.giving ? [lower, higher] : higher.giving && !lower.giving ? [higher, lower] : [lower, higher];
  const acts = [
    holdOf(lower, higher),
    holdOf(higher, lower),
    climbOf(climbers[0], climbers[1], o),
    climbOf(climbers[1], climbers[0], o),
  ].filter((x): x is Action => x !== null && (only === undefined || x.vehicle === only));
  let best: Decision = { action: null, resolves: false, predictedM: -1 };
  let bestScore = -Infinity;
  for (const act of acts) {
    const p = predictAction(act, a, b, o);
    if (!p.conflict) return { action: act, resolves: true, predictedM: p.minH };
    // unresolved: prefer a climb (it leaves the other's altitude), then the largest miss distance
    const score = (Number.isFinite(p.minH) ? p.minH : 1e5) + (act.kind === 'climb' ? 1e6 : 0);
    if (score > bestScore) {
      bestScore = score;
      best = { action: act, resolves: false, predictedM: p.minH };
    }
  }
  return best;
}
