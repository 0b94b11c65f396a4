/**
 * Manned-aircraft threat judge (src/delivery/traffic.ts): the cost of one check of the traffic
 * monitor (it runs every 500 ms) for a county of 1,000 flying drones predicted along the remaining
 * routes of their missions (60 s at 0.5 s) against 5 aircraft projected along their tracks, against
 * the straight-line closest approach of the same 5,000 pairs (separation.ts closestApproach) in the
 * same run; and the same check with the 5 aircraft all inside the drones' area (every pair sampled,
 * none passed over by the reach filter).
 */
import type { BenchRecord } from './types';
import { closestApproach } from '../src/delivery/separation';
import { aircraftPath, judgeFlight, type AircraftTrack, type JudgeOptions } from '../src/delivery/traffic';
import { trajectory, DEFAULT_MOTION, type Motion } from '../src/delivery/route-prediction';
import { rng } from '../test/planner/helpers';

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

export async function run(): Promise<BenchRecord[]> {
  const R = rng(246);
  const N = 1000;
  const o: JudgeOptions = { horizonS: 60, alertM: 2000, alertVerticalM: 300, stepS: 0.5, lowestLayerZ: 105 };
  // 1,000 drones over a 12 km × 12 km county, each with a delivery's remaining route
  const flights: Motion[] = Array.from({ length: N }, () => {
    const x = (R() - 0.5) * 12000, y = (R() - 0.5) * 12000, z = 120;
    const dx = (R() - 0.5) * 3000, dy = (R() - 0.5) * 3000;
    return { kind: 'route', from: { x, y, z }, model: DEFAULT_MOTION, route: [{ x: x + dx, y: y + dy, z, holdS: 0 }, { x: x + dx, y: y + dy, z: 80, holdS: 5 }, { x: x + dx, y: y + dy, z, holdS: 0 }, { x, y, z, holdS: 0 }, { x, y, z: 60, holdS: 0 }] };
  });
  const velocity = flights.map((f) => {
    const m = f as Extract<Motion, { kind: 'route' }>;
    const d = Math.hypot(m.route[0].x - m.from.x, m.route[0].y - m.from.y) || 1;
    return { x: m.from.x, y: m.from.y, z: m.from.z, vx: ((m.route[0].x - m.from.x) / d) * 10, vy: ((m.route[0].y - m.from.y) / d) * 10, vz: 0, atMs: 0 };
  });
  const aircraftAt = (spread: number): AircraftTrack[] =>
    Array.from({ length: 5 }, (_, k) => {
      const h = R() * 2 * Math.PI, sp = 30 + R() * 60;
      return { icao: `7C00${k}`, callsign: `AC${k}`, pos: { x: (R() - 0.5) * spread, y: (R() - 0.5) * spread, z: 150 + R() * 400 }, vx: sp * Math.sin(h), vy: sp * Math.cos(h), vz: 0 };
    });
  const check = (air: AircraftTrack[]) => {
    const paths = air.map((a) => aircraftPath(a, o.horizonS, o.stepS));
    let n = 0;
    for (const f of flights) n += judgeFlight(trajectory(f, o.horizonS, o.stepS), air, o, paths).length;
    return n;
  };
  const lineCheck = (air: AircraftTrack[]) => {
    const ts = air.map((a) => ({ x: a.pos.x, y: a.pos.y, z: a.pos.z, vx: a.vx, vy: a.vy, vz: a.vz, atMs: 0 }));
    let n = 0;
    for (const t of velocity) for (const a of ts) {
      const c = closestApproach(t, a, o.horizonS);
      if (c.minH < o.alertM && c.minV < o.alertVerticalM) n++;
    }
    return n;
  };
  // This process's CPU time (user + system) per call, ms: on a loaded machine (SITL builds) the wall
  // clock measures the other load as much as this work.
  const time = (fn: () => unknown, reps: number) => {
    for (let k = 0; k < 5; k++) fn(); // warm the JIT
    const out: number[] = [];
    for (let r = 0; r < 15; r++) {
      const c = process.cpuUsage();
      for (let k = 0; k < reps; k++) fn();
      const u = process.cpuUsage(c);
      out.push((u.user + u.system) / 1000 / reps);
    }
    return median(out);
  };
  const county = aircraftAt(30000);
  const inside = aircraftAt(6000);
  const countyMs = time(() => check(county), 3);
  const insideMs = time(() => check(inside), 3);
  const lineMs = time(() => lineCheck(county), 50);
  const threats = [check(county), check(inside)];
  process.stderr.write(`  traffic: check of ${N} drones × 5 aircraft ${countyMs.toFixed(1)} ms (${threats[0]} threats), aircraft inside the area ${insideMs.toFixed(1)} ms (${threats[1]} threats); straight lines ${lineMs.toFixed(2)} ms\n`);
  return [
    { name: 'traffic.check.1000-drones.5-aircraft', value: countyMs, unit: 'ms cpu', baseline: lineMs, ratio: countyMs / lineMs, baselineName: 'straight-line closest approach of the same 5,000 pairs', note: `one monitor check (every 500 ms): 1,000 trajectories over 60 s at 0.5 s along routes, aircraft anywhere within 15 km; ${threats[0]} threats` },
    { name: 'traffic.check.1000-drones.5-aircraft-inside', value: insideMs, unit: 'ms cpu', baseline: countyMs, ratio: insideMs / countyMs, baselineName: 'the same check with the aircraft anywhere within 15 km', note: `the 5 aircraft inside the drones' 6 km square: most pairs sampled; ${threats[1]} threats` },
  ];
}
