/**
 * A simulated day of deliveries (issue 15): 60 requests over 2 hours, 6 vehicles at 3 launch sites,
 * each request promised within 15 minutes. The same stream of requests is served twice in the same
 * run: by assisted dispatch (the product's own ranking, src/delivery/ranking.ts rankQueue, acted on
 * as auto-dispatch does: a job goes to its recommended vehicle as soon as that vehicle is free) and
 * by first-come-first-served dispatch (the oldest request to the first free vehicle, whatever its
 * site and whatever the request's priority). Figure: the share of requests dropped within the
 * promise, with the request-to-drop times.
 *
 * What is real and what is modelled. Every flight's times and energy come from the real planner on
 * the demo zones (with a third launch site added), planned from the launch site of the vehicle that
 * flies it: outbound time to the drop, whole flight time, energy. Around the flights, the day is a
 * discrete-event model with the ranking's own ground times (30 s from dispatch to lift-off, 120 s
 * turn-around after landing, a 300 s battery swap when the pack is below the 60 % launch threshold,
 * the demo airframe's 444 Wh pack). No vehicle is flown: flying 120 sorties on simulators would
 * measure the simulator, not the dispatch. Requests arrive in bursts, as chat-group posts do (a quiet
 * stream with three rushes), from random points inside the three sealed compounds; 20 % urgent, 30 %
 * high, 50 % normal. Seeded: every run serves the same day.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BenchRecord } from './types';
import { createPlanner } from '../planner';
import { pointInRing } from '../planner/geo';
import { rankQueue, rankJobOf, type RankJob, type RankVehicle } from '../src/delivery/ranking';
import type { Priority } from '../src/delivery/types';
import { rng } from '../test/planner/helpers';

const DAY_S = 2 * 3600;
const REQUESTS = 60;
const PROMISE_S = 15 * 60;
const LAUNCH_S = 30;
const TURNAROUND_S = 120;
const SWAP_S = 300;
const MIN_BATTERY_PCT = 60;
const BATTERY_WH = 444;
/** A third launch site for the demo district (west of the middle school; the planner checks it). */
const WEST_SITE = { name: 'West Checkpoint 西检查站', at: [114.3765, 34.0575] as [number, number] };
/** Two vehicles per site. */
const FLEET: Array<{ id: string; site: string }> = [
  { id: 'pp1-a', site: 'Police Post 1' }, { id: 'pp1-b', site: 'Police Post 1' },
  { id: 'fs2-a', site: 'Fire Station 2 消防二站' }, { id: 'fs2-b', site: 'Fire Station 2 消防二站' },
  { id: 'west-a', site: WEST_SITE.name }, { id: 'west-b', site: WEST_SITE.name },
];

interface Request { id: string; atS: number; priority: Priority; drop: [number, number]; zone: string }
interface FlightPlan { outboundS: number; durationS: number; energyWh: number; reserveWh: number; job: RankJob }
interface Vehicle { id: string; site: string; at: [number, number]; freeAtS: number; batteryWh: number }
interface Outcome { id: string; priority: Priority; waitS: number; onTime: boolean }

