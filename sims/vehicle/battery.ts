/**
 * The simulated vehicle's battery: state of charge, the pack's voltage and current per step (the
 * stock power model or the airframe's), and the low/critical battery failsafes and their actions.
 */
import { norm } from '../geo';
import { airframePowerW } from '../airframe';
import { SEV, AIRFRAME, clamp } from './constants';
import type { VehicleState } from './state';
import { disarm } from './arming';
import { failsafeMode, setMode } from './flight-modes';

/** Ocv per Li-ion/LiPo cell from state of charge 0..1. */
function cellOcv(soc: number): number {
  const s = clamp(soc, 0, 1);
  if (s > 0.9) return 4.05 + (s - 0.9) * 1.5;
  if (s > 0.2) return 3.7 + ((s - 0.2) / 0.7) * 0.35;
  return 3.3 + (s / 0.2) * 0.4;
}

export function capacityMah(v: VehicleState): number {
  return v.ap ? v.p('BATT_CAPACITY') : v.p('BAT1_CAPACITY');
}
export function batteryPct(v: VehicleState): number {
  const cap = capacityMah(v);
  return cap > 0 ? clamp(100 * (1 - v.consumedMah / cap), 0, 100) : 100;
}
export function setBatteryPct(v: VehicleState, pct: number): void {
  v.consumedMah = capacityMah(v) * (1 - clamp(pct, 0, 100) / 100);
}

export function checkBattery(v: VehicleState): void {
  const remainingMah = capacityMah(v) - v.consumedMah;
  let low = false;
  let crit = false;
  if (v.ap) {
    const lowV = v.p('BATT_LOW_VOLT');
    const crtV = v.p('BATT_CRT_VOLT');
    const timerS = v.p('BATT_LOW_TIMER');
    if (lowV > 0 && v.voltageV < lowV) {
      if (v.battLowSinceS < 0) v.battLowSinceS = v.tS;
      if (v.tS - v.battLowSinceS >= timerS) low = true;
    } else v.battLowSinceS = -1;
    if (crtV > 0 && v.voltageV < crtV) {
      if (v.battCrtSinceS < 0) v.battCrtSinceS = v.tS;
      if (v.tS - v.battCrtSinceS >= timerS) crit = true;
    } else v.battCrtSinceS = -1;
    if (v.p('BATT_LOW_MAH') > 0 && remainingMah < v.p('BATT_LOW_MAH')) low = true;
    if (v.p('BATT_CRT_MAH') > 0 && remainingMah < v.p('BATT_CRT_MAH')) crit = true;
  } else {
    const frac = batteryPct(v) / 100;
    low = frac < v.p('BAT_LOW_THR');
    crit = frac < v.p('BAT_CRIT_THR');
  }
  const level = crit ? 'critical' : low ? 'low' : 'none';
  if (level === 'none' || level === v.battFs || (v.battFs === 'critical' && level === 'low')) return;
  v.battFs = level;
  v.text(SEV.CRITICAL, v.ap ? `Battery 1 is ${level} ${v.voltageV.toFixed(2)}V used ${Math.round(v.consumedMah)} mAh` : `Battery ${level}: ${Math.round(batteryPct(v))}% remaining`);
  if (!v.armed) return;
  let act: number;
  if (v.ap) act = level === 'critical' ? v.p('BATT_FS_CRT_ACT') : v.p('BATT_FS_LOW_ACT');
  else {
    const a = v.p('COM_LOW_BAT_ACT');
    act = a === 0 ? 0 : level === 'critical' ? 1 : a === 3 ? 2 : 0;
  }
  if (act === 0) return;
  if (!v.flying) {
    disarm(v, 'battery failsafe');
    return;
  }
  if (act === 1) setMode(v, 'LAND', true);
  else if (act === 2) failsafeMode(v, 'RTL');
  else if (act === 3) failsafeMode(v, 'SMART_RTL');
  else if (act === 4) {
    if (!setMode(v, 'SMART_RTL', true).ok) setMode(v, 'LAND', true);
  } else if (act === 5) disarm(v, 'terminate');
}

export function drainBattery(v: VehicleState, dt: number): void {
  // Each parcel aboard weighs the airframe's payload mass.
  const aboard = v.parcelsAboard();
  const mass = AIRFRAME.emptyMassKg + aboard * AIRFRAME.payloadMassKg;
  let current = AIRFRAME.idleCurrentA;
  const af = v.opts.airframe;
  if (af) {
    const load = aboard <= 1 ? af : { ...af, payloadMassKg: aboard * af.payloadMassKg };
    const powerW = airframePowerW(load, { flying: v.flying, armed: v.armed, loaded: aboard > 0, airspeedMps: norm(v.airVel.n, v.airVel.e), climbMps: v.vel.u });
    current = powerW / Math.max(1, v.voltageV);
  } else if (v.armed) current += 1.5;
  if (!af && v.flying) {
    const massFactor = Math.pow(mass / AIRFRAME.emptyMassKg, 1.5);
    const air = norm(v.airVel.n, v.airVel.e);
    current += AIRFRAME.hoverCurrentA * massFactor * (1 + 0.0012 * air * air) + Math.max(0, v.vel.u) * 2.5;
  }
  v.currentA = current;
  v.consumedMah += (current * dt * 1000) / 3600;
  const cells = v.ap ? Math.max(1, Math.round((v.p('SIM_BATT_VOLTAGE') || 12.6) / 4.2)) : Math.max(1, v.params.live('BAT1_N_CELLS') || 4);
  const soc = batteryPct(v) / 100;
  let volts = cells * cellOcv(soc) - current * AIRFRAME.internalResistanceOhm;
  if (v.faults.batterySagPct > 0) volts *= 1 - v.faults.batterySagPct / 100;
  v.voltageV = Math.max(0, volts);
}
