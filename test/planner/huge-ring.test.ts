/**
 * Huge no-fly rings (planner/simplify-outward.ts): a ring of tens of thousands of vertices is
 * replaced by a coarse ring that contains it before it is buffered and indexed. Checked here: the
 * coarse ring never cuts into the zone and stays close to it; a plan round a 40,000-vertex ring
 * answers within a small heap (a worker thread with a hard heap limit), and its route keeps the
 * clearance from the ORIGINAL ring (measured with geometry written here, not the planner's).
 */
import { planDelivery } from '../../planner';
import { simplifyOutward } from '../../planner/simplify-outward';
import { createPlannerPool, type PlannerPool } from '../../src/planner-pool';
import { zigzagRing, zonesWithZigzag } from '../support/zones';
import { rng } from './helpers';

jest.setTimeout(120_000);

type P = [number, number];
const DROP: P = [114.3935, 34.0515];

/** Crossing number, points on the ring counted as inside. */
function insideOrOn(p: P, ring: P[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i], b = ring[j];
    if (segDist(p, a, b) === 0) return true;
    if (a[1] > p[1] !== b[1] > p[1] && p[0] < ((b[0] - a[0]) * (p[1] - a[1])) / (b[1] - a[1]) + a[0]) inside = !inside;
  }
  return inside;
}
function segDist(p: P, a: P, b: P): number {
  const dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
  const t = l2 > 0 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2)) : 0;
  return Math.hypot(a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
}
/** Least distance between segments a–b and c–d (0 when they cross). */
function segSegDist(a: P, b: P, c: P, d: P): number {
  const o = (p: P, q: P, r: P) => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
  if (o(a, b, c) * o(a, b, d) < 0 && o(c, d, a) * o(c, d, b) < 0) return 0;
  return Math.min(segDist(a, c, d), segDist(b, c, d), segDist(c, a, b), segDist(d, a, b));
}
function ringDist(p: P, ring: P[]): number {
  let d = Infinity;
  for (let i = 0; i < ring.length; i++) d = Math.min(d, segDist(p, ring[i], ring[(i + 1) % ring.length]));
  return d;
}
/** A star-shaped ring of n vertices (metres) with spikes: simple, full of concavities. */
function spiky(seed: number, n: number): P[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, k) => {
    const a = (k / n) * 2 * Math.PI, rad = 200 + (k % 2 ? 150 * r() : 20 * r());
    return [rad * Math.cos(a), rad * Math.sin(a)] as P;
  });
}

describe('simplifyOutward', () => {
  const cases: [string, P[]][] = [
    ['a 40,000-vertex zigzag (metres)', zigzagRing(40_000).slice(0, -1).map(([x, y]) => [(x - 114.392) * 92_000, (y - 34.055) * 111_000] as P)],
    ['a 6,000-vertex spiky star', spiky(1, 6000)],
    ['a 3,001-vertex spiky star', spiky(2, 3001)],
  ];
  test.each(cases)('%s: every vertex of the zone lies inside the coarse ring grown by growthM; the coarse ring is small and stays near the zone', (_name, ring) => {
    const q = simplifyOutward(ring, 30 / 8);
    expect(q.ring.length).toBeLessThan(ring.length / 4);
    expect(q.growthM).toBeLessThanOrEqual(30 / 8);
    for (const p of ring) if (!insideOrOn(p, q.ring)) expect(ringDist(p, q.ring)).toBeLessThanOrEqual(q.growthM + 1e-9);
    // the zone's shape is kept: every coarse vertex within a few cells of the zone
    for (const p of q.ring) if (!insideOrOn(p, ring)) expect(ringDist(p, ring)).toBeLessThanOrEqual(q.cellM * (1 + 2 * Math.SQRT2) + 1e-6);
    // counter-clockwise
    let a = 0;
    for (let i = 0; i < q.ring.length; i++) { const u = q.ring[i], v = q.ring[(i + 1) % q.ring.length]; a += u[0] * v[1] - v[0] * u[1]; }
    expect(a).toBeGreaterThan(0);
  });

});

describe('a plan round a 40,000-vertex no-fly ring', () => {
  let pool: PlannerPool;
  beforeAll(async () => {
    // a hard heap limit: a thread that needs more is stopped (PLANNER_FAILED), as the exact buffer
    // of this ring did (1.4 GB for a quarter of its vertices)
    pool = createPlannerPool({ threads: 1, maxQueue: 1, taskTimeoutMs: 60_000, maxHeapMb: 160 });
    await pool.ready();
  });
  afterAll(() => pool.close());

  test('answers in a worker held to 160 MB of heap, and the route keeps the clearance from the original ring', async () => {
    const { zones } = zonesWithZigzag(40_000);
    const plan = await pool.planDelivery(zones, { drop: DROP });
    if (!plan.ok) throw new Error(`expected a plan: ${plan.error.code} ${plan.error.message}`);
    // metres east and north of the ring's first vertex (equirectangular: under 1 mm of error here)
    const ringLL = zones.features[zones.features.length - 1].geometry.coordinates[0] as P[];
    const [lon0, lat0] = ringLL[0];
    const kx = 6371008.8 * Math.cos((lat0 * Math.PI) / 180) * (Math.PI / 180), ky = 6371008.8 * (Math.PI / 180);
    const m = ([lon, lat]: P): P => [(lon - lon0) * kx, (lat - lat0) * ky];
    const ring = ringLL.slice(0, -1).map(m);
    const route = (plan.route.geometry.coordinates as P[]).map(m);
    for (const p of route) expect(insideOrOn(p, ring)).toBe(false);
    let d = Infinity;
    for (let i = 1; i < route.length; i++) for (let k = 0; k < ring.length; k++) d = Math.min(d, segSegDist(route[i - 1], route[i], ring[k], ring[(k + 1) % ring.length]));
    expect(d).toBeGreaterThanOrEqual(30);
    // the coarse ring costs little: within 1 % of the straight line's detour round the same ring
    // buffered exactly (measured at 2,054.8 m before huge rings were simplified)
    expect(plan.distanceM).toBeLessThan(2054.8 * 1.01);
  });

  test('the same plan in-process is the same answer (the worker runs the same planner)', async () => {
    const { zones } = zonesWithZigzag(40_000);
    const here = planDelivery(zones, { drop: DROP });
    const there = await pool.planDelivery(zones, { drop: DROP });
    expect(JSON.stringify(there)).toBe(JSON.stringify(here));
  });
});
