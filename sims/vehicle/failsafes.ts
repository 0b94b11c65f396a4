/**
 * The simulated vehicle's failsafes: GCS heartbeat loss (with ArduCopter's FS_OPTIONS order and
 * PX4's NAV_DLL_ACT), GPS loss into the EKF failsafe, and the battery check.
 */
import type { ModeName } from '../modes';
import { SEV } from './constants';
import type { VehicleState } from './state';
import { disarm } from './arming';
import { checkBattery } from './battery';
import { failsafeMode, gpsOk, setMode } from './flight-modes';

/** ArduCopter modes whose is_autopilot() is true: FS_OPTIONS 16 does not keep them flying on GCS loss. */
const AUTOPILOT_MODES: ReadonlySet<ModeName> = new Set(['AUTO', 'GUIDED', 'RTL', 'SMART_RTL', 'LAND']);

export function checkFailsafes(v: VehicleState): void {
  // GCS heartbeat loss.
  const fsOn = v.ap ? v.p('FS_GCS_ENABLE') !== 0 : v.p('NAV_DLL_ACT') !== 0;
  const timeoutS = v.ap ? v.p('FS_GCS_TIMEOUT') : v.p('COM_DL_LOSS_T');
  if (v.gcsSeen && fsOn) {
    const lost = v.tS - v.lastGcsHbS > timeoutS;
    if (lost && !v.gcsFs) {
      v.gcsFs = true;
      onGcsFailsafe(v);
    } else if (!lost && v.gcsFs) {
      v.gcsFs = false;
      v.text(v.ap ? SEV.WARNING : SEV.CRITICAL, v.ap ? 'GCS Failsafe Cleared' : 'Data link regained');
    }
  } else if (v.gcsFs) {
    v.gcsFs = false;
  }
  // GPS loss → EKF failsafe after a second.
  if (!gpsOk(v) && v.ready) {
    if (v.gpsLostSinceS < 0) v.gpsLostSinceS = v.tS;
    if (!v.ekfFs && v.tS - v.gpsLostSinceS > 1) {
      v.ekfFs = true;
      if (v.armed && v.flying) {
        const act = v.ap ? v.p('FS_EKF_ACTION') : 1;
        v.text(SEV.CRITICAL, v.ap ? 'EKF Failsafe' : 'Position estimate lost');
        if (act === 2) setMode(v, 'ALT_HOLD', true);
        else if (act !== 0) setMode(v, 'LAND', true);
      }
    }
  } else {
    v.gpsLostSinceS = -1;
    if (v.ekfFs) {
      v.ekfFs = false;
      if (v.armed) v.text(SEV.CRITICAL, v.ap ? 'EKF Failsafe Cleared' : 'Position estimate regained');
    }
  }
  checkBattery(v);
}

export function onGcsFailsafe(v: VehicleState): void {
  if (!v.armed) return; // the flag alone blocks arming ("PreArm: GCS failsafe on")
  if (!v.flying) {
    disarm(v, 'GCS failsafe');
    return;
  }
  if (v.ap) {
    // ArduCopter's order (Copter::failsafe_gcs_on_event): landed → disarm; landing with a battery
    // failsafe, or with FS_OPTIONS "continue if landing" (8) → land; AUTO with "continue in AUTO" (2)
    // → carry on; a pilot-controlled mode (not an autopilot mode: BRAKE, LOITER, ALT_HOLD, POSHOLD,
    // STABILIZE …) with "continue in pilot control" (16, the default) → carry on; else FS_GCS_ENABLE.
    // Announced at WARNING as "GCS Failsafe" or "GCS Failsafe - <what it does>".
    const act = v.p('FS_GCS_ENABLE');
    const opts = v.p('FS_OPTIONS');
    const landingNow = v.mode === 'LAND' || v.landing;
    const announce = (what?: string) => v.text(SEV.WARNING, what ? `GCS Failsafe - ${what}` : 'GCS Failsafe');
    if (landingNow && v.battFs !== 'none') {
      v.text(SEV.WARNING, 'GCS + Battery Failsafe - Continuing Landing');
      if (v.mode !== 'LAND') failsafeMode(v, 'LAND');
      return;
    }
    if (landingNow && opts & 8) {
      announce('Continuing Landing');
      if (v.mode !== 'LAND') failsafeMode(v, 'LAND');
      return;
    }
    if (v.mode === 'AUTO' && opts & 2) return announce('Continuing Auto Mode');
    if (opts & 16 && !AUTOPILOT_MODES.has(v.mode)) return announce('Continuing Pilot Control');
    announce();
    // 2 (continue mission) was replaced by FS_OPTIONS bit 2 in 4.0; the value itself now means RTL.
    if (act === 5) failsafeMode(v, 'LAND');
    else if (act === 3) failsafeMode(v, 'SMART_RTL');
    else if (act === 4) {
      if (!setMode(v, 'SMART_RTL', true).ok) setMode(v, 'LAND', true);
    } else if (act === 7) {
      if (!setMode(v, 'BRAKE', true).ok) setMode(v, 'LAND', true);
    } else failsafeMode(v, 'RTL');
  } else {
    v.text(SEV.CRITICAL, 'Connection to ground station lost');
    const act = v.p('NAV_DLL_ACT');
    if (act === 1) setMode(v, 'GUIDED', true);
    else if (act === 2) failsafeMode(v, 'RTL');
    else if (act === 3) setMode(v, 'LAND', true);
  }
}
