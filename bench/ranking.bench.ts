/**
 * Assisted dispatch benchmark (issue 15): ranking every vehicle for every queued job — 100 queued
 * jobs × 50 vehicles (goal ≤ 20 ms) — against planning one of those flights with the planner (the
 * demo zones, warm), in the same run: the ranking estimates all 5,000 pairs for the cost of a few
 * plans, where planning every pair would cost 5,000.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BenchRecord } from './types';
import { createPlanner } from '../planner';
import { rankQueue, rankJobOf, type RankJob, type RankVehicle } from '../src/delivery/ranking';
import { rng } from '../test/planner/helpers';

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

export async function run(): Promise<BenchRecord[]> {
  const demo = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'planner', 'fixtures', 'demo-zones.geojson'), 'utf8'));
  const created = createPlanner(demo);
  if (!created.ok) throw new Error(created.error.message);
  const planner = created.planner;
  const drops: [number, number][] = [[114.4023209, 34.0677342], [114.3799044, 34.0658456], [114.3944507, 34.0514565]];
  const sites: [number, number][] = [[114.39, 34.06], [114.4041121, 34.0501075]];
  const plans = drops.map((d) => planner.plan({ drop: d }) as any);
  const R = rng(99);
  const nowS = 1_800_000_000;
  const jobs: RankJob[] = [];
  for (let k = 0; k < 100; k++) {
    const j = k % drops.length;
    const createdAtS = nowS - Math.floor(R() * 1200);
    const r = rankJobOf({ id: `D${k}`, priority: (['urgent', 'high', 'normal'] as const)[k % 3], createdAt: new Date(createdAtS * 1000).toISOString(), promiseBy: new Date((createdAtS + 900) * 1000).toISOString(), drop: drops[j], plan: plans[j] });
    if (!r) throw new Error('no plan');
    jobs.push(r);
  }
  const vehicles: RankVehicle[] = Array.from({ length: 50 }, (_, k) => ({
    id: `v${k}`,
    at: [sites[k % 2][0] + (R() - 0.5) * 0.002, sites[k % 2][1] + (R() - 0.5) * 0.002] as [number, number],
    waitingFor: R() < 0.1 ? ['ekf'] : [],
    busyUntilS: R() < 0.3 ? nowS + Math.floor(R() * 600) : null,
    batteryPct: 30 + R() * 70,
    batteryWh: 444,
    connected: R() > 0.05,
  }));
  for (let k = 0; k < 20; k++) rankQueue(jobs, vehicles, nowS); // warm the JIT
  const rankMs: number[] = [];
  let recommended = 0;
  for (let k = 0; k < 50; k++) {
    const t = performance.now();
    const r = rankQueue(jobs, vehicles, nowS);
    rankMs.push(performance.now() - t);
    recommended = r.filter((x) => x.recommended).length;
  }
  const planMs: number[] = [];
  for (let k = 0; k < 30; k++) {
    const t = performance.now();
    planner.plan({ drop: drops[k % 3], launch: k % 2 ? 'Police Post 1' : sites[1] });
    planMs.push(performance.now() - t);
  }
  process.stderr.write(`  ranking: 100 jobs × 50 vehicles median ${median(rankMs).toFixed(2)} ms (p95 ${pct(rankMs, 0.95).toFixed(2)}); one plan median ${median(planMs).toFixed(2)} ms; ${recommended} jobs got a vehicle\n`);
  return [{ name: 'dispatch.rank.100x50.median', value: median(rankMs), unit: 'ms', baseline: median(planMs), ratio: median(rankMs) / median(planMs), baselineName: 'planning one of those flights (demo zones, warm planner)', note: `goal ≤ 20 ms. p95 ${pct(rankMs, 0.95).toFixed(2)} ms; 5,000 candidates ranked with reasons, ${recommended} of 100 jobs recommended a vehicle (one job per vehicle, in dispatch order)` }];
}
