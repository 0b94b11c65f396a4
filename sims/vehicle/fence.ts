/**
 * The simulated vehicle's geofence: whether it is on, which fence a point violates, the stored fence
 * shapes, and the breach check each step with its action (FENCE_ACTION / GF_ACTION).
 */
import type { MissionTypeValue } from '../../src/mavlink/mission-item';
import type { Ne } from '../geo';
import type { ModeName } from '../modes';
import { fenceShapes, insideFenceShapes } from '../mission-server';
import { SEV } from './constants';
import type { VehicleState } from './state';
import { failsafeMode } from './flight-modes';

export function fenceEnabled(v: VehicleState): boolean {
  if (!v.ap) return v.fenceShapes.inclusionPolygons.length + v.fenceShapes.exclusionPolygons.length + v.fenceShapes.inclusionCircles.length + v.fenceShapes.exclusionCircles.length > 0 || v.p('GF_MAX_HOR_DIST') > 0;
  return v.fenceEnabledOverride ?? v.p('FENCE_ENABLE') === 1;
}
export function fenceTypeMask(v: VehicleState): number {
  if (!v.ap) return (v.p('GF_MAX_HOR_DIST') > 0 ? 2 : 0) | (v.p('GF_MAX_VER_DIST') > 0 ? 1 : 0) | 4;
  return v.p('FENCE_TYPE');
}
/** Which fences a point violates ('' when inside). */
export function fenceViolation(v: VehicleState, p: Ne, u: number): string {
  const type = fenceTypeMask(v);
  const altMax = v.ap ? v.p('FENCE_ALT_MAX') : v.p('GF_MAX_VER_DIST');
  if (type & 1 && u > altMax) return 'Max alt';
  const radius = v.ap ? v.p('FENCE_RADIUS') : v.p('GF_MAX_HOR_DIST');
  if (type & 2 && radius > 0 && Math.hypot(p.n - v.home.n, p.e - v.home.e) > radius) return 'Circle';
  if (type & 4 && !insideFenceShapes(p, v.fenceShapes)) return 'Polygon';
  return '';
}
/** The mission server stored a list: a fence list replaces the shapes; a new mission while disarmed resets the current item. */
export function missionChanged(v: VehicleState, type: MissionTypeValue): void {
  if (type === 1) v.fenceShapes = fenceShapes(v.mission.stored[1], v.frame) ?? v.fenceShapes;
  if (type === 0 && !v.armed) v.missionSeq = v.ap ? (v.mission.missionItems().length > 1 ? 1 : 0) : 0;
}

export function checkFence(v: VehicleState): void {
  if (!v.armed || !fenceEnabled(v)) {
    if (v.breach.status) v.breach.status = 0;
    return;
  }
  const kind = fenceViolation(v, v.pos, v.pos.u);
  if (!kind) {
    if (v.breach.status) {
      v.breach.status = 0;
      v.breach.kinds.clear();
    }
    return;
  }
  if (v.breach.kinds.has(kind)) return;
  v.breach.kinds.add(kind);
  v.breach.status = 1;
  v.breach.count++;
  v.breach.type = kind === 'Max alt' ? 2 : 3;
  v.breach.timeMs = v.nowMs();
  if (v.ap) v.text(SEV.CRITICAL, `${kind} fence breached`);
  else v.text(SEV.CRITICAL, 'Geofence breached');
  if (!v.flying) return;
  const action = v.ap ? v.p('FENCE_ACTION') : v.p('GF_ACTION');
  let to: ModeName | null = null;
  if (v.ap) {
    if (action === 1) to = 'RTL';
    else if (action === 2) to = 'LAND';
    else if (action === 3 || action === 5) to = 'SMART_RTL';
    else if (action === 4) to = 'BRAKE';
  } else {
    if (action === 2) to = 'GUIDED';
    else if (action === 3) to = 'RTL';
    else if (action === 5) to = 'LAND';
  }
  if (to && v.mode !== to && !(v.mode === 'LAND' && to !== 'LAND')) failsafeMode(v, to);
}