export async function run(): Promise<BenchRecord[]> {
  const log = (s: string) => process.stderr.write(`  sim-day: ${s}\n`);
  const zones = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'planner', 'fixtures', 'demo-zones.geojson'), 'utf8'));
  zones.features.push({ type: 'Feature', properties: { kind: 'launch-site', name: WEST_SITE.name }, geometry: { type: 'Point', coordinates: WEST_SITE.at } });
  const created = createPlanner(zones);
  if (!created.ok) throw new Error(created.error.message);
  const planner = created.planner;
  const siteAt = new Map<string, [number, number]>();
  for (const f of zones.features) if (f.properties.kind === 'launch-site') siteAt.set(f.properties.name, f.geometry.coordinates);

  const requests = requestStream(zones);
  // Every flight planned once, from every site: the flight a vehicle flies is the one from its own site.
  const plans = new Map<string, FlightPlan>();
  const t0 = performance.now();
  for (const r of requests) {
    for (const site of siteAt.keys()) {
      const p = planner.plan({ drop: r.drop, launch: site }) as any;
      if (!p.ok) throw new Error(`${r.id} from ${site}: ${p.error?.code} ${p.error?.message}`);
      const job = rankJobOf({ id: r.id, priority: r.priority, createdAt: iso(r.atS), promiseBy: iso(r.atS + PROMISE_S), drop: r.drop, plan: p });
      if (!job) throw new Error(`${r.id}: plan without times`);
      plans.set(`${r.id}@${site}`, { outboundS: job.plan.outboundS, durationS: p.durationS, energyWh: p.energyWh, reserveWh: p.reserveWh ?? 0, job });
    }
  }
  log(`${requests.length} requests over ${DAY_S / 3600} h, ${FLEET.length} vehicles at ${siteAt.size} sites; ${plans.size} flights planned in ${(performance.now() - t0).toFixed(0)} ms`);

  const assisted = serve('assisted', requests, plans, siteAt);
  const fcfs = serve('fcfs', requests, plans, siteAt);
  const share = (o: Outcome[], p?: Priority) => { const s = p ? o.filter((x) => x.priority === p) : o; return (100 * s.filter((x) => x.onTime).length) / s.length; };
  const q = (o: Outcome[], f: number) => { const s = o.map((x) => x.waitS).sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(f * s.length))]; };
  for (const [name, o] of [['assisted', assisted], ['first-come-first-served', fcfs]] as const) {
    log(`${name}: ${share(o).toFixed(1)} % within 15 min (urgent ${share(o, 'urgent').toFixed(0)} %, high ${share(o, 'high').toFixed(0)} %, normal ${share(o, 'normal').toFixed(0)} %); request to drop median ${(q(o, 0.5) / 60).toFixed(1)} min, p90 ${(q(o, 0.9) / 60).toFixed(1)} min, max ${(q(o, 1) / 60).toFixed(1)} min`);
  }
  const note = (o: Outcome[]) => `median ${(q(o, 0.5) / 60).toFixed(1)} min, p90 ${(q(o, 0.9) / 60).toFixed(1)} min request to drop; urgent ${share(o, 'urgent').toFixed(0)} % on time`;
  return [
    { name: 'dispatch.sim-day.on-time.assisted', value: share(assisted), unit: '%', baseline: share(fcfs), ratio: share(assisted) / share(fcfs), baselineName: 'first-come-first-served dispatch, same requests and fleet', note: `${REQUESTS} requests, 2 h, 6 vehicles, 3 sites; assisted ${note(assisted)}; FCFS ${note(fcfs)}` },
    { name: 'dispatch.sim-day.on-time.urgent.assisted', value: share(assisted, 'urgent'), unit: '%', baseline: share(fcfs, 'urgent'), ratio: share(assisted, 'urgent') / Math.max(1e-9, share(fcfs, 'urgent')), baselineName: 'first-come-first-served, urgent requests' },
    { name: 'dispatch.sim-day.p90-request-to-drop.assisted', value: q(assisted, 0.9) / 60, unit: 'min', baseline: q(fcfs, 0.9) / 60, ratio: q(assisted, 0.9) / q(fcfs, 0.9), baselineName: 'first-come-first-served p90' },
  ];
}

function iso(s: number): string {
  return new Date(s * 1000).toISOString();
}

