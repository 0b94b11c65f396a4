/**
 * ADS-B traffic from real ArduCopter SITL: SITL simulates aircraft (SIM_ADSB_COUNT aircraft around
 * the vehicle, SIM_ADSB_RADIUS metres, SIM_ADSB_ALT metres) as a uAvionix MAVLink receiver on
 * SERIAL1 (ADSB_TYPE 1; the launcher moves its observer to SERIAL2: `simAdsb`); AP_ADSB keeps those
 * within ADSB_LIST_RADIUS (2 km by default on Copter, widened here) and sends them on its ADSB stream,
 * which the fleet asks for (SET_MESSAGE_INTERVAL 246). The traffic picture must show them with sane
 * positions, altitudes and speeds, one entry per ICAO address.
 *
 * Runs only when ARDUPILOT_SITL names an arducopter binary (ARDUPILOT_SITL_DEFAULTS: its copter.parm),
 * in a private network namespace, e.g. `/opt/sitl/netns-run.sh npx jest --runInBand test/sims/adsb.sitl.test.ts`.
 */
import { Fleet } from '../../src/fleet/fleet';
import { TrafficPicture, type Aircraft } from '../../src/fleet/traffic';
import { sitlAvailable, startSitl } from '../../sims/sitl';
import { greatCircleDistanceM } from '../../planner/geo';

const available = sitlAvailable();
if (!available) {
  // eslint-disable-next-line no-console
  console.log('adsb.sitl.test.ts skipped: set ARDUPILOT_SITL to an arducopter SITL binary (and ARDUPILOT_SITL_DEFAULTS to its copter.parm) to run it');
}
const run = available ? describe : describe.skip;

const HOME = { lat: 34.0603, lon: 114.3942, altAmslM: 60 };
const COUNT = 3;
const RADIUS_M = 3000;
const ALT_M = 300;

run('ArduCopter SITL simulated ADS-B traffic in the traffic picture', () => {
  let sitl: Awaited<ReturnType<typeof startSitl>>;
  let fleet: Fleet;
  let picture: TrafficPicture;

  beforeAll(async () => {
    sitl = await startSitl({
      instances: 1,
      basePort: 0,
      speedup: 1,
      homes: [HOME],
      simAdsb: true,
      params: { ADSB_TYPE: 1, ADSB_LIST_RADIUS: 10000, SIM_ADSB_COUNT: COUNT, SIM_ADSB_RADIUS: RADIUS_M, SIM_ADSB_ALT: ALT_M, SERIAL1_PROTOCOL: 2 },
    });
    fleet = new Fleet();
    picture = new TrafficPicture(fleet);
    fleet.addLink(sitl.instances[0].uri);
  }, 180_000);

  afterAll(async () => {
    picture?.close();
    await fleet?.close();
    await sitl?.stop();
  }, 30_000);

  test(`${COUNT} simulated aircraft appear with callsigns, positions within reach of home, altitudes near SIM_ADSB_ALT`, async () => {
    const t0 = Date.now();
    let list: Aircraft[] = [];
    while (Date.now() - t0 < 120_000) {
      list = picture.list();
      if (list.length >= COUNT) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    process.stderr.write(`SITL ADS-B: ${JSON.stringify(list)}\n`);
    expect(list.length).toBeGreaterThanOrEqual(COUNT);
    expect(new Set(list.map((a) => a.icao)).size).toBe(list.length);
    const v = fleet.vehicles()[0];
    for (const a of list) {
      expect(a.callsign).toMatch(/^[\x21-\x7e]{1,8}$/);
      // SITL re-spawns an aircraft once it is farther than SIM_ADSB_RADIUS from the vehicle
      expect(greatCircleDistanceM([a.lon, a.lat], [HOME.lon, HOME.lat])).toBeLessThan(10_000);
      // SIM_ADSB_ALT, QNH, drifting at up to a few m/s vertically
      expect(a.altType).toBe('pressure');
      expect(a.altAmslM).not.toBeNull();
      expect(a.altAmslM!).toBeGreaterThan(0);
      expect(a.altAmslM!).toBeLessThan(ALT_M + 1000);
      expect(a.speedMps).toBeGreaterThanOrEqual(0);
      expect(a.speedMps).toBeLessThan(250);
      expect(a.relays).toEqual([v.id]);
    }
  }, 150_000);
});
