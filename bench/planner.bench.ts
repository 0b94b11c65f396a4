/**
 * Planner benchmarks.
 *
 * County scale (the figure the planner is held to): 1,000 star-shaped no-fly polygons (~20,000
 * vertices) in a 12 km × 12 km operating area, four launch sites, 100 drop points. Measured in
 * the same run: index build time, time per route (median, p95) once the index is built, the
 * previous full-scan search on a few of the same drops, grid A* from npm `pathfinding` at 10 m
 * cells on the same inputs (time and path length), the full plan (fence, mission, energy), and
 * memory.
 *
 * Demo zones: warm plan time against a cold planDelivery.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BenchRecord } from './types';
import { createPlanner, planDelivery, validateZones } from '../planner';
import { zoneProjection } from '../planner/plan';
import { buildRouteIndex, findPath, findPathFullScan, inFreeSpace } from '../planner/route';
import type { XY } from '../planner/geo';
import { countyField, rng } from '../test/planner/helpers';
import { gridShortestPath, rasterise } from '../test/planner/grid-baseline';

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const time = <T>(f: () => T): [number, T] => { const t = performance.now(); const r = f(); return [performance.now() - t, r]; };
const rec = (name: string, value: number, unit: string, baseline: number, baselineName: string, note?: string): BenchRecord => ({ name, value, unit, baseline, ratio: baseline === 0 ? NaN : value / baseline, baselineName, ...(note ? { note } : {}) });
const MiB = 1048576;

/** Drop points this many; grid A* and the old full-scan search run on the first few of them. */
const DROPS = Number(process.env.PLANNER_BENCH_DROPS ?? 100);
const GRID_DROPS = Number(process.env.PLANNER_BENCH_GRID_DROPS ?? 6);
const FULLSCAN_DROPS = Number(process.env.PLANNER_BENCH_FULLSCAN_DROPS ?? 3);
const PLAN_DROPS = 10;

