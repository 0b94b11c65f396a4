/**
 * Time and energy per leg with wind. Model: constant airspeed in cruise (power independent of
 * wind), ground speed = tail component + sqrt(airspeed² − cross²); vertical legs at climb or
 * descent rate and a multiple of hover power; power scales with (total mass / empty mass)^1.5.
 */
import { bearingDeg, type LonLat } from './geo';
import type { VehicleProfile } from './request';

export type LegKind = 'takeoff' | 'cruise' | 'descend' | 'hold' | 'release' | 'settle' | 'climb' | 'land';

export interface Leg {
  index: number;
  kind: LegKind;
  phase: 'outbound' | 'return';
  from: LonLat;
  to: LonLat;
  /** Horizontal geodesic length, m. */
  distanceM: number;
  altStartM: number;
  altEndM: number;
  /**
   * Sorties only: the request index (0 = `drop`) of the drop this leg flies to or works at
   * (cruise to it, descend, hold, release, settle, climb); absent on the way back.
   */
  drop?: number;
  /** Course over ground, degrees (cruise legs). */
  courseDeg?: number;
  /** Wind component along the course (+ tail, − head), m/s. */
  tailwindMps?: number;
  /** Wind component across the course, m/s (absolute). */
  crosswindMps?: number;
  groundSpeedMps?: number;
  massKg: number;
  powerW: number;
  durationS: number;
  energyWh: number;
  /** Totals at the end of this leg. */
  cumDistanceM: number;
  cumDurationS: number;
  cumEnergyWh: number;
}

export function massFactor(profile: VehicleProfile, payloadKg: number): number {
  return ((profile.emptyMassKg + payloadKg) / profile.emptyMassKg) ** 1.5;
}

/** Wind components for a course. */
export function windComponents(courseDeg: number, wind: { speedMps: number; fromDeg: number }): { tailMps: number; crossMps: number } {
  const toDeg = wind.fromDeg + 180;
  const rel = ((toDeg - courseDeg) * Math.PI) / 180;
  return { tailMps: wind.speedMps * Math.cos(rel), crossMps: Math.abs(wind.speedMps * Math.sin(rel)) };
}

export type CruiseLegResult =
  | { ok: true; courseDeg: number; tailwindMps: number; crosswindMps: number; groundSpeedMps: number }
  | { ok: false; courseDeg: number; tailwindMps: number; crosswindMps: number };

/** Ground speed on a course, or not flyable (crosswind ≥ airspeed, or ground speed < 1 m/s). */
export function cruiseGroundSpeed(from: LonLat, to: LonLat, airspeedMps: number, wind: { speedMps: number; fromDeg: number }): CruiseLegResult {
  const courseDeg = bearingDeg(from, to);
  const { tailMps, crossMps } = windComponents(courseDeg, wind);
  if (crossMps >= airspeedMps) return { ok: false, courseDeg, tailwindMps: tailMps, crosswindMps: crossMps };
  const gs = tailMps + Math.sqrt(airspeedMps ** 2 - crossMps ** 2);
  if (gs < 1) return { ok: false, courseDeg, tailwindMps: tailMps, crosswindMps: crossMps };
  return { ok: true, courseDeg, tailwindMps: tailMps, crosswindMps: crossMps, groundSpeedMps: gs };
}
