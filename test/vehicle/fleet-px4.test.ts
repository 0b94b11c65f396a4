/** The fleet against a PX4-personality simulated vehicle over TCP: mode table, no home item, bytewise params. */
import { createFleet, Fleet, Vehicle } from '../../src/fleet';
import { MissionItem, MissionType, Frame as MavFrame, Cmd } from '../../src/mavlink/mission-item';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { until } from './wait';

let sims: Awaited<ReturnType<typeof startTestVehicles>>;
let fleet: Fleet;
let v: Vehicle;

beforeAll(async () => {
  sims = await startTestVehicles({ instances: 1, basePort: 0, speedup: 10, personality: 'px4', sysidBase: 3 });
  fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(10) });
  fleet.addLink(sims.instances[0].uri, { id: 'px4' });
  await until(() => fleet.vehicles().length === 1, 30000, 'discovery');
  v = fleet.get('px4/3')!;
  // Ready: home, 3D fix and the pre-arm health bit (SYS_STATUS bit 28); a mode set before the end of
  // boot is overwritten.
  expect(await v.waitFor((s) => s.home !== null && (s.gps?.fixType ?? 0) >= 3 && ((s.sensorsHealth ?? 0) & (1 << 28)) !== 0, 60000)).toBe(true);
}, 90000);

afterAll(async () => {
  await fleet?.close();
  await sims?.stop();
});

test('PX4: discovered as px4, modes by PX4 name (and the HOLD alias)', async () => {
  expect(v.state.autopilot).toBe('px4');
  expect(v.state.mode).not.toMatch(/UNKNOWN/);
  expect((await v.setMode('POSCTL')).ok).toBe(true);
  expect(await v.waitFor((s) => s.mode === 'POSCTL', 10000)).toBe(true);
  expect((await v.hold()).ok).toBe(true);
  expect(await v.waitFor((s) => s.mode === 'AUTO.LOITER', 10000)).toBe(true);
  expect((await v.setMode('BRAKE')).result).toBe('UNKNOWN_MODE');
}, 30000);

test('PX4: mission without a home item round-trips and item 0 is compared', async () => {
  const h = v.state.home!;
  const lat = Math.round(h.lat * 1e7);
  const lon = Math.round(h.lon * 1e7);
  const items: MissionItem[] = [
    { seq: 0, command: Cmd.NAV_TAKEOFF, frame: MavFrame.GLOBAL_RELATIVE_ALT_INT, x: lat, y: lon, z: 15, param1: 0, param2: 0, param3: 0, param4: 0 },
    { seq: 1, command: Cmd.NAV_WAYPOINT, frame: MavFrame.GLOBAL_RELATIVE_ALT_INT, x: lat + 3000, y: lon + 2000, z: 20, param1: 0, param2: 0, param3: 0, param4: 0 },
    { seq: 2, command: Cmd.NAV_LAND, frame: MavFrame.GLOBAL_RELATIVE_ALT_INT, x: lat + 3000, y: lon + 2000, z: 0, param1: 0, param2: 0, param3: 0, param4: 0 },
  ];
  expect(await v.uploadItems(MissionType.MISSION, items)).toMatchObject({ ok: true, items: 3 });
  const back = await v.downloadItems(MissionType.MISSION);
  expect(back.ok).toBe(true);
  if (back.ok) expect(back.items.map((i) => [i.command, i.x, i.y])).toEqual(items.map((i) => [i.command, i.x, i.y]));
}, 30000);

test('PX4: integer parameters decode bytewise', async () => {
  const all = await v.fetchParams();
  expect(all.ok).toBe(true);
  if (all.ok) expect(all.params.MAV_SYS_ID).toBe(3);
  expect(await v.getParam('MAV_SYS_ID')).toEqual({ ok: true, value: 3 });
}, 30000);

test('PX4: takeoff altitude is sent as AMSL and the vehicle levels off at the requested height above home', async () => {
  expect((await v.setMode('HOLD')).ok).toBe(true);
  expect((await v.arm()).ok).toBe(true);
  expect(await v.waitFor((s) => s.armed, 10000)).toBe(true);
  expect((await v.takeoff(12)).ok).toBe(true);
  expect(await v.waitFor((s) => (s.position?.altRelM ?? 0) > 11, 30000)).toBe(true);
  // It stops near 12 m rather than climbing on towards the AMSL figure.
  await new Promise((r) => setTimeout(r, 1500));
  expect(v.state.position!.altRelM).toBeGreaterThan(10.5);
  expect(v.state.position!.altRelM).toBeLessThan(13.5);
  expect((await v.land()).ok).toBe(true);
  expect(await v.waitFor((s) => !s.armed, 60000)).toBe(true);
}, 120000);
