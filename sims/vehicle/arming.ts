/**
 * Arming and disarming the simulated vehicle, with the ArduCopter/PX4 pre-arm checks.
 */
import type { ModeName } from '../modes';
import { Result, SEV } from './constants';
import type { VehicleState } from './state';
import { capacityMah } from './battery';
import { fenceEnabled, fenceViolation } from './fence';
import { gpsOk } from './flight-modes';
import { startMission } from './mission';

export function prearmFailure(v: VehicleState): string | null {
  if (!v.prearmReady) return v.ap ? 'PreArm: Need Position Estimate' : 'Preflight Fail: system not ready';
  if (v.ap && v.p('ARMING_CHECK') === 0) return null;
  if (!gpsOk(v)) return v.ap ? 'PreArm: GPS 1: Bad fix' : 'Preflight Fail: GPS fix too low';
  if (v.gcsFs) return v.ap ? 'PreArm: GCS failsafe on' : 'Preflight Fail: No connection to the GCS';
  if (v.battFs !== 'none') return v.ap ? 'PreArm: Battery 1 low voltage failsafe' : 'Preflight Fail: low battery';
  if (v.ap) {
    const armV = v.p('BATT_ARM_VOLT');
    if (armV > 0 && v.voltageV < armV) return 'PreArm: Battery 1 below minimum arming voltage';
    const armMah = v.p('BATT_ARM_MAH');
    if (armMah > 0 && capacityMah(v) - v.consumedMah < armMah) return 'PreArm: Battery 1 below minimum arming capacity';
    const lowV = v.p('BATT_LOW_VOLT');
    if (lowV > 0 && v.voltageV < lowV) return 'PreArm: Battery 1 low voltage failsafe';
  }
  if (fenceEnabled(v)) {
    const violation = fenceViolation(v, v.pos, v.pos.u);
    if (violation) return v.ap ? 'PreArm: Fence: vehicle outside fence' : 'Preflight Fail: outside geofence';
  }
  return null;
}

export function arm(v: VehicleState, force: boolean): { result: number; text?: string } {
  if (v.armed) return { result: Result.ACCEPTED };
  if (!force) {
    const notArmable: ModeName[] = v.ap ? ['AUTO', 'RTL', 'LAND', 'BRAKE', 'SMART_RTL'] : ['RTL', 'LAND'];
    if (v.ap && notArmable.includes(v.mode)) return { result: Result.FAILED, text: `Arm: ${v.mode} mode not armable` };
    const f = prearmFailure(v);
    if (f) return { result: Result.FAILED, text: f };
    if (!v.ap && notArmable.includes(v.mode)) return { result: Result.FAILED, text: 'Arming denied: not in an armable mode' };
  }
  v.armed = true;
  v.autoArmed = false;
  v.groundSinceS = v.tS;
  v.home = { n: v.pos.n, e: v.pos.e, set: true };
  v.breadcrumbs = [];
  v.landedAtS = -1;
  if (!v.ap && v.mode === 'AUTO') {
    v.autoArmed = true;
    startMission(v, v.missionSeq);
  }
  if (!v.ap && v.mode === 'TAKEOFF') v.takingOff = true;
  return { result: Result.ACCEPTED };
}

export function disarm(v: VehicleState, reason: string): void {
  if (!v.armed) return;
  v.armed = false;
  v.flying = false;
  v.takingOff = false;
  v.guidedTakeoff = false;
  v.autoArmed = false;
  v.landing = false;
  v.vel = { n: 0, e: 0, u: 0 };
  v.pos.u = 0;
  v.nav = null;
  v.missionSeq = v.ap ? (v.mission.missionItems().length > 1 ? 1 : 0) : 0;
  v.jumpCounts.clear();
  if (v.ap) v.text(SEV.INFO, reason === 'landed' ? 'Disarming motors' : `Disarming motors (${reason})`);
  else v.text(SEV.INFO, '[commander] Disarmed by ' + reason);
}
