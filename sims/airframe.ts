/**
 * The demo airframe, flown by the built-in simulators of the service: the planner's default vehicle
 * profile (planner/request.ts DEFAULT_PROFILE: 7 kg, 800 W hover, 700 W cruise at 10 m/s, climb ×1.2,
 * descent ×0.9, a 444 Wh pack) as a simulated multicopter with a 6S 20 Ah pack, so that a delivery
 * planned for it lands with the energy the plan said it would.
 *
 * Power follows the planner's model: hover power × mass factor ((empty + payload) / empty)^1.5,
 * moving towards the cruise power as the airspeed reaches the cruise speed (and growing with the
 * square of the airspeed beyond it), climb and descent as factors of the hover power reached at the
 * climb and descent rates. The current drawn is power / pack voltage.
 */
import { DEFAULT_PROFILE } from '../planner/request';

export interface SimAirframe {
  name: string;
  emptyMassKg: number;
  /** Mass of the parcel the simulator carries until released. */
  payloadMassKg: number;
  hoverPowerW: number;
  cruisePowerW: number;
  cruiseSpeedMps: number;
  climbPowerFactor: number;
  climbRateMps: number;
  descentPowerFactor: number;
  descentRateMps: number;
  /** Electronics on the ground, W. */
  idlePowerW: number;
  /** Armed on the ground, motors spinning slowly, W. */
  armedIdlePowerW: number;
}

const P = DEFAULT_PROFILE;

/** The demo airframe: the planner's default profile with a 1 kg parcel (the planner's default payload). */
export const DEMO_AIRFRAME: SimAirframe = {
  name: P.name,
  emptyMassKg: P.emptyMassKg,
  payloadMassKg: 1,
  hoverPowerW: P.hoverPowerW,
  cruisePowerW: P.cruisePowerW,
  cruiseSpeedMps: P.cruiseSpeedMps,
  climbPowerFactor: P.climbPowerFactor,
  climbRateMps: P.climbRateMps,
  descentPowerFactor: P.descentPowerFactor,
  descentRateMps: P.descentRateMps,
  idlePowerW: 10,
  armedIdlePowerW: 40,
};

/**
 * The demo airframe's pack and battery failsafe thresholds, in ArduCopter's names (SIM_* for the
 * simulated pack, as ArduPilot SITL names them): 6S 20 Ah = 444 Wh at 3.7 V per cell, the planner's
 * batteryWh. Low at 3.5 V and critical at 3.3 V per cell under load.
 */
export const DEMO_AIRFRAME_PARAMS: Record<string, number> = {
  SIM_BATT_VOLTAGE: 25.2,
  SIM_BATT_CAP_AH: 20,
  BATT_CAPACITY: 20000,
  MOT_BAT_VOLT_MAX: 25.2,
  BATT_LOW_VOLT: 21.0,
  BATT_CRT_VOLT: 19.8,
  BATT_LOW_MAH: 0,
  BATT_CRT_MAH: 0,
};

/** The same pack in PX4's names. */
export const DEMO_AIRFRAME_PX4_PARAMS: Record<string, number> = {
  BAT1_N_CELLS: 6,
  BAT1_CAPACITY: 20000,
};

/**
 * Electrical power (W) the airframe draws: flying with `airspeedMps` and vertical speed `climbMps`
 * (up positive), carrying the parcel or not; on the ground armed or not.
 */
export function airframePowerW(a: SimAirframe, s: { flying: boolean; armed: boolean; loaded: boolean; airspeedMps: number; climbMps: number }): number {
  if (!s.flying) return s.armed ? a.armedIdlePowerW : a.idlePowerW;
  const mf = ((a.emptyMassKg + (s.loaded ? a.payloadMassKg : 0)) / a.emptyMassKg) ** 1.5;
  const hover = a.hoverPowerW * mf;
  const cruise = a.cruisePowerW * mf;
  const v = Math.max(0, s.airspeedMps);
  const f = Math.min(1, v / a.cruiseSpeedMps);
  const beyond = Math.max(0, v / a.cruiseSpeedMps - 1);
  let p = hover + (cruise - hover) * f + cruise * beyond * beyond;
  if (s.climbMps > 0) p += hover * (a.climbPowerFactor - 1) * Math.min(1, s.climbMps / a.climbRateMps);
  else if (s.climbMps < 0) p += hover * (a.descentPowerFactor - 1) * Math.min(1, -s.climbMps / a.descentRateMps);
  return p;
}
