/**
 * Corridor fences on a vehicle over MAVLink: the built-in simulator, or ArduCopter SITL when
 * ARDUPILOT_SITL names the binary (run it in a network namespace: SITL listens on every address).
 *
 *  - A county plan's fence (an inclusion polygon and exclusions) and its rally points upload, and
 *    the fence downloads identical: the vehicle holds what was planned.
 *  - SITL only: the storage rule of planner/fence.ts against ArduCopter's real fence storage
 *    (560 bytes: 4 header bytes, 2 per polygon, 8 per vertex, an end marker). A capacity of 69
 *    is the largest that rule allows there: whatever it admits is stored, one item more is not.
 */
import { createFleet, type Fleet, type Vehicle, type VehicleState } from '../../src/fleet';
import { Cmd, Frame, MissionType, type MissionItem } from '../../src/mavlink/mission-item';
import { createPlanner, type PlanOk } from '../../planner';
import { fenceStorageItems } from '../../planner/fence';
import { zoneProjection } from '../../planner/plan';
import { inFreeSpace } from '../../planner/route';
import type { XY } from '../../planner/geo';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { until } from '../vehicle/wait';
import { countyField, rng } from './helpers';

let sims: Awaited<ReturnType<typeof startTestVehicles>>;
let fleet: Fleet;
let v: Vehicle;

const ready = (s: VehicleState) => s.home !== null && s.position !== null;

beforeAll(async () => {
  sims = await startTestVehicles({ instances: 1, basePort: 0, speedup: 10 });
  fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(10), lostAfterMs: 5000, rateCheckMs: 1000 });
  fleet.addLink(sims.instances[0].uri, { id: 'fence0' });
  await until(() => fleet.vehicles().length === 1, 30000, 'one vehicle');
  v = fleet.get(`fence0/${sims.instances[0].sysid}`)!;
  expect(await v.waitFor(ready, 60000)).toBe(true);
}, 120000);

afterAll(async () => {
  await fleet?.close();
  await sims?.stop();
});

/** A county plan whose fence has exclusions (the county is centred on the simulators' home). */
function countyPlan(): PlanOk {
  const field = countyField(3, 1000, 12000);
  const p = createPlanner(field);
  if (!p.ok) throw new Error(p.error.message);
  const proj = zoneProjection(p.planner.zones);
  const idx = p.planner.routeIndex(30, 20);
  const R = rng(9);
  for (let k = 0; k < 200; k++) {
    const g: XY = [(R() * 2 - 1) * 3000, (R() * 2 - 1) * 3000];
    if (!inFreeSpace(idx, g)) continue;
    const r = p.planner.plan({ launch: 'South West', drop: proj.toLonLat(g), profile: { batteryWh: 5000 }, options: { corridorMarginM: 60 } });
    if (r.ok && r.fenceSummary.exclusions.length >= 2) return r;
  }
  throw new Error('no county plan with exclusions');
}

/** `polygons` polygons (the first an inclusion) with `vertices` vertices in all, near home. */
function fenceOf(polygons: number, vertices: number, home: { lat: number; lon: number }): MissionItem[] {
  const items: MissionItem[] = [];
  const sizes = Array.from({ length: polygons }, (_, k) => Math.floor(vertices / polygons) + (k < vertices % polygons ? 1 : 0));
  sizes.forEach((n, k) => {
    const cx = home.lon + (k === 0 ? 0 : 0.002 * k), cy = home.lat + (k === 0 ? 0 : 0.001), r = k === 0 ? 0.02 : 0.0003;
    for (let i = 0; i < n; i++) {
      const a = (2 * Math.PI * i) / n;
      items.push({ seq: items.length, frame: Frame.GLOBAL, command: k === 0 ? Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION : Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        current: 0, autocontinue: 1, param1: n, param2: 0, param3: 0, param4: 0, x: Math.round((cy + r * Math.sin(a)) * 1e7), y: Math.round((cx + r * Math.cos(a)) * 1e7), z: 0, missionType: MissionType.FENCE });
    }
  });
  return items;
}

describe('corridor fences on a vehicle', () => {
  test('a county plan: fence (inclusion + exclusions) and rally upload, and the fence reads back identical', async () => {
    const plan = countyPlan();
    expect(plan.fenceSummary.storageItems).toBeLessThanOrEqual(60);
    const up = await v.uploadItems(MissionType.FENCE, plan.fence);
    expect(up).toMatchObject({ ok: true, items: plan.fence.length });
    if (plan.rally.length > 0) expect(await v.uploadItems(MissionType.RALLY, plan.rally)).toMatchObject({ ok: true });
    const back = await v.downloadItems(MissionType.FENCE);
    if (!back.ok) throw new Error(back.message);
    expect(back.items.map((i) => [i.command, i.x, i.y, i.param1])).toEqual(plan.fence.map((i) => [i.command, i.x, i.y, i.param1]));
  }, 60000);

  test('ArduCopter storage: what the rule admits at capacity 69 is stored, one item more is refused', async () => {
    if (sims.kind !== 'sitl') return; // the built-in simulator does not model fence storage
    const home = v.state.home!;
    const cases: [number, number][] = [[1, 69], [2, 68], [5, 68], [8, 67], [9, 66], [1, 70], [8, 68], [9, 67]];
    for (const [polygons, vertices] of cases) {
      const fits = fenceStorageItems(vertices, polygons) <= 69;
      const r = await v.uploadItems(MissionType.FENCE, fenceOf(polygons, vertices, home));
      expect({ polygons, vertices, fits, stored: r.ok }).toEqual({ polygons, vertices, fits, stored: fits });
    }
  }, 120000);
});
