/**
 * Strategic deconfliction benchmark (issue 15): planning time of the 10th concurrent flight on the
 * 1,000-polygon county (12 km × 12 km, four launch sites), deconflicted against the nine flights
 * already planned and airborne, against the same plan undeconflicted, in the same run.
 *
 * Deconflicted = what the dispatcher does (src/delivery/airspace.ts): the flight planned at each of
 * the three cruise layers (here one after another; the service spreads them over its planner
 * threads), then one deconfliction over them against the 9 active volumes. Undeconflicted = one
 * plan at the first layer. The planner's route index is shared, as in the service's planner threads. Each flight's drop lies within
 * 5 km of its launch site (a station serves the compounds around it), towards the county's middle so
 * that flights from neighbouring sites cross; the sites take turns; the nine earlier flights lift off
 * 30 s apart, the 10th at the ninth's lift-off.
 */
import type { BenchRecord } from './types';
import { createPlanner, validateZones } from '../planner';
import { zoneProjection } from '../planner/plan';
import { inFreeSpace } from '../planner/route';
import { deconflict, DEFAULT_DECONFLICT, type ActiveFlight, type FlightPath } from '../planner/deconflict';
import type { XY, LonLat } from '../planner/geo';
import { countyField, rng } from '../test/planner/helpers';

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const time = <T>(f: () => T): [number, T] => { const t = performance.now(); const r = f(); return [performance.now() - t, r]; };

const SETS = Number(process.env.DECONFLICT_BENCH_SETS ?? 4);
const TENTHS = Number(process.env.DECONFLICT_BENCH_TENTHS ?? 10);

export async function run(): Promise<BenchRecord[]> {
  const log = (s: string) => process.stderr.write(`  deconflict: ${s}\n`);
  const field = countyField(3, 1000, 12000);
  const created = createPlanner(field);
  if (!created.ok) throw new Error(created.error.message);
  const planner = created.planner;
  const vz = validateZones(field);
  if (!vz.ok) throw new Error(vz.error.message);
  const proj = zoneProjection(vz.zones);
  const idx = planner.routeIndex(30, 20);
  const sites = vz.zones.launchSites.map((s) => s.name);
  const origin: LonLat = proj.toLonLat([0, 0]);
  const layers = DEFAULT_DECONFLICT.layersM;
  const R = rng(15);
  const siteXY = vz.zones.launchSites.map((s) => proj.toXY([s.lon, s.lat]));
  const drop = (k: number): LonLat => {
    const [sx, sy] = siteXY[k % siteXY.length];
    for (;;) {
      const g: XY = [sx - Math.sign(sx) * R() * 5000, sy - Math.sign(sy) * R() * 5000];
      if (Math.hypot(g[0] - sx, g[1] - sy) <= 5000 && inFreeSpace(idx, g)) return proj.toLonLat(g);
    }
  };
  const request = (k: number, d: LonLat, layerM: number) => ({ launch: sites[k % sites.length], drop: d, profile: { batteryWh: 5000, cruiseAltM: layerM, dropAltM: 15 } });
  const pathOf = (p: any): FlightPath => ({ legs: p.legs, cruiseAltM: p.cruiseAltM });
  // warm the JIT
  for (let k = 0; k < 4; k++) planner.plan(request(k, drop(k), layers[0]));

  const plainMs: number[] = [], deconflictedMs: number[] = [], deconflictOnlyMs: number[] = [];
  const methods = { clear: 0, layer: 0, hold: 0 };
  let refused = 0;
  const holds: number[] = [];
  for (let s = 0; s < SETS; s++) {
    // nine flights planned and deconflicted one after another (not timed)
    const active: ActiveFlight[] = [];
    for (let k = 0; active.length < 9; k++) {
      const p: any = planner.plan(request(k, drop(k), layers[0]));
      if (!p.ok) continue;
      const r = deconflict({ id: `s${s}f${k}`, path: pathOf(p), launchAtS: active.length * 30, active, origin });
      if (!r.ok) continue;
      const flown: any = r.layerM === layers[0] ? p : planner.plan(request(k, [p.drop.lon, p.drop.lat], r.layerM));
      if (!flown.ok) continue;
      active.push({ id: `s${s}f${k}`, path: pathOf(flown), layerM: r.layerM, launchAtS: r.launchAtS });
    }
    const launchAtS = 8 * 30;
    for (let m = 0; m < TENTHS; m++) {
      const k = 9 + m;
      const d = drop(k);
      const [ms0, plain] = time(() => planner.plan(request(k, d, layers[0])));
      if (!plain.ok) continue;
      const [ms1, out] = time(() => {
        // as the dispatcher does: the job planned at every layer, then one decision over them
        const plans = new Map<number, any>();
        for (const l of layers) {
          const p: any = planner.plan(request(k, d, l));
          if (p.ok) plans.set(l, p);
        }
        const first = plans.values().next().value;
        if (!first) return { p: null, r: null };
        const t = performance.now();
        const r = deconflict({ id: 'tenth', path: pathOf(first), pathAt: (l) => (plans.has(l) ? pathOf(plans.get(l)) : null), launchAtS, active, origin, options: { layersM: [...plans.keys()] } });
        const dcMs = performance.now() - t;
        return { p: r.ok ? plans.get(r.layerM) : null, r, dcMs };
      });
      plainMs.push(ms0);
      if (process.env.DECONFLICT_BENCH_TRACE) log(`${ms0.toFixed(1)} ${ms1.toFixed(1)} ${out.dcMs?.toFixed(2)} ${out.r && out.r.ok ? out.r.method + " " + out.r.layerM + " " + out.r.holdS : out.r?.code}`);
      deconflictedMs.push(ms1);
      if (out.dcMs !== undefined) deconflictOnlyMs.push(out.dcMs);
      if (!out.r || !out.r.ok) { refused++; continue; }
      methods[out.r.method]++;
      if (out.r.holdS > 0) holds.push(out.r.holdS);
    }
  }
  const n = deconflictedMs.length;
  log(`10th flight: ${n} samples; plain plan median ${median(plainMs).toFixed(1)} ms; deconflicted median ${median(deconflictedMs).toFixed(1)} ms (p95 ${pct(deconflictedMs, 0.95).toFixed(1)}); deconfliction alone median ${median(deconflictOnlyMs).toFixed(2)} ms; ${JSON.stringify(methods)}, ${refused} refused`);
  const rec = (name: string, value: number, baseline: number, baselineName: string, note: string): BenchRecord => ({ name, value, unit: 'ms', baseline, ratio: value / baseline, baselineName, note });
  return [
    rec('deconflict.county.tenth-flight.median', median(deconflictedMs), median(plainMs), 'the same plan without deconfliction (same drops, same run)',
      `goal ≤ 50 ms. ${n} 10th flights over ${SETS} sets of 9 active flights (1,000 no-fly polygons, 12×12 km, drops within 5 km of their launch site): p95 ${pct(deconflictedMs, 0.95).toFixed(1)} ms vs ${pct(plainMs, 0.95).toFixed(1)} ms; chosen: ${methods.clear} first layer, ${methods.layer} another layer, ${methods.hold} timed hold (median ${holds.length ? median(holds) : 0} s); ${refused} refused AIRSPACE_FULL (hold over 30 min)`),
    rec('deconflict.county.volumes-only.median', median(deconflictOnlyMs), median(plainMs), 'one plan of the same flight', `the deconfliction step alone (3 layers × 9 active volumes), p95 ${pct(deconflictOnlyMs, 0.95).toFixed(2)} ms`),
  ];
}
