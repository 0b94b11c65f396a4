/**
 * The launcher's ADS-B receiver on real ArduCopter SITL (`adsbReceiver`): SITL's SERIAL1 connects to
 * it, ArduPilot (ADSB_TYPE 1) takes its ADSB_VEHICLE reports and relays them to the ground station on
 * its ADSB stream. The fault 'adsb-traffic' places an aircraft as on the built-in simulator: it
 * appears in the traffic picture with its callsign, ICAO address, emitter type, altitude and speed,
 * and flies its track in the vehicle's time (SITL at a speed-up of 5 here); a placement across the
 * vehicle's track works from the vehicle's telemetry; clearing the fault empties the sky.
 *
 * Runs only when ARDUPILOT_SITL names an arducopter binary, in a private network namespace, e.g.
 * `/opt/sitl/netns-run.sh npx jest test/sims/adsb-receiver.sitl.test.ts --forceExit`.
 */
import { Fleet } from '../../src/fleet/fleet';
import { TrafficPicture, type Aircraft } from '../../src/fleet/traffic';
import { sitlAvailable, startSitl } from '../../sims/sitl';
import { greatCircleDistanceM } from '../../planner/geo';
import { LocalFrame } from '../../sims/geo';

const available = sitlAvailable();
if (!available) {
  // eslint-disable-next-line no-console
  console.log('adsb-receiver.sitl.test.ts skipped: set ARDUPILOT_SITL to an arducopter SITL binary (and ARDUPILOT_SITL_DEFAULTS to its copter.parm) to run it');
}
const run = available ? describe : describe.skip;

const HOME = { lat: 34.0603, lon: 114.3942, altAmslM: 60 };
const SPEEDUP = 5;

run('ArduCopter SITL hears the launcher ADS-B receiver', () => {
  let sitl: Awaited<ReturnType<typeof startSitl>>;
  let fleet: Fleet;
  let picture: TrafficPicture;

  beforeAll(async () => {
    sitl = await startSitl({ instances: 1, basePort: 0, speedup: SPEEDUP, homes: [HOME], adsbReceiver: true });
    fleet = new Fleet({ heartbeatHz: 2 * SPEEDUP });
    picture = new TrafficPicture(fleet);
    fleet.addLink(sitl.instances[0].uri);
  }, 180_000);

  afterAll(async () => {
    picture?.close();
    await fleet?.close();
    await sitl?.stop();
  }, 30_000);

  async function seen(icao: string, timeoutMs: number, pred: (a: Aircraft) => boolean = () => true): Promise<Aircraft> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const a = picture.list().find((x) => x.icao === icao);
      if (a && pred(a)) return a;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${icao} not heard within ${timeoutMs} ms; picture: ${JSON.stringify(picture.list())}`);
  }

  test('an aircraft placed absolutely: relayed with its fields, flying at its speed in the vehicle time', async () => {
    const inst = sitl.instances[0] as any;
    // the vehicle's position (and clock) first: the receiver reports in the autopilot's time
    const t0 = Date.now();
    while (!(inst.vehicleClockS() > 0 && fleet.vehicles()[0]?.state.position)) {
      if (Date.now() - t0 > 120_000) throw new Error('SITL reported no position');
      await new Promise((r) => setTimeout(r, 200));
    }
    const fr = new LocalFrame({ lat: HOME.lat, lon: HOME.lon });
    const from = fr.toLatLon({ n: 3000, e: -3000 });
    inst.inject({ kind: 'adsb-traffic', callsign: 'B2345', icao: 0x7a1b2c, from: [from.lon, from.lat], headingDeg: 90, speedMps: 60, altAmslM: 600, emitterType: 1, durationS: 600 });
    const a = await seen('7A1B2C', 30_000);
    expect(a).toMatchObject({ callsign: 'B2345', emitterType: 1, altType: 'pressure', altAmslM: 600, headingDeg: 90, speedMps: 60, simulated: true, relays: [fleet.vehicles()[0].id] });
    expect(inst.activeFaults().map((f: any) => f.kind)).toContain('adsb-traffic');
    // 20 s of the vehicle's time later it has flown 1200 m east
    const c0 = inst.vehicleClockS() as number;
    const p0 = fr.toNe({ lat: a.lat, lon: a.lon });
    await new Promise((r) => setTimeout(r, (20 / SPEEDUP) * 1000));
    const b = await seen('7A1B2C', 10_000, (x) => x.lon !== a.lon);
    const c1 = inst.vehicleClockS() as number;
    const p1 = fr.toNe({ lat: b.lat, lon: b.lon });
    const speed = (p1.e - p0.e) / (c1 - c0);
    process.stderr.write(`receiver: ${(c1 - c0).toFixed(1)} s of vehicle time, aircraft moved ${(p1.e - p0.e).toFixed(0)} m east, ${(p1.n - p0.n).toFixed(0)} m north (${speed.toFixed(1)} m/s), ${inst.adsb.reportsSent} reports sent, ${inst.adsb.autopilotHeartbeats} autopilot heartbeats heard\n`);
    expect(Math.abs(p1.n - p0.n)).toBeLessThan(5);
    // reports are once a second of vehicle time and ArduPilot's list once a second: ±2 s of flight
    expect(Math.abs(p1.e - p0.e - 60 * (c1 - c0))).toBeLessThan(150);
    expect(inst.adsb.autopilotHeartbeats).toBeGreaterThan(0);
  }, 180_000);

  test('across the vehicle track (from its telemetry), then cleared: the sky empties', async () => {
    const inst = sitl.instances[0] as any;
    const v = fleet.vehicles()[0].state;
    // on the ground the track is its heading: the crossing point 500 m ahead, crossed in 60 s at 40 m/s
    inst.inject({ kind: 'adsb-traffic', callsign: 'HELI02', icao: 0x7c0002, speedMps: 40, crossInS: 60, crossAheadM: 500, altOffsetM: 100 });
    const a = await seen('7C0002', 30_000);
    expect(a.callsign).toBe('HELI02');
    expect(Math.abs(a.altAmslM! - (v.position!.altAmslM + 100))).toBeLessThan(5);
    // 2400 m from the crossing point, which is 500 m from the vehicle: 1900..2900 m away
    const d = greatCircleDistanceM([a.lon, a.lat], [v.position!.lon, v.position!.lat]);
    expect(d).toBeGreaterThan(1800);
    expect(d).toBeLessThan(3000);
    expect(Math.abs(((((a.headingDeg! - v.headingDeg - 90 + 180) % 360) + 360) % 360) - 180)).toBeLessThan(3);
    inst.clearFault('adsb-traffic');
    expect(inst.activeFaults().filter((f: any) => f.kind === 'adsb-traffic')).toEqual([]);
    // ArduPilot forgets them after 5 s of its time; the picture drops them 20 s after the last report
    const t0 = Date.now();
    while (picture.list().length > 0) {
      if (Date.now() - t0 > 60_000) throw new Error(`still heard: ${JSON.stringify(picture.list())}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 120_000);
});
