/**
 * The vehicle's battery against the delivery vehicle profile, and the energy a vehicle really has.
 *
 * The profile says which pack the airframe carries (cells, capacity) and how much of it a delivery
 * keeps in reserve. `batteryRequirements` turns that into parameter requirements (preflight check
 * `battery_match`, commissioning sets them) in each autopilot's names:
 *
 *   what                  ArduCopter                                     PX4
 *   capacity              BATT_CAPACITY (mAh) within the tolerance       BAT1_CAPACITY (mAh)
 *   cells                 MOT_BAT_VOLT_MAX = 4.2 V × cells               BAT1_N_CELLS
 *   arming voltage        BATT_ARM_VOLT 0 or 3.5–4.0 V per cell          —
 *   low / critical        BATT_LOW_VOLT 3.4–3.6 V per cell               BAT_CRIT_THR ≤ reserve (the action's level),
 *                         BATT_CRT_VOLT 0 or 3.2–3.45 V per cell          BAT_LOW_THR ≤ reserve
 *                         BATT_LOW_MAH / BATT_CRT_MAH 0 or ≤ reserve
 *
 * A voltage threshold set for another pack (ArduCopter's default BATT_LOW_VOLT 10.5 V is a 3S
 * figure) fails: on a 6S pack it would never fire, on a 3S pack a 6S figure fires at once. A
 * capacity threshold above the reserve fires during a delivery that keeps its reserve.
 *
 * `vehicleEnergy` is what the go/no-go uses: the vehicle's own capacity (its parameters) and state
 * of charge (BATTERY_STATUS consumed mAh and remaining %, the lower of the two), at the nominal
 * 3.7 V per cell of the vehicle's cell count (MOT_BAT_VOLT_MAX / 4.2 or BAT1_N_CELLS; else the
 * profile's, unless the pack's voltage says otherwise). Pure: no I/O.
 */
import type { Autopilot, VehicleState } from '../fleet/types';
import type { ParamValues, Requirement, VehicleProfile } from './vehicle-profile';

/** Nominal LiPo/Li-ion cell voltage: pack energy = mAh × cells × 3.7 V. */
export const NOMINAL_CELL_V = 3.7;
/** Full cell voltage (ArduPilot's MOT_BAT_VOLT_MAX is 4.2 V per cell). */
export const FULL_CELL_V = 4.2;

/** Per-cell voltage a LiPo/Li-ion pack in use can read: outside it, the pack has another cell count. */
export const PACK_CELL_MIN_V = 3.0;
export const PACK_CELL_MAX_V = 4.35;

const num = (p: ParamValues, n: string): number | null => (typeof p[n] === 'number' ? (p[n] as number) : null);
const r2 = (x: number) => Math.round(x * 100) / 100;

/** The battery requirements of a profile in an autopilot's names (check 'battery_match'). */
export function batteryRequirements(autopilot: Autopilot, profile: VehicleProfile): Requirement[] {
  const cells = profile.batteryCells;
  const cap = profile.batteryCapacityMah;
  const tol = (cap * profile.batteryCapacityTolerancePct) / 100;
  const reserveMah = Math.floor((cap * profile.batteryReservePct) / 100);
  const capRule = `${cap} mAh ± ${profile.batteryCapacityTolerancePct}% (the profile's ${cells}S ${cap} mAh pack)`;
  const capOk = (v: number) => v > 0 && Math.abs(v - cap) <= tol;
  if (autopilot === 'px4') {
    const reserve = profile.batteryReservePct / 100;
    return [
      // PX4 flags both "reboot required", but its battery library reads them again on every parameter
      // update (Battery::updateParams from battery_status and the SITL battery simulator): set live.
      { check: 'battery_match', names: ['BAT1_N_CELLS'], rule: `${cells} (the profile's ${cells}S pack)`, ok: (v) => v === cells, want: () => cells, needsReboot: false },
      { check: 'battery_match', names: ['BAT1_CAPACITY'], rule: capRule, ok: capOk, want: () => cap, needsReboot: false },
      {
        check: 'battery_match', names: ['BAT_CRIT_THR'], rule: `> 0 and ≤ ${reserve} (the reserve: the low-battery action acts here)`,
        ok: (v) => v > 0 && v <= reserve + 1e-6, want: () => r2(Math.min(0.07, reserve * 0.5)), needsReboot: false,
      },
      { check: 'battery_match', names: ['BAT_LOW_THR'], rule: `≤ ${reserve} (the reserve)`, ok: (v) => v <= reserve + 1e-6, want: () => r2(Math.min(0.15, reserve)), needsReboot: false },
    ];
  }
  const perCell = (lo: number, hi: number) => (v: number) => v >= lo * cells - 1e-3 && v <= hi * cells + 1e-3;
  return [
    { check: 'battery_match', names: ['BATT_CAPACITY'], rule: capRule, ok: capOk, want: () => cap, needsReboot: false },
    {
      check: 'battery_match', names: ['MOT_BAT_VOLT_MAX'], rule: `${r2(FULL_CELL_V * cells)} V (${cells} cells × 4.2 V)`,
      ok: perCell(FULL_CELL_V - 0.05, FULL_CELL_V + 0.05), want: () => r2(FULL_CELL_V * cells), needsReboot: false,
    },
    {
      check: 'battery_match', names: ['BATT_ARM_VOLT'], rule: `0 (off) or ${r2(3.5 * cells)}–${r2(4.0 * cells)} V (3.5–4.0 V per cell)`,
      ok: (v) => v === 0 || perCell(3.5, 4.0)(v), want: () => r2(3.8 * cells), needsReboot: false,
    },
    { check: 'battery_match', names: ['BATT_LOW_VOLT'], rule: `${r2(3.4 * cells)}–${r2(3.6 * cells)} V (3.4–3.6 V per cell)`, ok: perCell(3.4, 3.6), want: () => r2(3.5 * cells), needsReboot: false },
    {
      check: 'battery_match', names: ['BATT_CRT_VOLT'], rule: `0 (off) or ${r2(3.2 * cells)}–${r2(3.45 * cells)} V (3.2–3.45 V per cell), below BATT_LOW_VOLT`,
      ok: (v, p) => v === 0 || (perCell(3.2, 3.45)(v) && v < (num(p, 'BATT_LOW_VOLT') ?? Infinity)), want: () => r2(3.3 * cells), needsReboot: false,
    },
    {
      check: 'battery_match', names: ['BATT_LOW_MAH'], rule: `0 (off) or ≤ ${reserveMah} mAh (the ${profile.batteryReservePct}% reserve)`,
      ok: (v) => v >= 0 && v <= reserveMah, want: () => Math.floor(reserveMah * 0.8), needsReboot: false,
    },
    {
      check: 'battery_match', names: ['BATT_CRT_MAH'], rule: `0 (off) or ≤ ${reserveMah} mAh and below BATT_LOW_MAH`,
      ok: (v, p) => v === 0 || (v > 0 && v <= reserveMah && v < (num(p, 'BATT_LOW_MAH') || Infinity)), want: () => Math.floor(reserveMah * 0.4), needsReboot: false,
    },
  ];
}

