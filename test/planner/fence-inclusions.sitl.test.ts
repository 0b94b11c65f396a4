/**
 * Several inclusion polygons as the firmware itself judges them (planner/README.md, "How autopilots
 * combine several polygons"), on real SITL, the fences uploaded through the fleet's own mission
 * transfer (mission type FENCE, verified by download):
 *
 *  - ArduCopter (ARDUPILOT_SITL): two overlapping inclusion squares A and B around the vehicle's
 *    home. Inside A only → FENCE_STATUS reports a boundary breach and the pre-arm check says
 *    "Vehicle breaching Polygon fence" (the intersection); FENCE_OPTIONS bit 1 (INCLUSION_UNION)
 *    set → the breach clears, cleared again → breached again; inside both → not breached.
 *  - PX4 (PX4_SITL, SIH): a polygon that does not contain home is dropped when the fence loads
 *    ("Geofence invalid, doesn't contain Home position"), so "inside A only" cannot be reached with
 *    home where the vehicle stands. With home moved (DO_SET_HOME) into A ∩ B, both polygons are kept
 *    and the vehicle, inside A only, fails the pre-arm geofence check ("Geofence: approaching or
 *    outside geofence"; SYS_STATUS pre-arm bit clear): the intersection. Inside both → armable.
 *  - The planner's own fence for a demo plan has exactly one inclusion polygon, so both readings
 *    agree: the route lies inside it under either rule (checked here without SITL), and uploaded
 *    with the vehicle at the launch site it is not breached on either autopilot (nor on ArduPilot
 *    with INCLUSION_UNION).
 *
 * Without ARDUPILOT_SITL / PX4_SITL the firmware parts are skipped with a message. SITL listens on
 * every address (ArduPilot's RC input, PX4's MAVLink port on a stock build): run it in a private
 * network namespace, e.g. `unshare -n sh -c 'ip link set lo up && ARDUPILOT_SITL=… npx jest …'`.
 */
import { createFleet, type Fleet, type Vehicle } from '../../src/fleet';
import type { Frame } from '../../src/mavlink/codec';
import { Cmd, MissionType, type MissionItem } from '../../src/mavlink/mission-item';
import { planDelivery, type PlanOk } from '../../planner';
import { decodeFencePolygons, fenceItems } from '../../planner/fence';
import { localProjection, pointInRing, type LonLat, type LocalProjection, type XY } from '../../planner/geo';
import { sitlAvailable } from '../../sims/sitl';
import { px4SitlAvailable } from '../../sims/px4-sitl';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { until } from '../vehicle/wait';
import { demoZones, DEMO_DROPS } from './helpers';

/** The demo's launch site "Police Post 1": the vehicle's home in every SITL case. */
const LAUNCH = { lat: 34.06, lon: 114.39, altAmslM: 60 };
const MAV_CMD_RUN_PREARM_CHECKS = 401;
const MAV_SYS_STATUS_PREARM_CHECK = 1 << 28;
const MAV_SYS_STATUS_GEOFENCE = 1 << 20;
const FENCE_BREACH_BOUNDARY = 3;
const INCLUSION_UNION = 2; // FENCE_OPTIONS bit 1
const WAIT_MS = 90_000;

type Reading = 'intersection' | 'union';
type DecodedFence = Extract<ReturnType<typeof decodeFencePolygons>, { ok: true }>;

/**
 * Whether a point is allowed by a polygon fence under one reading of several inclusions: outside
 * every exclusion, and inside every inclusion (intersection) or inside at least one (union).
 */
function allowed(f: DecodedFence, p: LonLat, proj: LocalProjection, reading: Reading): boolean {
  const xy = proj.toXY(p);
  const inside = (ring: LonLat[]) => pointInRing(xy, ring.map((c) => proj.toXY(c)));
  if (f.polygons.some((q) => !q.inclusion && inside(q.ring))) return false;
  const inc = f.polygons.filter((q) => q.inclusion);
  if (inc.length === 0) return true;
  return reading === 'intersection' ? inc.every((q) => inside(q.ring)) : inc.some((q) => inside(q.ring));
}

/** An axis-aligned square, counter-clockwise, in metres east/north of the launch. */
function square(cx: number, cy: number, half: number): XY[] {
  return [[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]];
}

