/**
 * The launcher's ADS-B receiver (sims/adsb-receiver.ts) without SITL: the command line that
 * connects SITL's SERIAL1 to it, and what it sends to whoever connects as the autopilot would —
 * HEARTBEAT as MAV_TYPE_ADSB / MAV_AUTOPILOT_INVALID from the vehicle's sysid and compid 156, and an
 * ADSB_VEHICLE per aircraft once a second of the autopilot's clock, placed by the built-in
 * simulator's crossing model.
 */
import * as net from 'net';
import { sitlArgs } from '../../sims/sitl';
import { AdsbReceiver, ADSB_COMPID, ADSB_RECEIVER_PARAMS } from '../../sims/adsb-receiver';
import { MavlinkDecoder, type Frame } from '../../src/mavlink/codec';
import { LocalFrame } from '../../sims/geo';

describe('sitlArgs with the ADS-B receiver', () => {
  const ports = { relayPort: 40001, observerPort: 40002 };
  const home = { lat: 1, lon: 2, altAmslM: 3 };
  test('SERIAL1 connects to the receiver, the observer moves to SERIAL2; not with simAdsb nor udpOut', () => {
    expect(sitlArgs({ instance: 0, sysid: 1, speedup: 1, home, defaults: [], ...ports, adsbReceiverPort: 40003 }).slice(-6)).toEqual(['--serial0', 'tcpclient:127.0.0.1:40001', '--serial1', 'tcpclient:127.0.0.1:40003', '--serial2', 'tcpclient:127.0.0.1:40002']);
    expect(() => sitlArgs({ instance: 0, sysid: 1, speedup: 1, home, defaults: [], ...ports, adsbReceiverPort: 40003, simAdsb: true })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
    expect(() => sitlArgs({ instance: 0, sysid: 1, speedup: 1, home, defaults: [], ...ports, adsbReceiverPort: 40003, udpOut: { host: '127.0.0.1', port: 14550 } })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
    expect(() => sitlArgs({ instance: 0, sysid: 1, speedup: 1, home, defaults: [], ...ports, adsbReceiverPort: 0 })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
  });
  test('the parameters ArduPilot needs: ADSB_TYPE 1 (uAvionix MAVLink), SERIAL1 MAVLink 2, a 10 km list radius', () => {
    expect(ADSB_RECEIVER_PARAMS).toEqual({ ADSB_TYPE: 1, SERIAL1_PROTOCOL: 2, ADSB_LIST_RADIUS: 10000 });
  });
});

describe('AdsbReceiver', () => {
  const HOME = { lat: 34.06, lon: 114.39 };
  let clock: number | null;
  let own: any;
  let rx: AdsbReceiver;
  let sock: net.Socket;
  const frames: Frame[] = [];

  beforeAll(async () => {
    clock = null;
    own = null;
    rx = new AdsbReceiver({ sysid: 7, clockS: () => clock, ownShip: () => own, tickMs: 5 });
    const port = await rx.listen();
    const dec = new MavlinkDecoder((f) => frames.push(f));
    sock = net.connect(port, '127.0.0.1');
    sock.on('data', (b) => dec.push(b));
    await new Promise((r) => sock.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    sock.destroy();
    await rx.close();
  });

  test('silent and refusing placements until the autopilot clock is known; relative placements need its position', async () => {
    expect(rx.connected).toBe(true);
    expect(frames).toEqual([]);
    expect(() => rx.add({ kind: 'adsb-traffic', speedMps: 40 })).toThrow(/clock/);
    clock = 100;
    expect(() => rx.add({ kind: 'adsb-traffic', speedMps: 40 })).toThrow(/position/);
    expect(() => rx.add({ kind: 'adsb-traffic', from: [HOME.lon, HOME.lat], headingDeg: 0, speedMps: 1000, altAmslM: 100 })).toThrow(/speedMps/);
  });

  test('heartbeat and reports on the autopilot clock, from the vehicle sysid and MAV_COMP_ID_ADSB', async () => {
    own = { latLon: HOME, altAmslM: 160, vn: 10, ve: 0, yawDeg: 0 };
    clock = 200;
    // northbound at 10 m/s: crosses 300 m ahead in 30 s, flying east at 50 m/s, 1500 m west of that point now
    rx.add({ kind: 'adsb-traffic', callsign: 'HELI01', icao: 0x7c4a11, speedMps: 50, crossInS: 30, emitterType: 7 });
    expect(rx.faults()).toEqual([expect.objectContaining({ kind: 'adsb-traffic', callsign: 'HELI01', icao: 0x7c4a11 })]);
    await new Promise((r) => setTimeout(r, 50));
    const hb = frames.filter((f) => f.name === 'HEARTBEAT');
    const reports = frames.filter((f) => f.name === 'ADSB_VEHICLE');
    expect(hb.length).toBe(1);
    expect(reports.length).toBe(1); // once per second of the autopilot's clock, which stood still
    for (const f of [...hb, ...reports]) expect([f.sysid, f.compid]).toEqual([7, ADSB_COMPID]);
    expect(hb[0].data).toMatchObject({ type: 27, autopilot: 8 });
    const a = reports[0].data as any;
    expect(a).toMatchObject({ ICAOAddress: 0x7c4a11, callsign: 'HELI01', emitterType: 7, altitudeType: 0, altitude: 160000, heading: 9000, horVelocity: 5000, tslc: 1 });
    expect(a.flags & 3).toBe(3); // VALID_COORDS | VALID_ALTITUDE: what AP_ADSB needs to keep it
    const fr = new LocalFrame(HOME);
    const p = fr.toNe({ lat: a.lat / 1e7, lon: a.lon / 1e7 });
    expect(p.n).toBeCloseTo(300, 0);
    expect(p.e).toBeCloseTo(-1500, 0);
    // 10 s of the autopilot's clock later: 500 m further east, ten more seconds of reports
    clock = 210;
    await new Promise((r) => setTimeout(r, 50));
    const last = frames.filter((f) => f.name === 'ADSB_VEHICLE').pop()!.data as any;
    expect(fr.toNe({ lat: last.lat / 1e7, lon: last.lon / 1e7 }).e).toBeCloseTo(-1000, 0);
    // while the autopilot's clock stands still nothing more is sent; one report for each second it advances
    const n = rx.reportsSent;
    await new Promise((r) => setTimeout(r, 50));
    expect(rx.reportsSent).toBe(n);
    clock = 211;
    await new Promise((r) => setTimeout(r, 50));
    expect(rx.reportsSent).toBe(n + 1);
    rx.clear();
    clock = 215;
    await new Promise((r) => setTimeout(r, 50));
    expect(rx.reportsSent).toBe(n + 1);
    expect(rx.faults()).toEqual([]);
  });

  test('a new connection (the autopilot rebooted) replaces the old one', async () => {
    const second = net.connect(rx.port, '127.0.0.1');
    const got: Frame[] = [];
    const dec = new MavlinkDecoder((f) => got.push(f));
    second.on('data', (b) => dec.push(b));
    await new Promise((r) => second.once('connect', r));
    await new Promise((r) => setTimeout(r, 30));
    clock = 230;
    await new Promise((r) => setTimeout(r, 50));
    expect(got.some((f) => f.name === 'HEARTBEAT')).toBe(true);
    expect(sock.destroyed || sock.readableEnded).toBe(true);
    second.destroy();
  });
});
