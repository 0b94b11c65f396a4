/**
 * Occluders (planner/occluders.ts) only ever hide what is blocked: on the 1,000-polygon county, from
 * random points in free space, over random wedges, every point they judge hidden is one the exact
 * segment test finds blocked; they hide a good share of what is blocked; and every disk lies inside
 * its obstacle.
 */
import { createPlanner } from '../../planner';
import { findPath, inFreeSpace, obstacleAt, segmentIsFree, type RouteIndex } from '../../planner/route';
import { Occlusion } from '../../planner/occluders';
import type { XY } from '../../planner/geo';
import { countyField, rng } from './helpers';

jest.setTimeout(120_000);

let idx: RouteIndex;
beforeAll(() => {
  const field = countyField(3, 1000, 12000);
  const created = createPlanner(field);
  if (!created.ok) throw new Error(created.error.message);
  idx = created.planner.routeIndex(30, 20);
});

test('every disk lies inside an obstacle (its centre and 16 points of its rim)', () => {
  const o = idx.occluders;
  expect(o.count).toBeGreaterThan(1000);
  for (let k = 0; k < o.count; k++) {
    for (let a = -1; a < 16; a++) {
      const p: XY = a < 0 ? [o.x[k], o.y[k]] : [o.x[k] + o.r[k] * Math.cos((a * Math.PI) / 8), o.y[k] + o.r[k] * Math.sin((a * Math.PI) / 8)];
      expect(obstacleAt(idx, p)).toBeGreaterThanOrEqual(0);
    }
  }
});

test('from random points over random wedges: whatever is hidden is blocked, and most of what is blocked far off is hidden', () => {
  const R = rng(11);
  const occ = new Occlusion();
  let hidden = 0, blockedFar = 0, judged = 0;
  for (let trial = 0; trial < 120; trial++) {
    let v: XY;
    do v = [(R() * 2 - 1) * 5800, (R() * 2 - 1) * 5800]; while (!inFreeSpace(idx, v));
    const a = R() * 2 * Math.PI, w = 0.1 + R() * 1.2;
    const u1: [number, number] = [Math.cos(a), Math.sin(a)], u2: [number, number] = [Math.cos(a + w), Math.sin(a + w)];
    occ.gather(idx.occluders, v[0], v[1], u1[0], u1[1], u2[0], u2[1], 0.02);
    for (let k = 0; k < 60; k++) {
      const t = a - 0.05 + R() * (w + 0.1), d = 10 + R() * 2500;
      const p: XY = [v[0] + d * Math.cos(t), v[1] + d * Math.sin(t)];
      if (!inFreeSpace(idx, p)) continue;
      judged++;
      const free = segmentIsFree(idx, v, p);
      if (occ.hidden(p[0], p[1], d)) {
        hidden++;
        expect(free).toBe(false);
      } else if (!free && d > 1000) blockedFar++;
    }
  }
  expect(judged).toBeGreaterThan(2000);
  expect(hidden).toBeGreaterThan(blockedFar);
});

test('the search with occluders expands the same nodes and returns the same path as without them, checking fewer edges', () => {
  const R = rng(5);
  const sites: XY[] = [[-5850, -5850], [5850, -5850], [5850, 5850], [-5850, 5850]]; // the launch sites of countyField
  let fewer = 0;
  for (let k = 0; k < 12; k++) {
    let g: XY;
    do g = [(R() * 2 - 1) * 5800, (R() * 2 - 1) * 5800]; while (!inFreeSpace(idx, g));
    const s = sites[k % 4];
    const a = findPath(idx, s, g), b = findPath(idx, s, g, { occluders: false });
    expect(a.ok).toBe(b.ok);
    if (!a.ok || !b.ok) continue;
    expect(a.path).toEqual(b.path);
    expect(a.lengthM).toBe(b.lengthM);
    expect(a.expanded).toBe(b.expanded);
    expect(a.segmentChecks).toBeLessThanOrEqual(b.segmentChecks);
    if (a.segmentChecks < b.segmentChecks) fewer++;
  }
  expect(fewer).toBeGreaterThan(0);
});
