/**
 * Constants shared by the simulated vehicle's parts: MAVLink result and severity codes, the stock
 * airframe's physical constants, the ArduCopter/PX4 start-up milestones, and a clamp.
 */

/** MAV_RESULT */
export const Result = { ACCEPTED: 0, TEMPORARILY_REJECTED: 1, DENIED: 2, UNSUPPORTED: 3, FAILED: 4, IN_PROGRESS: 5 } as const;
/** MAV_SEVERITY */
export const SEV = { EMERGENCY: 0, ALERT: 1, CRITICAL: 2, ERROR: 3, WARNING: 4, NOTICE: 5, INFO: 6 } as const;

/**
 * ArduCopter 4.7 SITL's start-up as a ground station sees it, in sim seconds after boot (measured
 * here at speedups 1 and 10, the same within 0.2 s): initialisation done ("ArduPilot Ready", STANDBY)
 * at 2.5, EKF_STATUS_REPORT 0x400 from 3.5, tilt and yaw alignment (flags 0xa7: attitude and
 * velocities, no horizontal position) at 6.0, GPS 3D fix at 9.9, EKF origin and HOME_POSITION at 19.9,
 * the pre-arm health bit at 23.5, and "EKF3 IMU0 is using GPS" with flags 0x33f at 41.4.
 * With another `bootDelayS` the milestones keep these proportions.
 */
export const ARDUCOPTER_BOOT_S = { init: 2.5, ekfInit: 3.5, aligned: 6.0, gpsFix: 9.9, origin: 19.9, prearm: 23.5, usingGps: 41.4 } as const;
/** The built-in PX4 personality: GPS fix at half the boot delay, everything else at its end. */
export const PX4_BOOT_FRACTION = { init: 1, ekfInit: 1, aligned: 1, gpsFix: 0.5, origin: 1, prearm: 1, usingGps: 1 } as const;

/** Physical constants of the simulated airframe. */
export const AIRFRAME = {
  emptyMassKg: 1.6,
  payloadMassKg: 0.5,
  /** Hover current at empty mass. */
  hoverCurrentA: 12,
  idleCurrentA: 0.6,
  /** Largest airspeed the airframe holds at ANGLE_MAX. */
  maxAirspeedMps: 20,
  internalResistanceOhm: 0.025,
};

/** `v` held within [lo, hi]. */
export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