/** The day's requests: a background stream and three rushes, from random points inside the sealed compounds. */
function requestStream(zones: any): Request[] {
  const R = rng(20261207);
  const sealed = zones.features.filter((f: any) => f.properties.kind === 'sealed-zone');
  const start = Date.UTC(2026, 11, 7, 8, 0, 0) / 1000;
  const times: number[] = [];
  const rushes = [{ atS: 20 * 60, n: 12 }, { atS: 55 * 60, n: 12 }, { atS: 95 * 60, n: 12 }];
  for (const r of rushes) for (let k = 0; k < r.n; k++) times.push(r.atS + R() * 10 * 60);
  while (times.length < REQUESTS) times.push(R() * (DAY_S - 20 * 60));
  times.sort((a, b) => a - b);
  return times.map((t, k) => {
    const z = sealed[Math.floor(R() * sealed.length)];
    const ring: [number, number][] = z.geometry.coordinates[0];
    const xs = ring.map((c) => c[0]), ys = ring.map((c) => c[1]);
    let p: [number, number];
    do p = [Math.min(...xs) + R() * (Math.max(...xs) - Math.min(...xs)), Math.min(...ys) + R() * (Math.max(...ys) - Math.min(...ys))];
    while (!pointInRing(p, ring));
    const u = R();
    const priority: Priority = u < 0.2 ? 'urgent' : u < 0.5 ? 'high' : 'normal';
    return { id: `R${String(k + 1).padStart(2, '0')}`, atS: start + Math.round(t), priority, drop: [Number(p[0].toFixed(7)), Number(p[1].toFixed(7))], zone: z.properties.name };
  });
}

/** Serves the requests with one dispatch rule; event times in whole seconds. */
function serve(rule: 'assisted' | 'fcfs', requests: Request[], plans: Map<string, FlightPlan>, siteAt: Map<string, [number, number]>): Outcome[] {
  const vehicles: Vehicle[] = FLEET.map((v) => ({ id: v.id, site: v.site, at: siteAt.get(v.site)!, freeAtS: 0, batteryWh: BATTERY_WH }));
  const queue: Request[] = [];
  const out: Outcome[] = [];
  let next = 0;
  const end = requests[0].atS + 6 * 3600;
  const fly = (r: Request, v: Vehicle, now: number) => {
    const f = plans.get(`${r.id}@${v.site}`)!;
    const dropAtS = now + LAUNCH_S + f.outboundS;
    v.batteryWh -= f.energyWh;
    v.freeAtS = now + LAUNCH_S + f.durationS + TURNAROUND_S;
    if ((100 * v.batteryWh) / BATTERY_WH < MIN_BATTERY_PCT) { v.freeAtS += SWAP_S; v.batteryWh = BATTERY_WH; }
    out.push({ id: r.id, priority: r.priority, waitS: dropAtS - r.atS, onTime: dropAtS - r.atS <= PROMISE_S });
    queue.splice(queue.indexOf(r), 1);
  };
  for (let now = requests[0].atS; out.length < requests.length; now++) {
    if (now > end) throw new Error(`${rule}: ${requests.length - out.length} requests not served by the end of the day`);
    while (next < requests.length && requests[next].atS <= now) queue.push(requests[next++]);
    const free = vehicles.filter((v) => v.freeAtS <= now);
    if (queue.length === 0 || free.length === 0) continue;
    if (rule === 'fcfs') {
      // the oldest request to the first free vehicle, one pair at a time
      for (const v of free) {
        if (queue.length === 0) break;
        fly(queue[0], v, now);
      }
      continue;
    }
    // Assisted: rank the whole queue against the whole fleet; dispatch each job whose recommended
    // vehicle is free now (a busy one recommended means waiting for it beats any free one).
    // Each job carries one plan, as a stored job does: from the site nearest in flight time.
    const jobs = queue.map((r) => [...siteAt.keys()].map((site) => plans.get(`${r.id}@${site}`)!).sort((a, b) => a.outboundS - b.outboundS)[0].job);
    const rv: RankVehicle[] = vehicles.map((v) => ({
      id: v.id, at: v.at, waitingFor: [], connected: true,
      busyUntilS: v.freeAtS > now ? v.freeAtS - TURNAROUND_S : null,
      batteryPct: (100 * v.batteryWh) / BATTERY_WH, batteryWh: BATTERY_WH,
    }));
    const ranking = rankQueue(jobs, rv, now, { minBatteryPct: MIN_BATTERY_PCT, batterySwapS: SWAP_S, turnaroundS: TURNAROUND_S, launchS: LAUNCH_S });
    for (const jr of ranking) {
      const v = vehicles.find((x) => x.id === jr.recommended);
      if (!v || v.freeAtS > now) continue;
      fly(queue.find((r) => r.id === jr.jobId)!, v, now);
    }
  }
  out.sort((a, b) => (a.id < b.id ? -1 : 1));
  return out;
}
