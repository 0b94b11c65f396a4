/**
 * The simulated vehicle's start-up (the ArduCopter/PX4 boot milestones: initialisation, EKF,
 * GPS fix, origin, pre-arm, EKF using GPS) and its reboot.
 */
import { SEV, ARDUCOPTER_BOOT_S, PX4_BOOT_FRACTION } from './constants';
import type { VehicleState } from './state';
import { bootOutputs } from './payload';

export function boot(v: VehicleState): void {
  v.bootS = v.tS;
  v.initDone = false;
  v.ekfStarted = false;
  v.ekfAligned = false;
  v.prearmReady = false;
  v.ready = false;
  v.gpsFixed = false;
  v.armed = false;
  v.flying = false;
  v.guidedTakeoff = false;
  v.mode = v.ap ? 'STABILIZE' : 'GUIDED';
  v.pos.u = 0;
  v.vel = { n: 0, e: 0, u: 0 };
  v.gcsSeen = false;
  v.gcsFs = false;
  v.ekfFs = false;
  v.battFs = 'none';
  v.breach = { status: 0, count: 0, type: 0, timeMs: 0, kinds: new Set() };
  v.fenceEnabledOverride = null;
  v.wpSpeedOverride = null;
  v.params.snapshotBoot();
  v.gripperEnabled = v.ap ? v.params.live('GRIP_ENABLE') === 1 && v.params.live('GRIP_TYPE') === 1 : v.params.live('PD_GRIPPER_EN') === 1;
  bootOutputs(v);
  v.missionSeq = v.ap ? (v.mission.missionItems().length > 1 ? 1 : 0) : 0;
  v.nav = null;
  const d = v.opts.bootDelayS;
  const at = (k: keyof typeof ARDUCOPTER_BOOT_S) => (v.ap ? (d * ARDUCOPTER_BOOT_S[k]) / ARDUCOPTER_BOOT_S.usingGps : d * PX4_BOOT_FRACTION[k]);
  v.after(at('init'), () => {
    v.initDone = true;
    // A mode set during boot is overwritten when initialisation finishes.
    v.mode = v.ap ? 'STABILIZE' : 'GUIDED';
    if (v.ap) v.text(SEV.INFO, 'ArduPilot Ready');
  });
  v.after(at('ekfInit'), () => {
    v.ekfStarted = true;
    if (v.ap) v.text(SEV.INFO, 'EKF3 IMU0 initialised');
  });
  v.after(at('aligned'), () => {
    v.ekfAligned = true;
    if (v.ap) v.text(SEV.INFO, 'EKF3 IMU0 tilt alignment complete');
  });
  v.after(at('gpsFix'), () => {
    v.gpsFixed = true;
    if (v.ap) v.text(SEV.INFO, 'GPS 1: detected u-blox');
  });
  v.after(at('origin'), () => {
    if (!v.home.set) v.home = { n: v.pos.n, e: v.pos.e, set: true };
    if (v.ap) v.text(SEV.INFO, 'EKF3 IMU0 origin set');
  });
  v.after(at('prearm'), () => {
    v.prearmReady = true;
  });
  v.after(at('usingGps'), () => {
    v.ready = true;
    v.home = { n: v.pos.n, e: v.pos.e, set: true };
    if (v.ap) v.text(SEV.INFO, 'EKF3 IMU0 is using GPS');
    else v.text(SEV.INFO, '[commander] Ready for takeoff!');
  });
}

/** Reboot: every link drops; parameters, missions and fence persist; reboot-only parameters take effect. */
export function reboot(v: VehicleState): void {
  v.timers.length = 0;
  v.signing.reboot(v.links);
  v.opts.dropLinks();
  v.home.set = false;
  boot(v);
}
