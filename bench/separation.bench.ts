/**
 * Tactical separation benchmark (issue 15): the cost of one check of the separation monitor for ten
 * flying vehicles predicted along the remaining routes of their missions (ten trajectories over the
 * 20 s look-ahead, 45 pairs compared) against the straight-line prediction it replaced (45 pairs of
 * closest approach along the velocities), in the same run; and the cost of resolving one head-on
 * conflict (every candidate action predicted over the 60 s horizon). The monitor runs on telemetry,
 * at most every 20 ms: these figures are its share of the event loop.
 */
import type { BenchRecord } from './types';
import { closestApproach } from '../src/delivery/separation';
import { comparePaths, decide, expectedMotion, trajectory, DEFAULT_MOTION, type FlightView, type ResolveOptions } from '../src/delivery/route-prediction';
import { rng } from '../test/planner/helpers';

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

export async function run(): Promise<BenchRecord[]> {
  const R = rng(15);
  const sep = { horizontalM: 30, verticalM: 10 };
  const o: ResolveOptions = { ...sep, horizonS: 60, stepS: 0.5, climbM: 15, divert: true };
  // ten vehicles, each with a delivery's remaining route (six points: cruise, descent and hold, settle, climb, back, landing)
  const flights: FlightView[] = Array.from({ length: 10 }, (_, k) => {
    const x = (R() - 0.5) * 2000, y = (R() - 0.5) * 2000, z = 160;
    const dx = (R() - 0.5) * 1500, dy = (R() - 0.5) * 1500;
    return {
      id: `v${k}`, rank: [k % 3, String(k)], pos: { x, y, z }, groundSpeedMps: 10,
      route: [{ x: x + dx, y: y + dy, z, holdS: 0 }, { x: x + dx, y: y + dy, z: 140, holdS: 5 }, { x: x + dx, y: y + dy, z: 140, holdS: 3 }, { x: x + dx, y: y + dy, z, holdS: 0 }, { x, y, z, holdS: 0 }, { x, y, z: 100, holdS: 0 }],
      velocity: { vx: (dx / Math.hypot(dx, dy)) * 10, vy: (dy / Math.hypot(dx, dy)) * 10, vz: 0 }, model: DEFAULT_MOTION, canPause: true, ceilingZ: 210, giving: null,
    };
  });
  const tracks = flights.map((f) => ({ ...f.pos, ...f.velocity, atMs: 0 }));
  const routeCheck = () => {
    const paths = flights.map((f) => trajectory(expectedMotion(f), 20, 0.5));
    let n = 0;
    for (let i = 0; i < paths.length; i++) for (let j = i + 1; j < paths.length; j++) if (comparePaths(paths[i], paths[j], sep, 0.5).conflict) n++;
    return n;
  };
  const lineCheck = () => {
    let n = 0;
    for (let i = 0; i < tracks.length; i++) for (let j = i + 1; j < tracks.length; j++) {
      const c = closestApproach(tracks[i], tracks[j], 20);
      if (Math.min(c.nowH, c.minH) < sep.horizontalM && Math.min(c.nowV, c.minV) < sep.verticalM) n++;
    }
    return n;
  };
  const a: FlightView = { ...flights[0], id: 'urgent', rank: [0, 'a'], pos: { x: 0, y: 0, z: 160 }, route: [{ x: 1000, y: 0, z: 160, holdS: 0 }] };
  const b: FlightView = { ...flights[1], id: 'normal', rank: [2, 'b'], pos: { x: 400, y: 0, z: 160 }, route: [{ x: -600, y: 0, z: 160, holdS: 0 }] };
  const time = (fn: () => unknown, reps: number) => {
    for (let k = 0; k < 200; k++) fn(); // warm the JIT
    const out: number[] = [];
    for (let r = 0; r < 30; r++) {
      const t = performance.now();
      for (let k = 0; k < reps; k++) fn();
      out.push(((performance.now() - t) / reps) * 1000);
    }
    return median(out);
  };
  const routeUs = time(routeCheck, 200);
  const lineUs = time(lineCheck, 2000);
  const decideUs = time(() => decide(a, b, o), 200);
  const d = decide(a, b, o);
  process.stderr.write(`  separation: check of 10 vehicles along routes ${routeUs.toFixed(1)} µs, straight lines ${lineUs.toFixed(1)} µs; head-on resolution ${decideUs.toFixed(1)} µs (${d.action?.kind} ${d.action?.vehicle}, resolves ${d.resolves})\n`);
  return [
    { name: 'separation.check.10-vehicles.route', value: routeUs, unit: 'µs', baseline: lineUs, ratio: routeUs / lineUs, baselineName: 'straight-line closest approach of the same 45 pairs', note: 'one monitor check (at most every 20 ms): 10 trajectories over the 20 s look-ahead at 0.5 s, 45 pairs compared' },
    { name: 'separation.resolve.head-on', value: decideUs, unit: 'µs', baseline: routeUs, ratio: decideUs / routeUs, baselineName: 'one check of 10 vehicles along routes', note: `every candidate action (holds, climbs) predicted over the 60 s horizon; chose ${d.action?.kind} of ${d.action?.vehicle}` },
  ];
}
