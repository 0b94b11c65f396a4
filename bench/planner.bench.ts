/**
 * Planner benchmarks.
 *
 * County scale (the figures the planner is held to, issue 12): 1,000 star-shaped no-fly polygons
 * (~20,000 vertices) in a 12 km × 12 km operating area, four launch sites, 100 drop points, one
 * planner (zones validated and indexed once). Measured in the same run:
 *  - index build (baseline: rasterising the same free space at 10 m for grid A*);
 *  - route search per drop, median and p95 (baseline: the previous full-scan A* on a few drops);
 *  - route search vs grid A* from npm `pathfinding` at 10 m cells on the same drops (time, length),
 *    cold per route (see COLD below);
 *  - full plan per drop (route + corridor fence + rally + mission + energy), median and p95, and
 *    the fence's size (baseline: the previous area-wide fence on the same routes);
 *  - peak RSS of the planner's part of the run (baseline: the whole run, grid A* included).
 *
 * Demo zones: warm plan time against a cold planDelivery.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import type { BenchRecord } from './types';
import { createPlanner, planDelivery, validateZones } from '../planner';
import { zoneProjection } from '../planner/plan';
import { findPath, findPathFullScan, inFreeSpace } from '../planner/route';
import { round7, type XY } from '../planner/geo';
import { countyField, rng } from '../test/planner/helpers';
import { gridShortestPath, rasterise } from '../test/planner/grid-baseline';
import { buildAreaFence } from './baseline-area-fence';

/**
 * "Cold, per route", as the comparison with grid A* measures it, like with like: grid A* gets its
 * raster built once, outside its timing, and the route search gets its index built once, outside
 * its timing. Each route is then one search on a drop, timed right after grid A* ran on the
 * previous drop (so the CPU caches hold grid A*'s data, not the index, and its garbage is still
 * about); nothing found by an earlier search is reused (no visibility edges, distances or paths are
 * kept between searches; only the search's scratch arrays are reused, reset by a search number).
 * Grid A*'s time includes cloning its grid, which the library needs per search.
 */
const COLD = 'cold: index (raster) built once outside the timing, one search per drop right after grid A* on the previous drop, nothing reused from earlier searches, the heap collected (and the collector given 50 ms to finish) before each timed call of either';
/**
 * A full garbage collection, run before each timed call of the grid comparison (both sides): grid
 * A* leaves hundreds of MiB of garbage (its grid clone, node objects) that V8 would otherwise
 * collect during whatever runs next, charging grid A*'s garbage to the route search's clock.
 * Caches stay cold (the collector walks the heap, not the index's typed arrays).
 */
const collectGarbage: () => void = (() => { v8.setFlagsFromString('--expose-gc'); return vm.runInNewContext('gc') as () => void; })();
/**
 * After each forced collection, a pause before the timed call: `gc()` returns with the collector
 * still sweeping and releasing what it freed (grid A*'s garbage) on helper threads. On the 2-core
 * machine that work ran during the route search that followed and took the CPU from it (the
 * process's CPU time above the search's wall clock; the same searches 1.2–2 × slower than with the
 * pause, in a separate script), charging grid A*'s garbage to the route search after all. 50 ms
 * lets it finish; nothing of the search or grid A* runs meanwhile, so their caches stay cold.
 */
const SETTLE_MS = 50;
const settle = (): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLE_MS); };
const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const time = <T>(f: () => T): [number, T] => { const t = performance.now(); const r = f(); return [performance.now() - t, r]; };
/** Wall clock and this process's CPU time (user + system), ms: on a shared machine the CPU time shows the work when other load stretches the wall clock. */
const timeCpu = <T>(f: () => T): [number, number, T] => { const c = process.cpuUsage(); const t = performance.now(); const r = f(); const ms = performance.now() - t; const u = process.cpuUsage(c); return [ms, (u.user + u.system) / 1000, r]; };
const rec = (name: string, value: number, unit: string, baseline: number, baselineName: string, note?: string): BenchRecord => ({ name, value, unit, baseline, ratio: baseline === 0 ? NaN : value / baseline, baselineName, ...(note ? { note } : {}) });
const MiB = 1048576;
const rssMiB = () => process.resourceUsage().maxRSS / 1024;

