import { minimal } from 'mavlink-mappings';
import { msg } from '../../src/mavlink/registry';
import { GcsHeartbeat, VehicleDiscovery, DiscoveredVehicle } from '../../src/vehicle/heartbeat';
import { Bench } from './harness';

const vehicleHb = (autopilot: number, type = 2, customMode = 4) => msg(minimal.Heartbeat, { type, autopilot, baseMode: 89, customMode, systemStatus: 3 });

describe('heartbeat', () => {
  test('GCS heartbeat: 2 Hz by default, MAV_TYPE_GCS / AUTOPILOT_INVALID from 255/190', () => {
    const b = new Bench();
    const hb = new GcsHeartbeat(b.deps().send, b.clock);
    hb.start();
    b.clock.advance(2999);
    expect(b.sent).toHaveLength(6);
    const f = b.sent[0];
    expect(f).toMatchObject({ sysid: 255, compid: 190, msgid: 0 });
    expect(f.data).toMatchObject({ type: 6, autopilot: 8, mavlinkVersion: 3 });
    hb.stop();
    b.clock.advance(5000);
    expect(b.sent).toHaveLength(6);
    expect(b.clock.pending).toBe(0);
  });

  test('GCS heartbeat rate and sysid are configurable; bad rate is a typed error', () => {
    const b = new Bench();
    const enc = b.gcs;
    enc.sysid = 250;
    const hb = new GcsHeartbeat(b.deps().send, b.clock, { hz: 5 });
    hb.start();
    b.clock.advance(999);
    expect(b.sent).toHaveLength(5);
    expect(b.sent[0].sysid).toBe(250);
    hb.stop();
    expect(() => new GcsHeartbeat(() => undefined, b.clock, { hz: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  test('discovery: ArduPilot and PX4, vehicle type; GCS heartbeats ignored; lost after 5 s; found again', () => {
    const b = new Bench();
    const d = new VehicleDiscovery(b.clock);
    const events: string[] = [];
    for (const e of ['discovered', 'lost', 'found']) d.on(e, (v: DiscoveredVehicle) => events.push(`${e}:${v.sysid}:${v.autopilot}`));
    d.handle(b.frame(vehicleHb(3, 2), { sysid: 1, compid: 1 }));
    d.handle(b.frame(vehicleHb(12, 13), { sysid: 2, compid: 1 }));
    d.handle(b.frame(msg(minimal.Heartbeat, { type: 6, autopilot: 8 }), { sysid: 254, compid: 190 }));
    expect(events).toEqual(['discovered:1:ardupilot', 'discovered:2:px4']);
    expect(d.vehicles.get(2)!.vehicleType).toBe(13);
    expect(d.vehicles.size).toBe(2);
    // Vehicle 1 keeps beating at 1 Hz, vehicle 2 goes silent.
    for (let i = 0; i < 5; i++) {
      b.clock.advance(1000);
      d.handle(b.frame(vehicleHb(3), { sysid: 1, compid: 1 }));
    }
    expect(events).toEqual(['discovered:1:ardupilot', 'discovered:2:px4', 'lost:2:px4']);
    expect(d.vehicles.get(2)!.connected).toBe(false);
    b.clock.advance(500);
    d.handle(b.frame(vehicleHb(12, 13), { sysid: 2, compid: 1 }));
    expect(events[3]).toBe('found:2:px4');
    expect(d.vehicles.get(2)!.connected).toBe(true);
    b.clock.advance(4400);
    expect(events).toHaveLength(4);
    b.clock.advance(200);
    expect(events.slice(4)).toEqual(['lost:1:ardupilot']);
    b.clock.advance(500);
    expect(events.slice(4)).toEqual(['lost:1:ardupilot', 'lost:2:px4']);
    d.stop();
  });
});
