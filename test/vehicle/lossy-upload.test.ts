/**
 * The upload a delivery makes (mission 100 + a fence within the vehicle's storage + rally 5) through
 * a lossy link at 0, 10, 20 and 30 % of frames dropped each way, verified by download every time:
 * against the built-in simulator, or ArduPilot SITL (through the launcher's relay, where the link
 * faults apply) when ARDUPILOT_SITL names the binary. No test-specific branches.
 */
import { createFleet, Fleet, Vehicle } from '../../src/fleet';
import { MissionItem, MissionType, Frame as MavFrame, Cmd } from '../../src/mavlink/mission-item';
import { until } from './wait';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';

jest.setTimeout(300_000);

let sims: Awaited<ReturnType<typeof startTestVehicles>>;
let fleet: Fleet;
let v: Vehicle;

const item = (seq: number, command: number, frame: number, x: number, y: number, z: number, p: Partial<MissionItem> = {}): MissionItem => ({ seq, command, frame, x, y, z, param1: 0, param2: 0, param3: 0, param4: 0, ...p });

/** Mission 100 (home, takeoff, 97 waypoints, land), a fence of one 60-vertex inclusion and one 4-vertex exclusion (64 items: ArduCopter SITL stores it), rally 5 inside. */
function uploadSuite(lat: number, lon: number): Array<[string, 0 | 1 | 2, MissionItem[]]> {
  const mission = [item(0, Cmd.NAV_WAYPOINT, MavFrame.GLOBAL, lat, lon, 0), item(1, Cmd.NAV_TAKEOFF, MavFrame.GLOBAL_RELATIVE_ALT_INT, 0, 0, 20)];
  for (let i = 2; i < 99; i++) mission.push(item(i, Cmd.NAV_WAYPOINT, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + i * 120, lon + (i % 7) * 150, 30));
  mission.push(item(99, Cmd.NAV_LAND, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat, lon, 0));
  const fence: MissionItem[] = [];
  for (let k = 0; k < 60; k++) {
    const a = (2 * Math.PI * k) / 60;
    fence.push(item(k, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, MavFrame.GLOBAL_INT, lat + Math.round(Math.cos(a) * 150000), lon + Math.round(Math.sin(a) * 150000), 0, { param1: 60, missionType: 1 }));
  }
  for (const [k, [dx, dy]] of [[0, 0], [0, 2000], [2000, 2000], [2000, 0]].entries()) {
    fence.push(item(60 + k, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, MavFrame.GLOBAL_INT, lat - 30000 + dx, lon - 30000 + dy, 0, { param1: 4, missionType: 1 }));
  }
  const rally = Array.from({ length: 5 }, (_, i) => item(i, Cmd.NAV_RALLY_POINT, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + i * 1000, lon + 1000, 30, { missionType: 2 }));
  // The order a delivery uses: the fence first (rally points must lie inside it), then rally, mission.
  return [['fence', MissionType.FENCE, fence], ['rally', MissionType.RALLY, rally], ['mission', MissionType.MISSION, mission]];
}

beforeAll(async () => {
  sims = await startTestVehicles({ instances: 1, speedup: 10 });
  fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(10) });
  fleet.addLink(sims.instances[0].uri, { id: 'sim0' });
  await until(() => fleet.vehicles().length === 1, 30_000, 'vehicle');
  v = fleet.get(`sim0/${sims.instances[0].sysid}`)!;
  // Initialised (STANDBY): before that ArduPilot has no room for a mission.
  await until(() => v.state.systemStatus >= 3 && v.state.position !== null, 60_000, 'vehicle initialised');
});

afterAll(async () => {
  await fleet?.close();
  await sims?.stop();
});

describe.each([0, 10, 20, 30])('upload suite at %i %% loss each way', (lossPct) => {
  test('fence 64, rally 5, mission 100: each uploaded and read back identical', async () => {
    const lat = Math.round(v.state.position!.lat * 1e7);
    const lon = Math.round(v.state.position!.lon * 1e7);
    const before = v.missions.totalRetries;
    sims.instances[0].inject({ kind: 'packet-loss', pct: lossPct });
    try {
      for (const [name, type, items] of uploadSuite(lat, lon + lossPct * 10)) {
        const r = await v.uploadItems(type, items, { verify: true });
        expect([name, r.ok, r.ok ? r.items : r.message]).toEqual([name, true, items.length]);
      }
    } finally {
      sims.instances[0].clearFault('packet-loss');
    }
    const retries = v.missions.totalRetries - before;
    // Resends come 4 round trips after a silence: a loaded machine may cause one without a loss.
    if (lossPct === 0) expect(retries).toBeLessThanOrEqual(5);
    else expect(retries).toBeGreaterThan(0);
    // Read back once more on a clean link: what the vehicle holds is what was sent.
    for (const [name, type, items] of uploadSuite(lat, lon + lossPct * 10)) {
      const back = await v.downloadItems(type);
      expect([name, back.ok]).toEqual([name, true]);
      if (!back.ok) continue;
      expect(back.items.length).toBe(items.length);
      const from = type === MissionType.MISSION ? 1 : 0; // ArduPilot's item 0 is home
      expect(back.items.slice(from).map((i) => [i.command, i.x, i.y])).toEqual(items.slice(from).map((i) => [i.command, i.x, i.y]));
    }
  });
});
