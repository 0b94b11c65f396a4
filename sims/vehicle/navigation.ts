/**
 * Where the simulated vehicle is asked to go each step: the navigation request per flight mode,
 * the stopping point it holds, and return-to-launch (RTL with rally points, SmartRTL along its breadcrumbs).
 */
import { type Ne, norm } from '../geo';
import type { VehicleState, Nav } from './state';
import { fenceEnabled, fenceTypeMask } from './fence';
import { positionOk, setMode } from './flight-modes';
import { runMission } from './mission';

export function rtlTarget(v: VehicleState): Ne {
  let best: Ne = { n: v.home.n, e: v.home.e };
  let bestD = Math.hypot(v.pos.n - best.n, v.pos.e - best.e);
  if (v.ap && v.p('RALLY_INCL_HOME') !== 1) bestD = Infinity;
  const limitM = v.ap ? v.p('RALLY_LIMIT_KM') * 1000 : Infinity;
  for (const r of v.mission.stored[2]) {
    const p = v.frame.toNe({ lat: r.x / 1e7, lon: r.y / 1e7 });
    const d = Math.hypot(v.pos.n - p.n, v.pos.e - p.e);
    if (d < bestD && (limitM <= 0 || Math.hypot(p.n - v.home.n, p.e - v.home.e) <= limitM || bestD === Infinity)) {
      best = p;
      bestD = d;
    }
  }
  return best;
}

export function startRtl(v: VehicleState): void {
  const rtlAltM = v.ap ? v.p('RTL_ALT') / 100 : v.p('RTL_RETURN_ALT');
  let alt = rtlAltM <= 0 ? v.pos.u : Math.max(v.pos.u, rtlAltM);
  if (v.ap && fenceEnabled(v) && fenceTypeMask(v) & 1) alt = Math.min(alt, v.p('FENCE_ALT_MAX') - v.p('FENCE_MARGIN'));
  v.rtl = { phase: 'climb', target: rtlTarget(v), altU: Math.max(alt, Math.min(v.pos.u, 2)), untilS: 0, path: [] };
  if (!v.flying) v.rtl.phase = 'land';
}
export function startSmartRtl(v: VehicleState): void {
  const path = [...v.breadcrumbs].reverse();
  path.push({ n: v.home.n, e: v.home.e });
  v.rtl = { phase: 'return', target: path[0], altU: v.pos.u, untilS: 0, path };
}

export function navRequest(v: VehicleState): Nav {
  if (!v.armed) return { kind: 'ground' };
  if (!positionOk(v) && v.flying) {
    if (v.mode === 'LAND' || v.landing) return { kind: 'land', n: null, e: null };
    return { kind: 'drift' };
  }
  switch (v.mode) {
    case 'AUTO':
      if (!v.autoArmed && !v.flying) return { kind: 'ground' };
      return runMission(v);
    case 'GUIDED':
    case 'TAKEOFF':
      if (!v.flying && !v.takingOff) return { kind: 'ground' };
      if (v.guidedTarget) {
        // PX4 ends TAKEOFF in hold (entering GUIDED clears the target): hold where it levelled off.
        if (v.mode === 'TAKEOFF' && v.pos.u >= v.guidedTarget.u - 0.1) {
          setMode(v, 'GUIDED');
          return holdHere(v);
        }
        // ArduCopter's takeoff completes at its altitude: landed_state TAKEOFF (3) until then.
        if (v.guidedTakeoff && v.flying && v.pos.u >= v.guidedTarget.u - 0.1) v.guidedTakeoff = false;
        return { kind: 'goto', ...v.guidedTarget, speedMps: v.wpSpeedMps() };
      }
      return holdHere(v);
    case 'LOITER':
    case 'ALT_HOLD':
      // ArduCopter's pilot modes climb or descend as the throttle stick says. Nobody holds one here:
      // the throttle rests at its minimum (as SITL's RC input does, 1000), which asks for the
      // pilot's full descent rate (PILOT_SPEED_DN, or PILOT_SPEED_UP when 0): down to the ground,
      // then DISARM_DELAY disarms it. PX4's Hold (shown as LOITER here) holds its altitude.
      if (v.flying && v.ap) {
        const h = holdHere(v) as Extract<Nav, { kind: 'hold' }>;
        return { kind: 'hold', n: h.n, e: h.e, u: -10, pilotDescentMps: (v.p('PILOT_SPEED_DN') || v.p('PILOT_SPEED_UP')) / 100 };
      }
      return v.flying ? holdHere(v) : { kind: 'ground' };
    case 'BRAKE':
      return v.flying ? holdHere(v) : { kind: 'ground' };
    case 'RTL':
    case 'SMART_RTL':
      return runRtl(v);
    case 'LAND':
      return { kind: 'land', n: v.landPoint?.n ?? null, e: v.landPoint?.e ?? null };
    default:
      return v.flying ? holdHere(v) : { kind: 'ground' };
  }
}

export function holdHere(v: VehicleState): Extract<Nav, { kind: 'hold' }> {
  if (!v.hold) {
    // Stop with the acceleration limit, then hold: the stopping point.
    const speed = norm(v.vel.n, v.vel.e);
    const stopM = (speed * speed) / (2 * v.accelMps2());
    const k = speed > 0.01 ? stopM / speed : 0;
    v.hold = { n: v.pos.n + v.vel.n * k, e: v.pos.e + v.vel.e * k, u: v.pos.u };
  }
  return { kind: 'hold', ...v.hold };
}

export function runRtl(v: VehicleState): Nav {
  const r = v.rtl;
  if (!r) return { kind: 'hold', n: v.pos.n, e: v.pos.e, u: v.pos.u };
  if (!v.flying) return { kind: 'ground' };
  if (r.path.length > 0) {
    // SmartRTL: retrace the path, then land at home.
    const wp = r.path[0];
    if (Math.hypot(v.pos.n - wp.n, v.pos.e - wp.e) < 2) r.path.shift();
    if (r.path.length > 0) return { kind: 'goto', n: r.path[0].n, e: r.path[0].e, u: r.altU, speedMps: v.wpSpeedMps() };
    r.phase = 'land';
    r.target = { n: v.home.n, e: v.home.e };
  }
  if (r.phase === 'climb') {
    if (v.pos.u >= r.altU - 0.3) r.phase = 'return';
    else return { kind: 'goto', n: v.hold?.n ?? v.pos.n, e: v.hold?.e ?? v.pos.e, u: r.altU, speedMps: 0 };
  }
  if (r.phase === 'return') {
    const d = Math.hypot(v.pos.n - r.target.n, v.pos.e - r.target.e);
    if (d <= v.wpRadiusM()) {
      r.phase = 'loiter';
      r.untilS = v.tS + (v.ap ? v.p('RTL_LOIT_TIME') / 1000 : 0);
    } else {
      const sp = v.ap && v.p('RTL_SPEED') > 0 ? v.p('RTL_SPEED') / 100 : v.wpSpeedMps();
      return { kind: 'goto', n: r.target.n, e: r.target.e, u: r.altU, speedMps: sp };
    }
  }
  if (r.phase === 'loiter') {
    if (v.tS >= r.untilS) r.phase = 'land';
    else return { kind: 'hold', n: r.target.n, e: r.target.e, u: r.altU };
  }
  const finalU = v.ap ? v.p('RTL_ALT_FINAL') / 100 : 0;
  if (finalU > 0) return { kind: 'hold', n: r.target.n, e: r.target.e, u: finalU };
  return { kind: 'land', n: r.target.n, e: r.target.e };
}