const proj = localProjection(LAUNCH.lon, LAUNCH.lat);
/** Encodes inclusion squares with the planner's own fence encoder (the items the fleet uploads). */
function inclusions(...rings: XY[][]): MissionItem[] {
  return fenceItems(rings.map((ring) => ({ inclusion: true, ring, marginM: 0, source: { featureIndex: -1, part: 0, kind: 'corridor' as const } })), proj);
}
// A: 600 m square on the launch. B_OUT overlaps A's east half and stops 100 m east of the launch;
// B_IN overlaps A and contains the launch. P lies in A ∩ B_OUT (where PX4's home goes).
const A = square(0, 0, 300);
const B_OUT = square(400, 0, 300);
const B_OUT_2 = square(401, 1, 299); // the same shape, other items: PX4 reloads only a fence that changed
const B_IN = square(200, 0, 300);
const P: XY = [200, 0];
const launchLL: LonLat = [LAUNCH.lon, LAUNCH.lat];

function demoPlan(): PlanOk {
  const r = planDelivery(demoZones(), { launch: 'Police Post 1', drop: DEMO_DROPS.xinhua });
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r;
}

/** The route's vertices and points every ~5 m between them. */
function densify(route: LonLat[]): LonLat[] {
  const out: LonLat[] = [];
  for (let i = 0; i + 1 < route.length; i++) {
    const a = proj.toXY(route[i]), b = proj.toXY(route[i + 1]);
    const n = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / 5));
    for (let k = 0; k < n; k++) out.push(proj.toLonLat([a[0] + ((b[0] - a[0]) * k) / n, a[1] + ((b[1] - a[1]) * k) / n]));
  }
  out.push(route[route.length - 1]);
  return out;
}

function decoded(items: MissionItem[]): DecodedFence {
  const d = decodeFencePolygons(items);
  if (!d.ok) throw new Error(d.message);
  return d;
}

describe('several inclusion polygons: the two readings (no SITL)', () => {
  test('the test fences: the launch is inside A and outside B_OUT (breach only under intersection), inside A and B_IN (no breach either way)', () => {
    const out = decoded(inclusions(A, B_OUT)), both = decoded(inclusions(A, B_IN)), moved = decoded(inclusions(A, B_OUT_2));
    expect([allowed(out, launchLL, proj, 'intersection'), allowed(out, launchLL, proj, 'union')]).toEqual([false, true]);
    expect([allowed(moved, launchLL, proj, 'intersection'), allowed(moved, launchLL, proj, 'union')]).toEqual([false, true]);
    expect([allowed(both, launchLL, proj, 'intersection'), allowed(both, launchLL, proj, 'union')]).toEqual([true, true]);
    expect(allowed(out, proj.toLonLat(P), proj, 'intersection')).toBe(true); // PX4's moved home: inside both
  });

  test("a demo plan's fence has exactly one inclusion polygon: its route is inside under both readings", () => {
    const plan = demoPlan();
    const f = decoded(plan.fence);
    expect(f.polygons.filter((q) => q.inclusion)).toHaveLength(1);
    expect(f.circles.filter((c) => c.inclusion)).toHaveLength(0);
    const pts = densify(plan.route.geometry.coordinates as LonLat[]);
    expect(pts.length).toBeGreaterThan(50);
    const bad = (reading: Reading) => pts.filter((p) => !allowed(f, p, proj, reading)).length;
    expect({ intersection: bad('intersection'), union: bad('union') }).toEqual({ intersection: 0, union: 0 });
    expect([plan.launch.lon, plan.launch.lat]).toEqual(launchLL);
  });
});

// ---------------------------------------------------------------------------------------------
// Firmware: what the vehicle reports, through the fleet.

