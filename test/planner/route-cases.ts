/**
 * Seeded route cases on county fields (`countyField`), shared by the test that holds the route
 * search to the routes it returned before (test/planner/routes/county-routes.json) and the script
 * that recorded them.
 */
import type { XY } from '../../planner/geo';
import { rng } from './helpers';

export interface RouteCase {
  /** countyField seed (1,000 polygons, 12 km). */
  seed: number;
  clearanceM: number;
  areaMarginM: number;
  /** Drops this many, drawn with rng(dropSeed). */
  drops: number;
  dropSeed: number;
  /** Starts: the launch sites in turn, or random points in free space. */
  starts: 'sites' | 'random';
}

export const ROUTE_CASES: RouteCase[] = [
  // the planner bench's drops: the four launch sites in turn, rng(5)
  { seed: 3, clearanceM: 30, areaMarginM: 20, drops: 100, dropSeed: 5, starts: 'sites' },
  // another county, a wider clearance, random starts
  { seed: 7, clearanceM: 45, areaMarginM: 20, drops: 40, dropSeed: 8, starts: 'random' },
];

/** The case's start–goal pairs (local metres), drawn in free space as `free` judges it. */
export function countyDrops(c: RouteCase, sites: XY[], free: (p: XY) => boolean): [XY, XY][] {
  const R = rng(c.dropSeed);
  const draw = (): XY => {
    for (;;) {
      const p: XY = [(R() * 2 - 1) * 5800, (R() * 2 - 1) * 5800];
      if (free(p)) return p;
    }
  };
  const out: [XY, XY][] = [];
  for (let k = 0; k < c.drops; k++) {
    const g = draw();
    out.push([c.starts === 'sites' ? sites[k % sites.length] : draw(), g]);
  }
  return out;
}
