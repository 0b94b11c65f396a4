/**
 * Synthetic flight paths for the deconfliction tests and bench: launch → cruise (1–3 legs) →
 * descend → hold → climb → cruise back → land, in local metres around 34.06 N 114.39 E.
 */
import type { FlightPath } from '../../planner/deconflict';
import { ll } from './helpers';

export interface PathSpec {
  launch: [number, number];
  via: [number, number][];
  drop: [number, number];
  speedMps: number;
  cruiseAltM: number;
  dropAltM: number;
  climbMps: number;
  descentMps: number;
}

export function syntheticPath(s: PathSpec): FlightPath {
  const legs: FlightPath['legs'][number][] = [];
  const D = ll(...s.drop);
  const v = (kind: string, at: [number, number], z0: number, z1: number, rate: number) =>
    legs.push({ kind, from: ll(...at), to: ll(...at), altStartM: z0, altEndM: z1, durationS: Math.abs(z1 - z0) / rate });
  const cruise = (pts: [number, number][]) => {
    for (let k = 1; k < pts.length; k++) {
      const d = Math.hypot(pts[k][0] - pts[k - 1][0], pts[k][1] - pts[k - 1][1]);
      legs.push({ kind: 'cruise', from: ll(...pts[k - 1]), to: ll(...pts[k]), altStartM: s.cruiseAltM, altEndM: s.cruiseAltM, durationS: d / s.speedMps });
    }
  };
  v('takeoff', s.launch, 0, s.cruiseAltM, s.climbMps);
  const out = [s.launch, ...s.via, s.drop];
  cruise(out);
  v('descend', s.drop, s.cruiseAltM, s.dropAltM, s.descentMps);
  legs.push({ kind: 'hold', from: D, to: D, altStartM: s.dropAltM, altEndM: s.dropAltM, durationS: 5 });
  v('climb', s.drop, s.dropAltM, s.cruiseAltM, s.climbMps);
  cruise([...out].reverse());
  v('land', s.launch, s.cruiseAltM, 0, s.descentMps);
  return { legs, cruiseAltM: s.cruiseAltM };
}