/** Resolves with the first frame named `name` that satisfies `pred`, received after the call; null on timeout. */
function nextFrame(v: Vehicle, name: string, pred: (d: any) => boolean, timeoutMs: number): Promise<any | null> {
  return new Promise((resolve) => {
    const onFrame = (f: Frame) => {
      if (f.name !== name || !pred(f.data)) return;
      done(f.data);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    const done = (d: any) => {
      clearTimeout(timer);
      v.off('frame', onFrame);
      resolve(d);
    };
    v.on('frame', onFrame);
  });
}

/** The next `n` frames named `name` received after the call (fewer on timeout). */
function nextFrames(v: Vehicle, name: string, n: number, timeoutMs: number): Promise<any[]> {
  return new Promise((resolve) => {
    const got: any[] = [];
    const onFrame = (f: Frame) => {
      if (f.name !== name) return;
      got.push(f.data);
      if (got.length >= n) done();
    };
    const timer = setTimeout(() => done(), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      v.off('frame', onFrame);
      resolve(got);
    };
    v.on('frame', onFrame);
  });
}

/** STATUSTEXTs received while `body` runs and until `re` matches one (or the timeout). */
async function textsUntil(v: Vehicle, re: RegExp, timeoutMs: number, body: () => Promise<void>): Promise<string[]> {
  const texts: string[] = [];
  const on = (e: { text: string }) => texts.push(e.text);
  v.on('statustext', on);
  try {
    await body();
    const t0 = Date.now();
    while (!texts.some((t) => re.test(t)) && Date.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 50));
    return texts;
  } finally {
    v.off('statustext', on);
  }
}

/** Asks for the pre-arm checks every 3 s until `re` appears in a STATUSTEXT (or the timeout); returns what arrived. */
async function prearmTexts(v: Vehicle, re: RegExp, timeoutMs: number): Promise<string[]> {
  const texts: string[] = [];
  const on = (e: { text: string }) => texts.push(e.text);
  v.on('statustext', on);
  try {
    const t0 = Date.now();
    while (!texts.some((t) => re.test(t)) && Date.now() - t0 < timeoutMs) {
      const r = await v.command({ command: MAV_CMD_RUN_PREARM_CHECKS });
      expect(r.result).toBe('ACCEPTED');
      const t1 = Date.now();
      while (!texts.some((t) => re.test(t)) && Date.now() - t1 < 3000) await new Promise((r2) => setTimeout(r2, 50));
    }
    return texts;
  } finally {
    v.off('statustext', on);
  }
}

async function upload(v: Vehicle, items: MissionItem[]): Promise<void> {
  const r = await v.uploadItems(MissionType.FENCE, items);
  expect(r).toMatchObject({ ok: true, items: items.length });
}

async function startOne(personality: 'ardupilot' | 'px4'): Promise<{ stop: () => Promise<void>; fleet: Fleet; v: Vehicle }> {
  const sims = await startTestVehicles({ instances: 1, basePort: 0, speedup: 10, homes: [LAUNCH], ...(personality === 'px4' ? { personality } : {}) });
  const fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(10), lostAfterMs: 5000, rateCheckMs: 1000 });
  const stop = async () => {
    await fleet.close();
    await sims.stop();
  };
  try {
    expect(sims.kind).toBe('sitl');
    fleet.addLink(sims.instances[0].uri, { id: 'fences0' });
    await until(() => fleet.vehicles().length === 1, 60_000, 'one vehicle');
    const v = fleet.get(`fences0/${sims.instances[0].sysid}`)!;
    expect(await v.waitFor((s) => s.home !== null && s.position !== null, 180_000)).toBe(true);
    return { stop, fleet, v };
  } catch (e) {
    await stop();
    throw e;
  }
}

const apRun = sitlAvailable() ? describe : describe.skip;
const px4Run = px4SitlAvailable() ? describe : describe.skip;
if (!sitlAvailable()) {
  // eslint-disable-next-line no-console
  console.log('fence-inclusions.sitl.test.ts: ArduPilot cases skipped: set ARDUPILOT_SITL to an arducopter binary (and ARDUPILOT_SITL_DEFAULTS to copter.parm) to run them');
}
if (!px4SitlAvailable()) {
  // eslint-disable-next-line no-console
  console.log('fence-inclusions.sitl.test.ts: PX4 cases skipped: set PX4_SITL to the px4 binary of a px4_sitl_default build (etc/ beside bin/) to run them');
}