/** Drop points this many; grid A*, the old full-scan search and the old fence run on the first few of them. */
const DROPS = Number(process.env.PLANNER_BENCH_DROPS ?? 100);
const GRID_DROPS = Number(process.env.PLANNER_BENCH_GRID_DROPS ?? 6);
const FULLSCAN_DROPS = Number(process.env.PLANNER_BENCH_FULLSCAN_DROPS ?? 3);
const OLD_FENCE_DROPS = Number(process.env.PLANNER_BENCH_OLD_FENCE_DROPS ?? 5);

export async function run(): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const log = (s: string) => process.stderr.write(`  planner: ${s}\n`);
  const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const loadAtStart = load();
  log(`load average (1, 5, 15 min) ${loadAtStart} on ${os.cpus().length} cores`);

  // ---- county scale: one planner, its index built once ----
  const field = countyField(3, 1000, 12000);
  const [zonesMs, created] = time(() => createPlanner(field));
  if (!created.ok) throw new Error(created.error.message);
  const planner = created.planner;
  const vz = validateZones(field);
  if (!vz.ok) throw new Error(vz.error.message);
  const vertices = vz.zones.noFly.reduce((s, z) => s + z.polygons.reduce((t, p) => t + p[0].length, 0), 0);
  const proj = zoneProjection(vz.zones);
  const heap0 = process.memoryUsage().heapUsed;
  const [buildMs, buildCpu, idx] = timeCpu(() => planner.routeIndex(30, 20));
  const indexHeapMiB = (process.memoryUsage().heapUsed - heap0) / MiB;
  log(`county: ${vz.zones.noFly.length} no-fly polygons, ${vertices} vertices; zones validated and indexed in ${zonesMs.toFixed(0)} ms; route index ${buildMs.toFixed(0)} ms (CPU time ${buildCpu.toFixed(0)} ms), ${idx.nodeCount} nodes, ${idx.edgeCount} edges`);
  const sites = vz.zones.launchSites.map((s) => proj.toXY([s.lon, s.lat]));
  const R = rng(5);
  const goals: XY[] = [];
  while (goals.length < DROPS) {
    const g: XY = [(R() * 2 - 1) * 5800, (R() * 2 - 1) * 5800];
    if (inFreeSpace(idx, g)) goals.push(g);
  }
  const pairs = goals.map((g, k) => ({ s: sites[k % sites.length], g, site: vz.zones.launchSites[k % sites.length].name }));
  // warm up the JIT on other drops, as a planner thread of the running service is (nothing is cached
  // between searches: each search starts from reset scratch arrays; 20 searches let V8 finish
  // optimising the search's functions, which 5 did not: the first pass's p95 then measured tier-up)
  const W = rng(77);
  for (let k = 0; k < 20; k++) {
    const g: XY = [(W() * 2 - 1) * 5800, (W() * 2 - 1) * 5800];
    if (inFreeSpace(idx, g)) { findPath(idx, sites[k % 4], g); planner.plan({ launch: vz.zones.launchSites[k % 4].name, drop: proj.toLonLat(g), profile: { batteryWh: 5000 } }); }
  }

  // routes, each searched once
  const routeMs: number[] = [], routeCpu: number[] = [], lengths: number[] = [], outbound: (XY[] | null)[] = [];
  let direct = 0, unreachable = 0, expanded = 0, checks = 0;
  for (const p of pairs) {
    const [ms, cpu, r] = timeCpu(() => findPath(idx, p.s, p.g));
    routeMs.push(ms);
    routeCpu.push(cpu);
    lengths.push(r.ok ? r.lengthM : NaN);
    outbound.push(r.ok ? r.path : null);
    expanded += r.expanded; checks += r.segmentChecks;
    if (!r.ok) unreachable++; else if (r.path.length === 2) direct++;
  }
  // the same searches with and without the occluders, alternately (same load), as CPU time
  const withCpu: number[] = [], withoutCpu: number[] = [];
  let withChecks = 0, withoutChecks = 0, sameLength = 0;
  for (const [k, p] of pairs.entries()) {
    const runWith = () => { const [, cpu, r] = timeCpu(() => findPath(idx, p.s, p.g)); withCpu.push(cpu); withChecks += r.segmentChecks; return r; };
    const runWithout = () => { const [, cpu, r] = timeCpu(() => findPath(idx, p.s, p.g, { occluders: false })); withoutCpu.push(cpu); withoutChecks += r.segmentChecks; return r; };
    const [a, b] = k % 2 === 0 ? [runWith(), runWithout()] : [runWithout(), runWith()].reverse();
    if (a.ok === b.ok && (!a.ok || !b.ok || a.lengthM === b.lengthM)) sameLength++;
  }
  log(`occluders: route CPU time median ${median(withCpu).toFixed(2)} ms, p95 ${pct(withCpu, 0.95).toFixed(1)} ms; without: ${median(withoutCpu).toFixed(2)} / ${pct(withoutCpu, 0.95).toFixed(1)} ms; segment checks ${withChecks} vs ${withoutChecks}; same length ${sameLength}/${DROPS}`);
  records.push(rec('planner.county.route.p95.cpu', pct(withCpu, 0.95), 'ms', pct(withoutCpu, 0.95), 'the same search without occluders (CPU time, alternating per drop)',
    `${DROPS} drops, CPU time: median ${median(withCpu).toFixed(2)} ms vs ${median(withoutCpu).toFixed(2)} ms without occluders; segment checks ${withChecks} vs ${withoutChecks}; same path length in ${sameLength}/${DROPS}`));

  const med = median(routeMs), p95 = pct(routeMs, 0.95);
  log(`county routes: median ${med.toFixed(2)} ms, p95 ${p95.toFixed(1)} ms, max ${Math.max(...routeMs).toFixed(1)} ms; CPU time median ${median(routeCpu).toFixed(2)} ms, p95 ${pct(routeCpu, 0.95).toFixed(1)} ms`);

  // full plans: route + corridor fence + rally + mission + energy
  const planMs: number[] = [], planCpu: number[] = [], fenceItems: number[] = [];
  let planOk = 0, fenceRefused = 0, narrowed = 0, fencedOut = 0;
  const failures = new Map<string, number>();
  for (const p of pairs) {
    const [ms, cpu, r] = timeCpu(() => planner.plan({ launch: p.site, drop: proj.toLonLat(p.g), profile: { batteryWh: 5000 } }));
    planMs.push(ms);
    planCpu.push(cpu);
    if (r.ok) {
      planOk++;
      fenceItems.push(r.fenceSummary.storageItems);
      if (r.warnings.some((w) => w.code === 'FENCE_CORRIDOR_NARROWED')) narrowed++;
      if (r.fenceSummary.zonesFencedOut) fencedOut++;
    } else {
      failures.set(r.error.code, (failures.get(r.error.code) ?? 0) + 1);
      if (r.error.code === 'FENCE_CAPACITY') fenceRefused++;
    }
  }
  const planMed = median(planMs), planP95 = pct(planMs, 0.95);
  log(`county plans: median ${planMed.toFixed(1)} ms, p95 ${planP95.toFixed(1)} ms (CPU time ${median(planCpu).toFixed(1)} / ${pct(planCpu, 0.95).toFixed(1)} ms); ${planOk}/${DROPS} ok, fence items median ${median(fenceItems)} max ${Math.max(...fenceItems)}; refusals ${JSON.stringify(Object.fromEntries(failures))}`);

  // the previous area-wide fence on the same routes (a few): its time and its size
  const oldMs: number[] = [];
  const oldItems: number[] = [];
  let oldOver60 = 0, oldRefused = 0;
  for (const [k, p] of pairs.entries()) {
    if (oldMs.length >= OLD_FENCE_DROPS) break;
    const path = outbound[k];
    if (!path) continue;
    const route = path.map((q) => proj.toXY([round7(proj.toLonLat(q)[0]), round7(proj.toLonLat(q)[1])]));
    const [ms, f] = time(() => buildAreaFence(vz.zones, proj, route, [p.s, p.g], { fenceMaxItems: 84 }));
    oldMs.push(ms);
    if (f.ok) { const n = f.polygons.reduce((s, q) => s + q.ring.length, 0); oldItems.push(n); if (n > 60) oldOver60++; } else oldRefused++;
    log(`previous area fence ${oldMs.length}: ${ms.toFixed(0)} ms, ${f.ok ? `${oldItems[oldItems.length - 1]} items` : f.code}`);
  }
  records.push(rec('planner.county.plan.median', planMed, 'ms', median(oldMs) + median(routeMs.slice(0, OLD_FENCE_DROPS)), `previous plan: route + area-wide fence fitted to 84 items (first ${oldMs.length} routes)`,
    `${DROPS} drops, full plan (route + corridor fence + rally + mission + energy): p95 ${planP95.toFixed(1)} ms, max ${Math.max(...planMs).toFixed(1)} ms; CPU time median ${median(planCpu).toFixed(1)} ms, p95 ${pct(planCpu, 0.95).toFixed(1)} ms; ${planOk}/${DROPS} ok (${unreachable} unreachable); fence storage items median ${median(fenceItems)}, max ${Math.max(...fenceItems)} (capacity 60), ${fenceRefused} refused FENCE_CAPACITY; corridor narrowed in ${narrowed}, kept out of the zones in ${fencedOut}. Previous fence: ${oldRefused}/${oldMs.length} refused FENCE_BUDGET_EXCEEDED at 84 items, ${oldOver60}/${oldItems.length} of the others over 60 items`));
  records.push(rec('planner.county.plan.p95', planP95, 'ms', pct(oldMs, 0.95) + pct(routeMs.slice(0, OLD_FENCE_DROPS), 0.95), 'previous plan p95 (same few routes)'));
  records.push(rec('planner.county.fence.items.max', Math.max(...fenceItems), 'items', oldItems.length ? Math.max(...oldItems) : NaN, 'previous area-wide fence, max over its routes', `storage items (vertices + 1 per 4 polygons beyond the first) of the ${planOk} plans; median ${median(fenceItems)}`));

  // the previous full-scan search on the first drops
  const scanMs: number[] = [];
  let scanAgree = 0;
  for (const [k, p] of pairs.slice(0, FULLSCAN_DROPS).entries()) {
    const [ms, r] = time(() => findPathFullScan(idx, p.s, p.g));
    scanMs.push(ms);
    if (r.ok && Math.abs(r.lengthM - lengths[k]) <= 1e-6 * r.lengthM) scanAgree++;
    log(`full-scan search ${k}: ${ms.toFixed(0)} ms`);
  }
  records.push(rec('planner.county.route.median', med, 'ms', median(scanMs), `previous full-scan A* (same index, first ${FULLSCAN_DROPS} drops)`,
    `${DROPS} drops, 1000 no-fly polygons (${vertices} vertices) in 12×12 km: p95 ${p95.toFixed(1)} ms, max ${Math.max(...routeMs).toFixed(1)} ms; CPU time median ${median(routeCpu).toFixed(2)} ms, p95 ${pct(routeCpu, 0.95).toFixed(1)} ms; ${direct} direct, ${unreachable} unreachable; ${(expanded / DROPS).toFixed(0)} expansions and ${(checks / DROPS).toFixed(0)} segment checks per route; full-scan agrees on length in ${scanAgree}/${FULLSCAN_DROPS}; fast search on those drops: median ${median(routeMs.slice(0, FULLSCAN_DROPS)).toFixed(1)} ms`));
  records.push(rec('planner.county.route.p95', p95, 'ms', pct(scanMs, 0.95), 'previous full-scan A* p95'));
  const plannerRss = rssMiB();

  // grid A* (npm pathfinding, 10 m cells) on the same index and drops
  const [rasterMs, rasterCpu, raster] = timeCpu(() => rasterise(idx, 10));
  log(`grid: ${raster.width}×${raster.height} cells rasterised in ${rasterMs.toFixed(0)} ms (CPU time ${rasterCpu.toFixed(0)} ms)`);
  records.push(rec('planner.county.index.build', buildMs, 'ms', rasterMs, 'grid A* set-up: rasterising the field at 10 m cells', `rasterising: CPU time ${rasterCpu.toFixed(0)} ms; index: CPU time ${buildCpu.toFixed(0)} ms; ${idx.nodeCount} nodes, ${idx.edgeCount} edges; heap +${indexHeapMiB.toFixed(0)} MiB; zone validation and zone index before it: ${zonesMs.toFixed(0)} ms`));
  const gridMs: number[] = [], visMs: number[] = [], gridCpu: number[] = [], visCpu: number[] = [];
  let gridLen = 0, visLen = 0, longer = 0, compared = 0;
  for (const [k, p] of pairs.slice(0, GRID_DROPS).entries()) {
    // the route searched again just before grid A* on the same drop, so both see the same machine
    // load (nothing is cached between searches; after grid A* its garbage would be collected
    // during the route search; see COLD)
    collectGarbage();
    settle();
    const [vMs, vCpu] = timeCpu(() => findPath(idx, p.s, p.g));
    collectGarbage();
    settle();
    const [, gCpu, g] = timeCpu(() => gridShortestPath(raster, p.s, p.g));
    if (!g.ok || !Number.isFinite(lengths[k])) { log(`grid route ${k}: ${g.ms.toFixed(0)} ms, no path`); continue; }
    compared++;
    gridMs.push(g.ms);
    visMs.push(vMs);
    gridCpu.push(gCpu);
    visCpu.push(vCpu);
    log(`grid route ${k}: ${g.ms.toFixed(0)} ms (CPU ${gCpu.toFixed(0)} ms), ${g.lengthM.toFixed(0)} m; route search ${vMs.toFixed(1)} ms (CPU ${vCpu.toFixed(1)} ms), ${lengths[k].toFixed(0)} m`);
    gridLen += g.lengthM;
    visLen += lengths[k];
    if (lengths[k] > g.lengthM * (1 + 1e-9)) longer++;
  }
  // the same drops as searched in the 100-drop run above (warm: after other searches, not after grid A*)
  const warmMs = pairs.slice(0, GRID_DROPS).map((_, k) => routeMs[k]).filter((_, k) => Number.isFinite(lengths[k]));
  const gridLens = pairs.slice(0, GRID_DROPS).map((p) => Math.hypot(p.g[0] - p.s[0], p.g[1] - p.s[1]) / 1000);
  log(`route vs grid A* (${COLD}): route median ${median(visMs).toFixed(2)} ms (CPU ${median(visCpu).toFixed(2)} ms), grid A* median ${median(gridMs).toFixed(0)} ms (CPU ${median(gridCpu).toFixed(0)} ms): ×${(median(gridMs) / median(visMs)).toFixed(0)} wall clock, ×${(median(gridCpu) / median(visCpu)).toFixed(0)} CPU time; the same drops in the 100-drop run: median ${median(warmMs).toFixed(2)} ms; drops ${Math.min(...gridLens).toFixed(1)}–${Math.max(...gridLens).toFixed(1)} km apart; load average ${load()}`);
  records.push(rec('planner.county.route.vs-grid', median(visMs), 'ms', median(gridMs), 'grid A* (npm pathfinding) 10 m cells, per route, cold, excl. rasterising',
    `${compared} drops (the first ${GRID_DROPS}, ${Math.min(...gridLens).toFixed(1)}–${Math.max(...gridLens).toFixed(1)} km from their launch sites), ${COLD}; speed-up ×${(median(gridMs) / median(visMs)).toFixed(0)} (CPU time: ${median(visCpu).toFixed(2)} ms vs ${median(gridCpu).toFixed(0)} ms, ×${(median(gridCpu) / median(visCpu)).toFixed(0)}); the same drops in the 100-drop run: median ${median(warmMs).toFixed(2)} ms; rasterising ${raster.width}×${raster.height} cells took ${rasterMs.toFixed(0)} ms; load average ${loadAtStart} at the start, ${load()} here`));
  records.push(rec('planner.county.path-length', visLen, 'm', gridLen, 'grid A* 10 m cells', `sum over ${compared} drops; visibility path longer than grid in ${longer} of ${compared}`));
  records.push(rec('planner.county.peak-rss', plannerRss, 'MiB', rssMiB(), 'peak RSS of the whole run, grid A* raster included', 'peak RSS of the bench process up to the end of the planner figures (index, 100 routes, 100 plans, baselines), before the grid baseline rasterises the field'));

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
