/**
 * Mode changes of the simulated vehicle: the position a mode needs, what entering each mode does,
 * and the failsafe fallback order (SmartRTL → RTL → LAND).
 */
import { Cmd } from '../../src/mavlink/mission-item';
import type { ModeName } from '../modes';
import { SEV } from './constants';
import type { VehicleState } from './state';
import { startMission } from './mission';
import { startRtl, startSmartRtl } from './navigation';

/** Mode change forced by a failsafe; falls back like ArduPilot (SmartRTL → RTL → LAND). */
export function failsafeMode(v: VehicleState, to: ModeName): void {
  if (to === 'SMART_RTL' && setMode(v, 'SMART_RTL', true).ok) return;
  if ((to === 'SMART_RTL' || to === 'RTL') && setMode(v, 'RTL', true).ok) return;
  if (to !== 'SMART_RTL' && to !== 'RTL' && setMode(v, to, true).ok) return;
  setMode(v, 'LAND', true);
}

export function positionOk(v: VehicleState): boolean {
  return v.ready && gpsOk(v) && !v.ekfFs;
}
export function gpsOk(v: VehicleState): boolean {
  return v.gpsFixed && !v.faults.gpsLoss && (v.ap ? v.p('SIM_GPS1_ENABLE') !== 0 : true);
}

export function setMode(v: VehicleState, to: ModeName, failsafe = false): { ok: boolean; reason?: string } {
  const needsPosition: ModeName[] = ['GUIDED', 'AUTO', 'LOITER', 'RTL', 'BRAKE', 'SMART_RTL', 'TAKEOFF'];
  if (needsPosition.includes(to) && !positionOk(v) && (v.initDone || v.armed)) return { ok: false, reason: 'requires position' };
  if (to === 'AUTO' && v.ap && v.armed && !v.flying && !missionStartsWithTakeoff(v)) {
    v.text(SEV.CRITICAL, 'Auto: Missing Takeoff Cmd');
    return { ok: false, reason: 'missing takeoff' };
  }
  if (to === 'SMART_RTL' && v.breadcrumbs.length === 0) return { ok: false, reason: 'no path' };
  const prev = v.mode;
  v.mode = to;
  v.landing = false;
  v.guidedTakeoff = false;
  v.rtl = null;
  v.hold = null;
  v.landPoint = null;
  if (to === 'GUIDED') v.guidedTarget = null;
  if (to === 'LOITER' || to === 'BRAKE' || to === 'GUIDED' || to === 'ALT_HOLD') v.hold = null;
  if (to === 'LAND') v.landPoint = gpsOk(v) ? { n: v.pos.n, e: v.pos.e } : null;
  if (to === 'RTL') startRtl(v);
  if (to === 'SMART_RTL') startSmartRtl(v);
  if (to === 'TAKEOFF') v.guidedTarget = { n: v.pos.n, e: v.pos.e, u: Math.max(v.pos.u, v.p('MIS_TAKEOFF_ALT')) };
  if (to === 'AUTO' && prev !== 'AUTO') {
    v.missionDone = false;
    v.missionPaused = false;
    if (v.flying || (!v.ap && v.armed)) {
      if (!v.ap) v.autoArmed = true;
      startMission(v, v.ap ? Math.max(1, v.missionSeq) : v.missionSeq);
    } else {
      v.nav = null;
    }
  }
  return { ok: true };
}

export function missionStartsWithTakeoff(v: VehicleState): boolean {
  const items = v.mission.missionItems();
  for (let i = v.ap ? 1 : 0; i < items.length; i++) {
    const c = items[i].command;
    if (c === Cmd.NAV_TAKEOFF) return true;
    if (c < 80 || c === Cmd.NAV_DELAY || c === Cmd.NAV_PAYLOAD_PLACE) return false;
  }
  return false;
}