apRun('ArduCopter SITL: several inclusion polygons', () => {
  let h: Awaited<ReturnType<typeof startOne>>;
  let baseOptions = 0;
  beforeAll(async () => {
    h = await startOne('ardupilot');
    const o = await h.v.getParam('FENCE_OPTIONS');
    if (!o.ok) throw new Error(o.message);
    baseOptions = o.value & ~INCLUSION_UNION;
    if (o.value !== baseOptions) expect(await h.v.setParam('FENCE_OPTIONS', baseOptions)).toMatchObject({ ok: true });
    expect(await h.v.getParam('FENCE_ENABLE')).toMatchObject({ ok: true, value: 1 });
  }, 300_000);
  afterAll(async () => {
    await h?.stop();
  }, 60_000);

  const fenceStatus = (want: boolean) => nextFrame(h.v, 'FENCE_STATUS', (d) => (d.breachStatus !== 0) === want, WAIT_MS);
  const setOptions = async (value: number) => expect(await h.v.setParam('FENCE_OPTIONS', value)).toMatchObject({ ok: true, value });

  test('inside A only: breached (intersection), pre-arm refuses; INCLUSION_UNION set: not breached; cleared: breached again', async () => {
    const v = h.v;
    const breached = fenceStatus(true);
    await upload(v, inclusions(A, B_OUT));
    const st = await breached;
    expect(st).toMatchObject({ breachStatus: 1, breachType: FENCE_BREACH_BOUNDARY });
    const sys = await nextFrame(v, 'SYS_STATUS', () => true, WAIT_MS);
    expect(sys).not.toBeNull();
    expect({ present: (sys.onboardControlSensorsPresent & MAV_SYS_STATUS_GEOFENCE) !== 0, healthy: (sys.onboardControlSensorsHealth & MAV_SYS_STATUS_GEOFENCE) !== 0 }).toEqual({ present: true, healthy: false });
    const texts = await prearmTexts(v, /Vehicle breaching Polygon/, WAIT_MS);
    expect(texts.filter((t) => /breaching/.test(t))).toContainEqual(expect.stringMatching(/^PreArm: Vehicle breaching Polygon fence/));

    const cleared = fenceStatus(false);
    await setOptions(baseOptions | INCLUSION_UNION);
    expect(await cleared).toMatchObject({ breachStatus: 0 });

    const again = fenceStatus(true);
    await setOptions(baseOptions);
    expect(await again).toMatchObject({ breachStatus: 1, breachType: FENCE_BREACH_BOUNDARY });
  }, 300_000);

  test('inside A and B: not breached (default options)', async () => {
    const v = h.v;
    const breached = fenceStatus(true);
    await upload(v, inclusions(A, B_OUT));
    expect(await breached).not.toBeNull();
    const cleared = fenceStatus(false);
    await upload(v, inclusions(A, B_IN));
    expect(await cleared).toMatchObject({ breachStatus: 0 });
  }, 300_000);

  test("the planner's fence (one inclusion) with the vehicle at the launch: not breached, with or without INCLUSION_UNION", async () => {
    const v = h.v;
    const plan = demoPlan();
    const breached = fenceStatus(true);
    await upload(v, inclusions(A, B_OUT));
    expect(await breached).not.toBeNull();
    const cleared = fenceStatus(false);
    await upload(v, plan.fence);
    expect(await cleared).toMatchObject({ breachStatus: 0 });
    try {
      await setOptions(baseOptions | INCLUSION_UNION);
      const after = await nextFrames(v, 'FENCE_STATUS', 5, WAIT_MS);
      expect(after.map((d) => d.breachStatus)).toEqual([0, 0, 0, 0, 0]);
    } finally {
      await setOptions(baseOptions);
    }
    const held = await v.downloadItems(MissionType.FENCE);
    if (!held.ok) throw new Error(held.message);
    expect(held.items.map((i) => [i.command, i.param1, i.x, i.y])).toEqual(plan.fence.map((i) => [i.command, i.param1, i.x, i.y]));
  }, 300_000);
});

