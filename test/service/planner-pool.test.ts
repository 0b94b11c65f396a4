/**
 * The planner worker pool (src/planner-pool): the planner runs in worker threads that load the
 * TypeScript sources through tsx (here under jest, as under bin/dropline.js), with a bounded queue
 * (PLANNER_BUSY), a time limit per task (PLANNER_TIMEOUT, the thread replaced) and a clean close.
 */
import fs from 'fs';
import { createPlannerPool, PlannerPoolError, type PlannerPool } from '../../src/planner-pool';
import { TEST_ZONES_FILE, zonesWithZigzag } from '../support/zones';

jest.setTimeout(60_000);

const demo = () => JSON.parse(fs.readFileSync(TEST_ZONES_FILE, 'utf8'));
const DROP: [number, number] = [114.3935, 34.0515];

/** Zones that take a worker a while to validate: four 49,000-position rings (196,000 positions). */
function heavyZones(): unknown {
  const { zones } = zonesWithZigzag(49_000);
  const ring = zones.features[zones.features.length - 1];
  for (let k = 0; k < 3; k++) zones.features.push({ ...ring, properties: { kind: 'no-fly', name: `copy ${k}` } });
  return zones;
}

async function rejection(p: Promise<unknown>): Promise<PlannerPoolError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PlannerPoolError);
    return e as PlannerPoolError;
  }
  throw new Error('expected a rejection');
}

describe('a pool of one thread', () => {
  let pool: PlannerPool;
  beforeAll(async () => {
    pool = createPlannerPool({ threads: 1, maxQueue: 1 });
    await pool.ready();
  });
  afterAll(() => pool.close());

  (process.platform === 'linux' ? test : test.skip)('its thread runs at a lower priority than the main thread (nice 10 vs 0): the heartbeat loop gets a core first', () => {
    const nices = fs.readdirSync(`/proc/${process.pid}/task`).map((tid) => {
      const stat = fs.readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
      return { tid: Number(tid), nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
    });
    expect(nices.find((t) => t.tid === process.pid)!.nice).toBe(0);
    expect(nices.filter((t) => t.nice === 10).length).toBeGreaterThanOrEqual(1);
  });

  test('validates, plans and converts KML in the worker with the planner\'s own answers', async () => {
    expect(await pool.validateZones(demo())).toEqual({ ok: true, warnings: [] });
    const { zones, featureIndex } = zonesWithZigzag(40_000, { selfIntersecting: true });
    const bad = await pool.validateZones(zones);
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.error.code).toBe('INVALID_GEOMETRY');
      expect(bad.error.message).toContain(`feature #${featureIndex} "zigzag" (no-fly) outer ring: the ring intersects itself`);
    }
    const plan = await pool.planDelivery(demo(), { drop: DROP });
    expect(plan.ok).toBe(true);
    if (plan.ok) expect(plan.mission.length).toBeGreaterThan(3);
    expect(await pool.planDelivery(demo(), { drop: [114.5, 34.06] })).toMatchObject({ ok: false, error: { code: 'DROP_OUTSIDE_AREA' } });
    const kml = await pool.kmlToZones('<kml><Document><Placemark>');
    expect(kml).toMatchObject({ ok: false, error: { code: 'INVALID_KML' } });
  });

  test('one thread + one waiting: a third task at once is PLANNER_BUSY with Retry-After, the others complete', async () => {
    const heavy = heavyZones();
    const a = pool.validateZones(heavy);
    const b = pool.validateZones(heavy);
    const busy = await rejection(pool.planDelivery(demo(), { drop: DROP }));
    expect(busy).toMatchObject({ code: 'PLANNER_BUSY', status: 503, retryAfterS: 1 });
    expect(busy.message).toMatch(/busy/);
    expect(pool.stats()).toMatchObject({ inFlight: 2, rejectedBusy: 1 });
    expect((await a).ok).toBe(true);
    expect((await b).ok).toBe(true);
    expect(pool.stats().inFlight).toBe(0);
    expect((await pool.planDelivery(demo(), { drop: DROP })).ok).toBe(true);
  });
});

test('a task over its time limit is PLANNER_TIMEOUT; its thread is replaced and the pool goes on', async () => {
  const pool = createPlannerPool({ threads: 1, taskTimeoutMs: 250 });
  try {
    // A thread that has loaded the planner, with the limit for a cold start.
    for (let i = 0; ; i++) {
      const r = await pool.planDelivery(demo(), { drop: DROP }).catch((e) => e);
      if (r.ok) break;
      if (i > 40) throw new Error(`pool never ready: ${r?.message}`);
    }
    const before = pool.stats().timedOut;
    const e = await rejection(pool.validateZones(heavyZones()));
    expect(e).toMatchObject({ code: 'PLANNER_TIMEOUT', status: 503 });
    expect(e.message).toMatch(/250 ms/);
    expect(pool.stats().timedOut).toBe(before + 1);
    // The replacement thread loads the planner, then answers again.
    let answered = false;
    for (let i = 0; i < 40 && !answered; i++) answered = (await pool.planDelivery(demo(), { drop: DROP }).catch(() => ({ ok: false }))).ok;
    expect(answered).toBe(true);
  } finally {
    await pool.close();
  }
});

test('close(): running and later tasks fail with PLANNER_CLOSED; close is idempotent', async () => {
  const pool = createPlannerPool({ threads: 1 });
  await pool.ready();
  const running = rejection(pool.validateZones(heavyZones()));
  await pool.close();
  expect(await running).toMatchObject({ code: 'PLANNER_CLOSED', status: 503 });
  expect(await rejection(pool.validateZones(demo()))).toMatchObject({ code: 'PLANNER_CLOSED' });
  await pool.close();
});