export async function run(): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const log = (s: string) => process.stderr.write(`  planner: ${s}\n`);

  // ---- county scale ----
  const field = countyField(3, 1000, 12000);
  const vz = validateZones(field);
  if (!vz.ok) throw new Error(vz.error.message);
  const vertices = vz.zones.noFly.reduce((s, z) => s + z.polygons.reduce((t, p) => t + p[0].length, 0), 0);
  const proj = zoneProjection(vz.zones);
  const heap0 = process.memoryUsage().heapUsed;
  const [buildMs, idx] = time(() => buildRouteIndex(vz.zones, proj, {}));
  const indexHeapMiB = (process.memoryUsage().heapUsed - heap0) / MiB;
  log(`county: ${vz.zones.noFly.length} no-fly polygons, ${vertices} vertices; index ${buildMs.toFixed(0)} ms, ${idx.nodeCount} nodes, ${idx.edgeCount} edges`);
  const sites = vz.zones.launchSites.map((s) => proj.toXY([s.lon, s.lat]));
  const R = rng(5);
  const goals: XY[] = [];
  while (goals.length < DROPS) {
    const g: XY = [(R() * 2 - 1) * 5800, (R() * 2 - 1) * 5800];
    if (inFreeSpace(idx, g)) goals.push(g);
  }
  const pairs = goals.map((g, k) => ({ s: sites[k % sites.length], g }));
  for (const p of pairs.slice(0, 5)) findPath(idx, p.s, p.g); // warm up the JIT
  idx.coneCache.clear(); // ... but start with an empty cone cache
  idx.coneCacheIds = 0;
  idx.coneSeen.fill(0);
  idx.searchCount = 0;
  const routeMs: number[] = [];
  const lengths: number[] = [];
  let direct = 0, unreachable = 0, expanded = 0, checks = 0;
  for (const p of pairs) {
    const [ms, r] = time(() => findPath(idx, p.s, p.g));
    routeMs.push(ms);
    lengths.push(r.ok ? r.lengthM : NaN);
    expanded += r.expanded; checks += r.segmentChecks;
    if (!r.ok) unreachable++; else if (r.path.length === 2) direct++;
  }
  const med = median(routeMs), p95 = pct(routeMs, 0.95);
  const coldMed = median(routeMs.slice(0, 10));
  const cacheMiB = (idx.coneCacheIds * 4) / MiB;
  log(`county routes: median ${med.toFixed(2)} ms, p95 ${p95.toFixed(1)} ms, max ${Math.max(...routeMs).toFixed(1)} ms; first 10 (cold cache) median ${coldMed.toFixed(1)} ms; cone cache ${cacheMiB.toFixed(1)} MiB`);
  // the same 100 plans again: every cone list the searches need is cached
  const repeatMs = pairs.map((p) => time(() => findPath(idx, p.s, p.g))[0]);

  // the previous search (full scan of all nodes per expansion) on the first drops
  const oldMs: number[] = [];
  let oldAgree = 0;
  for (const [k, p] of pairs.slice(0, FULLSCAN_DROPS).entries()) {
    const [ms, r] = time(() => findPathFullScan(idx, p.s, p.g));
    oldMs.push(ms);
    if (r.ok && Math.abs(r.lengthM - lengths[k]) <= 1e-6 * r.lengthM) oldAgree++;
    log(`full-scan search ${k}: ${ms.toFixed(0)} ms`);
  }
  const newOnSame = routeMs.slice(0, FULLSCAN_DROPS);
  records.push(rec('planner.county.route.median', med, 'ms', median(oldMs), `previous full-scan A* (same index, first ${FULLSCAN_DROPS} drops)`,
    `${DROPS} drops, 1000 no-fly polygons (${vertices} vertices) in 12×12 km: p95 ${p95.toFixed(1)} ms, max ${Math.max(...routeMs).toFixed(1)} ms; ${direct} direct, ${unreachable} unreachable; ${(expanded / DROPS).toFixed(0)} expansions and ${(checks / DROPS).toFixed(0)} segment checks per route; full-scan agrees on length in ${oldAgree}/${FULLSCAN_DROPS}; new search on those drops: median ${median(newOnSame).toFixed(1)} ms`));
  records.push(rec('planner.county.route.p95', p95, 'ms', pct(oldMs, 0.95), 'previous full-scan A* p95'));
  records.push(rec('planner.county.route.cold-cache', coldMed, 'ms', med, 'median over all 100', 'median of the first 10 drops, starting from an empty cone cache'));
  records.push(rec('planner.county.route.repeat', median(repeatMs), 'ms', med, 'first pass median', `the same ${DROPS} drops again (cone cache warm, ${cacheMiB.toFixed(1)} MiB): p95 ${pct(repeatMs, 0.95).toFixed(1)} ms`));

  // full plans (route + fence + mission + energy), budget large enough for a dense county
  const planner = createPlanner(field);
  if (!planner.ok) throw new Error(planner.error.message);
  const planMs: number[] = [];
  let planOk = 0, budgetRefused = 0;
  const ll = (p: XY) => proj.toLonLat(p);
  planner.planner.plan({ launch: vz.zones.launchSites[0].name, drop: ll(goals[0]), profile: { batteryWh: 5000 } }); // builds the index
  for (const [k, p] of pairs.slice(0, PLAN_DROPS).entries()) {
    const [ms, r] = time(() => planner.planner.plan({ launch: vz.zones.launchSites[k % sites.length].name, drop: ll(p.g), profile: { batteryWh: 5000 }, fenceCapacity: 1000 }));
    planMs.push(ms);
    if (r.ok) planOk++;
    else if (r.error.code !== 'FENCE_CAPACITY') throw new Error(`county plan ${k}: ${r.error.code}: ${r.error.message}`);
    const d = planner.planner.plan({ launch: vz.zones.launchSites[k % sites.length].name, drop: ll(p.g), profile: { batteryWh: 5000 } });
    if (!d.ok && d.error.code === 'FENCE_CAPACITY') budgetRefused++;
  }
  records.push(rec('planner.county.plan.median', median(planMs), 'ms', med, 'route search alone',
    `full plan incl. fence fitted to 1000 items, mission, energy; ${planOk}/${PLAN_DROPS} ok, the others FENCE_CAPACITY even at 1000 items; with the default 84-item fence ${budgetRefused}/${PLAN_DROPS} are refused FENCE_CAPACITY (hundreds of zones within 2 km)`));

  // grid A* (npm pathfinding, 10 m cells) on the same index and drops
  const [rasterMs, raster] = time(() => rasterise(idx, 10));
  log(`grid: ${raster.width}×${raster.height} cells rasterised in ${rasterMs.toFixed(0)} ms`);
  records.push(rec('planner.county.index.build', buildMs, 'ms', rasterMs, 'grid A* set-up: rasterising the field at 10 m cells', `${idx.nodeCount} nodes, ${idx.edgeCount} edges; heap +${indexHeapMiB.toFixed(0)} MiB`));
  const gridMs: number[] = [], visMs: number[] = [];
  let gridLen = 0, visLen = 0, longer = 0, compared = 0;
  for (const [k, p] of pairs.slice(0, GRID_DROPS).entries()) {
    const g = gridShortestPath(raster, p.s, p.g);
    log(`grid route ${k}: ${g.ms.toFixed(0)} ms ${g.ok ? `${g.lengthM.toFixed(0)} m vs ${lengths[k].toFixed(0)} m` : 'no path'}`);
    if (!g.ok || !Number.isFinite(lengths[k])) continue;
    compared++;
    gridMs.push(g.ms);
    visMs.push(routeMs[k]);
    gridLen += g.lengthM;
    visLen += lengths[k];
    if (lengths[k] > g.lengthM * (1 + 1e-9)) longer++;
  }
  records.push(rec('planner.county.route.vs-grid', median(visMs), 'ms', median(gridMs), 'grid A* (npm pathfinding) 10 m cells, per route, excl. rasterising',
    `${compared} drops (the first of the pass, cone cache cold); speed-up ×${(median(gridMs) / median(visMs)).toFixed(0)}, with a warm cache ×${(median(gridMs) / median(repeatMs.slice(0, GRID_DROPS))).toFixed(0)}; rasterising ${raster.width}×${raster.height} cells took ${rasterMs.toFixed(0)} ms`));
  records.push(rec('planner.county.path-length', visLen, 'm', gridLen, 'grid A* 10 m cells', `sum over ${compared} drops; visibility path longer than grid in ${longer} of ${compared}`));
  const ru = process.resourceUsage();
  records.push(rec('planner.county.peak-rss', ru.maxRSS / 1024, 'MiB', process.memoryUsage().heapUsed / MiB, 'heap in use at the end', 'peak RSS of the bench process, incl. the grid raster'));

  // ---- demo zones ----
  const demo = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'planner', 'fixtures', 'demo-zones.geojson'), 'utf8'));
  const drops: [number, number][] = [[114.4023209, 34.0677342], [114.3799044, 34.0658456], [114.3944507, 34.0514565]];
  const cold: number[] = [];
  for (let k = 0; k < 5; k++) for (const d of drops) cold.push(time(() => planDelivery(demo, { drop: d }))[0]);
  const pl = createPlanner(demo);
  if (!pl.ok) throw new Error(pl.error.message);
  const warm: number[] = [];
  for (let k = 0; k < 10; k++) for (const d of drops) warm.push(time(() => pl.planner.plan({ drop: d }))[0]);
  records.push(rec('planner.demo.plan.warm', median(warm), 'ms', median(cold), 'planDelivery incl. zone validation + index build', `p95 warm ${pct(warm, 0.95).toFixed(2)} ms`));
  return records;
}