export interface VehicleEnergy {
  /** null: the vehicle does not say (capacity parameter unread or ≤ 0). */
  capacityMah: number | null;
  cells: number;
  /** Where the cell count came from. */
  cellsFrom: 'MOT_BAT_VOLT_MAX' | 'BAT1_N_CELLS' | 'voltage' | 'profile';
  capacityWh: number | null;
  /** Remaining charge: capacity − consumed mAh, or capacity × remaining %, whichever is lower. */
  remainingMah: number | null;
  availableWh: number | null;
  /** Remaining as a percentage of the capacity (rounded). */
  pct: number | null;
  /** Why the capacity is unknown. */
  why?: string;
}

/** The vehicle's battery from its parameters and live state (BATTERY_STATUS/SYS_STATUS). */
export function vehicleEnergy(autopilot: Autopilot, p: ParamValues, s: Pick<VehicleState, 'battery'>, profile: VehicleProfile): VehicleEnergy {
  const capName = autopilot === 'px4' ? 'BAT1_CAPACITY' : 'BATT_CAPACITY';
  const capRaw = num(p, capName);
  let cells = profile.batteryCells;
  let cellsFrom: VehicleEnergy['cellsFrom'] = 'profile';
  if (autopilot === 'px4') {
    const n = num(p, 'BAT1_N_CELLS');
    if (n !== null && n > 0) (cells = Math.round(n)), (cellsFrom = 'BAT1_N_CELLS');
  } else {
    const vmax = num(p, 'MOT_BAT_VOLT_MAX');
    if (vmax !== null && vmax > 0) (cells = Math.max(1, Math.round(vmax / FULL_CELL_V))), (cellsFrom = 'MOT_BAT_VOLT_MAX');
  }
  // Parameters silent on the cell count: the profile's, unless the pack's voltage cannot be that many cells.
  const volts = s.battery?.voltageV ?? 0;
  if (cellsFrom === 'profile' && volts > 0 && (volts / cells < PACK_CELL_MIN_V || volts / cells > PACK_CELL_MAX_V)) (cells = Math.max(1, Math.round(volts / 3.85))), (cellsFrom = 'voltage');
  const base = { cells, cellsFrom };
  if (capRaw === null || capRaw <= 0) {
    const why = capRaw === null ? `${capName} not read (${p[capName] ?? 'no answer'})` : `${capName} = ${capRaw}: no capacity set`;
    return { ...base, capacityMah: null, capacityWh: null, remainingMah: null, availableWh: null, pct: null, why };
  }
  const wh = (mah: number) => (mah / 1000) * cells * NOMINAL_CELL_V;
  const b = s.battery;
  if (!b) return { ...base, capacityMah: capRaw, capacityWh: wh(capRaw), remainingMah: null, availableWh: null, pct: null, why: 'no battery status received' };
  const byConsumed = b.consumedMah >= 0 ? capRaw - b.consumedMah : Infinity;
  const byPct = b.remainingPct >= 0 ? (capRaw * b.remainingPct) / 100 : Infinity;
  if (byConsumed === Infinity && byPct === Infinity) return { ...base, capacityMah: capRaw, capacityWh: wh(capRaw), remainingMah: null, availableWh: null, pct: null, why: 'state of charge not reported' };
  const remainingMah = Math.max(0, Math.min(byConsumed, byPct, capRaw));
  return { ...base, capacityMah: capRaw, capacityWh: wh(capRaw), remainingMah, availableWh: wh(remainingMah), pct: Math.round((100 * remainingMah) / capRaw) };
}
