/**
 * DO_PAUSE_CONTINUE on the built-in simulator as on ArduCopter (ModeAuto::pause, checked on SITL):
 * a mission pauses only on its way to a waypoint. During the take-off, or once descending on a
 * landing item, the pause is refused (FAILED) and the vehicle goes on; on a waypoint leg it stops
 * where it is, still in AUTO, and continues when told.
 */
import { startSimulators, SimFleet, BuiltinInstance } from '../../sims';
import { TestGcs, item } from './gcs-client';
import { Cmd } from '../../src/mavlink/mission-item';

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 60 };
const GUIDED = 4;
const FAILED = 4;

describe('simulator: mission pause as ArduCopter', () => {
  let fleet: SimFleet & { instances: BuiltinInstance[] };
  let gcs: TestGcs;

  beforeAll(async () => {
    fleet = await startSimulators({ basePort: 0, speedup: 20, homes: [HOME], bootDelayS: 2 });
    gcs = await TestGcs.connect(fleet.instances[0].tcpPort, { heartbeatHz: 20 });
  });
  afterAll(async () => {
    await gcs.close();
    await fleet.stop();
  });

  test('refused while taking off and while landing; accepted on a waypoint leg (stops in AUTO), continued', async () => {
    const far = { lat: 34.0625, lon: 114.39 };
    const mission = [item(0, 16), item(1, Cmd.NAV_TAKEOFF, 0, 0, 30), item(2, Cmd.NAV_WAYPOINT, far.lat, far.lon, 30), item(3, Cmd.NAV_LAND)];
    await gcs.waitReady(30000);
    expect((await gcs.upload(mission)).ack).toBe(0);
    await gcs.setRate(33, 20);
    await gcs.setRate(74, 20);
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(0);
    expect(await gcs.command(300, [0, 0])).toBe(0);
    // taking off
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > 5000, 20000);
    expect(await gcs.command(193, [0])).toBe(FAILED);
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > 15000, 20000);
    // on the waypoint leg
    await gcs.next('VFR_HUD', (d) => d.groundspeed > 5, 30000);
    expect(await gcs.command(193, [0])).toBe(0);
    await gcs.next('VFR_HUD', (d) => d.groundspeed < 0.2, 20000);
    expect(fleet.instances[0].truth().mode).toBe('AUTO');
    expect(await gcs.command(193, [1])).toBe(0);
    // descending on the landing item (no position: lands where it is)
    await gcs.next('MISSION_CURRENT', (d) => d.seq === 3, 60000);
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.vz > 50, 20000);
    expect(await gcs.command(193, [0])).toBe(FAILED);
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
  }, 120_000);
});
