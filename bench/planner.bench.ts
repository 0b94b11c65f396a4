/**
 * Planner benchmarks: time per plan on the demo zones and on a synthetic city of 200 no-fly
 * blocks. The visibility graph + A* with the flatbush edge index is compared, in the same run,
 * with the same search doing brute-force edge checks, and with grid A* at 10 m cells (time and
 * path length).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BenchRecord } from './types';
import { createPlanner, planDelivery, validateZones } from '../planner';
import { zoneProjection } from '../planner/plan';
import { buildRouteIndex, findPath, inFreeSpace, type RouteIndex } from '../planner/route';
import { gridPath } from '../planner/grid-route';
import type { XY } from '../planner/geo';
import { rng, syntheticCity } from '../test/planner/helpers';

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const p95 = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))]; };
const time = <T>(f: () => T): [number, T] => { const t = performance.now(); const r = f(); return [performance.now() - t, r]; };
const rec = (name: string, value: number, unit: string, baseline: number, baselineName: string, note?: string): BenchRecord => ({ name, value, unit, baseline, ratio: baseline === 0 ? NaN : value / baseline, baselineName, ...(note ? { note } : {}) });

function pairs(idx: RouteIndex, start: XY, count: number, seed: number, halfM: number): XY[] {
  const r = rng(seed);
  const out: XY[] = [];
  while (out.length < count) {
    const p: XY = [(r() * 2 - 1) * halfM, (r() * 2 - 1) * halfM];
    if (inFreeSpace(idx, p) && Math.hypot(p[0] - start[0], p[1] - start[1]) > 500) out.push(p);
  }
  return out;
}

export async function run(): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  // ---- demo zones ----
  const demo = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'planner', 'fixtures', 'demo-zones.geojson'), 'utf8'));
  const drops: [number, number][] = [[114.4023209, 34.0677342], [114.3799044, 34.0658456], [114.3944507, 34.0514565]];
  const cold: number[] = [];
  for (let k = 0; k < 5; k++) for (const d of drops) cold.push(time(() => planDelivery(demo, { drop: d }))[0]);
  const pl = createPlanner(demo);
  if (!pl.ok) throw new Error(pl.error.message);
  const warm: number[] = [];
  for (let k = 0; k < 10; k++) for (const d of drops) warm.push(time(() => pl.planner.plan({ drop: d }))[0]);
  records.push(rec('planner.demo.plan.warm', median(warm), 'ms', median(cold), 'planDelivery incl. zone validation + index build', `p95 warm ${p95(warm).toFixed(2)} ms`));

  const dz = validateZones(demo);
  if (!dz.ok) throw new Error('demo zones');
  const dproj = zoneProjection(dz.zones);
  const [dBuild, didx] = time(() => buildRouteIndex(dz.zones, dproj, {}));
  const dStart = dproj.toXY([114.39, 34.06]);
  const dGoals = drops.map((d) => dproj.toXY(d));
  const dIdx: number[] = [], dBrute: number[] = [], dGrid: number[] = [];
  let dVisLen = 0, dGridLen = 0;
  for (const g of dGoals) {
    for (let k = 0; k < 5; k++) dIdx.push(time(() => findPath(didx, dStart, g))[0]);
    for (let k = 0; k < 5; k++) dBrute.push(time(() => findPath(didx, dStart, g, { useIndex: false }))[0]);
    const [tg, gr] = time(() => gridPath(didx, dStart, g, 10));
    dGrid.push(tg);
    const vr = findPath(didx, dStart, g);
    if (vr.ok && gr.ok) { dVisLen += vr.lengthM; dGridLen += gr.lengthM; }
  }
  records.push(rec('planner.demo.route.indexed', median(dIdx), 'ms', median(dBrute), 'same search, brute-force edge checks', `index build ${dBuild.toFixed(1)} ms, ${didx.nodeCount} nodes, ${didx.edgeCount} edges`));
  records.push(rec('planner.demo.route.vs-grid', median(dIdx), 'ms', median(dGrid), 'grid A* 10 m cells (incl. rasterising)'));
  records.push(rec('planner.demo.path-length', dVisLen, 'm', dGridLen, 'grid A* 10 m cells', 'sum over 3 drops; ratio < 1 = shorter than grid'));

  // ---- synthetic city: 200 no-fly blocks in 4 km × 4 km ----
  const city = syntheticCity(7, 200, 4000);
  const cz = validateZones(city);
  if (!cz.ok) throw new Error(cz.error.message);
  const cproj = zoneProjection(cz.zones);
  const [cBuild, cidx] = time(() => buildRouteIndex(cz.zones, cproj, {}));
  const start = cproj.toXY(city.features[city.features.length - 1].geometry.coordinates);
  const goals = pairs(cidx, start, 10, 11, 1900);
  const cIdx: number[] = [], cBrute: number[] = [], cGrid: number[] = [];
  let visLen = 0, gridLen = 0, longer = 0;
  for (const g of goals) {
    const [ti, vr] = time(() => findPath(cidx, start, g));
    cIdx.push(ti);
    if (cBrute.length < 3) cBrute.push(time(() => findPath(cidx, start, g, { useIndex: false }))[0]);
    if (cGrid.length < 5) {
      const [tg, gr] = time(() => gridPath(cidx, start, g, 10));
      cGrid.push(tg);
      if (vr.ok && gr.ok) { visLen += vr.lengthM; gridLen += gr.lengthM; if (vr.lengthM > gr.lengthM) longer++; }
    }
  }
  records.push(rec('planner.city200.route.indexed', median(cIdx), 'ms', median(cBrute), 'same search, brute-force edge checks', `p95 ${p95(cIdx).toFixed(1)} ms over ${goals.length} drops; index build ${cBuild.toFixed(0)} ms, ${cidx.nodeCount} nodes, ${cidx.edgeCount} edges`));
  records.push(rec('planner.city200.route.vs-grid', median(cIdx), 'ms', median(cGrid), 'grid A* 10 m cells (incl. rasterising)'));
  records.push(rec('planner.city200.path-length', visLen, 'm', gridLen, 'grid A* 10 m cells', `sum over 5 drops; visibility path longer than grid in ${longer} of 5`));
  const mem = process.memoryUsage();
  records.push(rec('planner.city200.heap', mem.heapUsed / 1048576, 'MiB', mem.rss / 1048576, 'process RSS'));
  return records;
}