px4Run('PX4 SITL (SIH): several inclusion polygons', () => {
  let h: Awaited<ReturnType<typeof startOne>>;
  const GEOFENCE_VIOLATION = /Geofence: approaching or outside geofence/;
  const HOME_NOT_CONTAINED = /Geofence invalid, doesn't contain Home position/;

  beforeAll(async () => {
    h = await startOne('px4');
    expect(h.v.state.autopilot).toBe('px4');
    // armable before any fence: the pre-arm bit of SYS_STATUS
    expect(await h.v.waitFor((s) => ((s.sensorsHealth ?? 0) & MAV_SYS_STATUS_PREARM_CHECK) !== 0, 180_000)).toBe(true);
  }, 300_000);
  afterAll(async () => {
    await h?.stop();
  }, 60_000);

  const prearm = (want: boolean) => nextFrame(h.v, 'SYS_STATUS', (d) => ((d.onboardControlSensorsHealth & MAV_SYS_STATUS_PREARM_CHECK) !== 0) === want, WAIT_MS);
  const setHome = async (p: LonLat | 'current') => {
    const r = p === 'current'
      ? await h.v.command({ command: Cmd.DO_SET_HOME, params: [1, 0, 0, 0, 0, 0, 0] })
      : // MAV_FRAME_GLOBAL_INT (5, altitude above mean sea level): PX4 takes COMMAND_INT in no other
        // frame (it answered UNSUPPORTED_MAV_FRAME to frame 0); ArduPilot takes both.
        await h.v.command({ command: Cmd.DO_SET_HOME, params: [0, 0, 0, 0, Math.round(p[1] * 1e7), Math.round(p[0] * 1e7), LAUNCH.altAmslM], useInt: true, frame: 5 });
    expect(r.result).toBe('ACCEPTED');
    await h.v.requestMessage(242); // HOME_POSITION, as it now is
    const want = p === 'current' ? launchLL : p;
    expect(await h.v.waitFor((s) => s.home !== null && Math.abs(s.home.lon - want[0]) < 2e-5 && Math.abs(s.home.lat - want[1]) < 2e-5, WAIT_MS)).toBe(true);
  };

  test('home inside A only: PX4 drops B when the fence loads ("doesn\'t contain Home position") and the vehicle stays armable', async () => {
    const v = h.v;
    const texts = await textsUntil(v, HOME_NOT_CONTAINED, WAIT_MS, () => upload(v, inclusions(A, B_OUT)));
    expect(texts).toContainEqual(expect.stringMatching(HOME_NOT_CONTAINED));
    // the loaded fence is A alone, which holds the vehicle: the pre-arm check passes
    const after = await prearmTexts(v, /$^/, 6000);
    expect(after.filter((t) => GEOFENCE_VIOLATION.test(t))).toEqual([]);
    expect(await prearm(true)).not.toBeNull();
  }, 300_000);

  test('home moved into A ∩ B (both kept), vehicle inside A only: the geofence pre-arm check fails (intersection); inside both: armable', async () => {
    const v = h.v;
    try {
      await setHome(proj.toLonLat(P));
      const refused = prearm(false);
      const loadTexts = await textsUntil(v, /$^/, 3000, () => upload(v, inclusions(A, B_OUT_2)));
      expect(loadTexts.filter((t) => HOME_NOT_CONTAINED.test(t))).toEqual([]);
      const texts = await prearmTexts(v, GEOFENCE_VIOLATION, WAIT_MS);
      expect(texts).toContainEqual(expect.stringMatching(GEOFENCE_VIOLATION));
      expect(await refused).not.toBeNull();

      const armable = prearm(true);
      await upload(v, inclusions(A, B_IN));
      await v.command({ command: MAV_CMD_RUN_PREARM_CHECKS });
      expect(await armable).not.toBeNull();
    } finally {
      await setHome('current');
    }
  }, 300_000);

  test("the planner's fence (one inclusion) with the vehicle at the launch: kept whole and not breached", async () => {
    const v = h.v;
    const plan = demoPlan();
    const refused = prearm(false);
    await setHome(proj.toLonLat(P));
    await upload(v, inclusions(A, B_OUT));
    await prearmTexts(v, GEOFENCE_VIOLATION, WAIT_MS);
    expect(await refused).not.toBeNull();
    await setHome('current');
    const armable = prearm(true);
    const texts = await textsUntil(v, /$^/, 3000, () => upload(v, plan.fence));
    expect(texts.filter((t) => HOME_NOT_CONTAINED.test(t))).toEqual([]);
    await v.command({ command: MAV_CMD_RUN_PREARM_CHECKS });
    expect(await armable).not.toBeNull();
    const after = await prearmTexts(v, /$^/, 6000);
    expect(after.filter((t) => GEOFENCE_VIOLATION.test(t))).toEqual([]);
  }, 300_000);
});
