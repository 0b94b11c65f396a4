import { startSimulators, SimFleet, BuiltinInstance } from '../../sims';
import { TestGcs, item } from './gcs-client';
import { msg, common } from '../../src/mavlink/registry';
import { Cmd } from '../../src/mavlink/mission-item';

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 60 };
const SPEEDUP = 20;

describe('simulator: mission transfer (vehicle side, as ArduCopter 4.7)', () => {
  let fleet: SimFleet & { instances: BuiltinInstance[] };
  let gcs: TestGcs;
  let port: number;

  beforeAll(async () => {
    fleet = await startSimulators({ basePort: 0, speedup: SPEEDUP, homes: [HOME], bootDelayS: 1 });
    port = fleet.instances[0].tcpPort;
    gcs = await TestGcs.connect(port);
    // As ArduCopter: a mission has no room before initialisation ends (STANDBY).
    await gcs.next('HEARTBEAT', (d, f) => f.sysid === 1 && d.systemStatus >= 3, 10_000);
  });
  afterAll(async () => {
    await gcs.close();
    await fleet.stop();
  });

  const route = () => [
    item(0, Cmd.NAV_WAYPOINT, 0, 0, 0),
    item(1, Cmd.NAV_TAKEOFF, 0, 0, 10),
    item(2, Cmd.NAV_WAYPOINT, 34.061, 114.391, 20),
    item(3, Cmd.NAV_LOITER_TIME, 34.0612, 114.3912, 10, { param1: 2 }),
    item(4, Cmd.DO_GRIPPER, 0, 0, 0, { param1: 1, param2: 0, frame: 3 }),
    item(5, Cmd.NAV_LAND, 0, 0, 0),
  ];

  test('upload is driven by MISSION_REQUEST (#40); item 0 comes back as home; DO items normalised', async () => {
    const r = await gcs.upload(route());
    expect(r.ack).toBe(0);
    expect(r.requests.length).toBeGreaterThanOrEqual(6); // more when a re-request (1 s sim) fires under load
    expect(new Set(r.requests)).toEqual(new Set(['MISSION_REQUEST']));
    await gcs.waitText(/Flight plan received/);
    const back = await gcs.download();
    expect(back).toHaveLength(6);
    expect(back[0].frame).toBe(0);
    expect(back[0].x).toBe(Math.round(HOME.lat * 1e7));
    expect(back[0].y).toBe(Math.round(HOME.lon * 1e7));
    expect(back[0].z).toBeCloseTo(HOME.altAmslM, 3);
    expect(back[2].x).toBe(340610000);
    expect(back[2].z).toBeCloseTo(20, 3);
    expect(back[3].param3).toBe(1);
    expect(back[4].frame).toBe(0);
    expect(back[4].command).toBe(Cmd.DO_GRIPPER);
    expect(back[5].param4).toBe(1);
  });

  test('MISSION_ACK error codes: NO_SPACE, UNSUPPORTED, UNSUPPORTED_FRAME, INVALID_PARAM5_X', async () => {
    const noSpace = gcs.next('MISSION_ACK');
    gcs.send(msg(common.MissionCount, { targetSystem: 1, targetComponent: 1, count: 651, missionType: 0 }));
    expect((await noSpace).data).toMatchObject({ type: 4 });
    await gcs.waitText(/Only 650 items are supported/);

    const bad = async (it: ReturnType<typeof item>) => (await gcs.upload([item(0, 16), it])).ack;
    expect(await bad(item(1, 12345, 34.06, 114.39, 10))).toBe(3);
    expect(await bad(item(1, Cmd.NAV_WAYPOINT, 34.06, 114.39, 10, { frame: 4 }))).toBe(2);
    expect(await bad(item(1, Cmd.NAV_WAYPOINT, 123, 114.39, 10))).toBe(10);
  });

  test('wrong seq → INVALID_SEQUENCE and the transfer continues; duplicate MISSION_COUNT restarts at 0', async () => {
    const first = gcs.next('MISSION_REQUEST', (d) => d.seq === 0);
    gcs.send(msg(common.MissionCount, { targetSystem: 1, targetComponent: 1, count: 2, missionType: 0 }));
    await first;
    const it0 = { targetSystem: 1, targetComponent: 1, frame: 6, command: 16, x: 340600000, y: 1143900000, z: 10, autocontinue: 1, missionType: 0 };
    const req1 = gcs.next('MISSION_REQUEST', (d) => d.seq === 1);
    gcs.send(msg(common.MissionItemInt, { ...it0, seq: 0 }));
    await req1;
    const nack = gcs.next('MISSION_ACK');
    gcs.send(msg(common.MissionItemInt, { ...it0, seq: 5 }));
    expect((await nack).data).toMatchObject({ type: 13 });
    // Restart: a second MISSION_COUNT asks for item 0 again.
    const again = gcs.next('MISSION_REQUEST', (d) => d.seq === 0);
    gcs.send(msg(common.MissionCount, { targetSystem: 1, targetComponent: 1, count: 2, missionType: 0 }));
    await again;
    // REQUEST_LIST during the upload is DENIED; so is another GCS starting an upload.
    const denied = gcs.next('MISSION_ACK');
    gcs.send(msg(common.MissionRequestList, { targetSystem: 1, targetComponent: 1, missionType: 0 }));
    expect((await denied).data).toMatchObject({ type: 14 });
    const other = await TestGcs.connect(port, { sysid: 254, heartbeatHz: 0 });
    const denied2 = other.next('MISSION_ACK');
    other.send(msg(common.MissionCount, { targetSystem: 1, targetComponent: 1, count: 3, missionType: 0 }));
    expect((await denied2).data).toMatchObject({ type: 14 });
    await other.close();
    // Finish the original upload.
    const r1 = gcs.next('MISSION_REQUEST', (d) => d.seq === 1);
    gcs.send(msg(common.MissionItemInt, { ...it0, seq: 0 }));
    await r1;
    const done = gcs.next('MISSION_ACK');
    gcs.send(msg(common.MissionItemInt, { ...it0, seq: 1 }));
    expect((await done).data).toMatchObject({ type: 0 });
  });

  test('no answer: re-request every 1 s (sim), then OPERATION_CANCELLED and "Mission upload timeout" after 8 s', async () => {
    await gcs.setRate(2, 50); // SYSTEM_TIME: vehicle time in band
    const reqs: number[] = [];
    const off = gcs.on((f) => {
      if (f.name === 'MISSION_REQUEST') reqs.push(gcs.bootMs / 1000);
    });
    const t0 = gcs.at(await gcs.next('SYSTEM_TIME')) / 1000;
    const ack = gcs.next('MISSION_ACK', () => true, 15000);
    gcs.send(msg(common.MissionCount, { targetSystem: 1, targetComponent: 1, count: 3, missionType: 0 }));
    const ackF = await ack;
    expect(ackF.data).toMatchObject({ type: 15 });
    off();
    // Measured from the first request, sent when the vehicle took the MISSION_COUNT.
    expect(reqs[0]).toBeGreaterThanOrEqual(t0);
    const elapsed = gcs.at(ackF) / 1000 - reqs[0];
    expect(elapsed).toBeGreaterThanOrEqual(7.9);
    expect(elapsed).toBeLessThan(9);
    // First request at once, then one per second of silence: 8 or 9 in all.
    expect(reqs.length).toBeGreaterThanOrEqual(7);
    expect(reqs.length).toBeLessThanOrEqual(9);
    const meanGap = (reqs[reqs.length - 1] - reqs[0]) / (reqs.length - 1);
    expect(meanGap).toBeGreaterThan(0.9);
    expect(meanGap).toBeLessThan(1.2);
    await gcs.waitText(/Mission upload timeout/);
  });

  test('legacy MISSION_ITEM is accepted (with a nag); MISSION_REQUEST download answers with MISSION_ITEM', async () => {
    const req = gcs.next('MISSION_REQUEST', (d) => d.seq === 0);
    gcs.send(msg(common.MissionCount, { targetSystem: 1, targetComponent: 1, count: 2, missionType: 0 }));
    await req;
    const base = { targetSystem: 1, targetComponent: 1, frame: 3, command: 16, x: 34.0605, y: 114.3905, z: 15, autocontinue: 1, missionType: 0 };
    const req1 = gcs.next('MISSION_REQUEST', (d) => d.seq === 1);
    gcs.send(msg(common.MissionItem, { ...base, seq: 0 }));
    await req1;
    const ack = gcs.next('MISSION_ACK');
    gcs.send(msg(common.MissionItem, { ...base, seq: 1 }));
    expect((await ack).data).toMatchObject({ type: 0 });
    await gcs.waitText(/MISSION_ITEM_INT/);
    const got = gcs.next('MISSION_ITEM', (d) => d.seq === 1);
    gcs.send(msg(common.MissionRequest, { targetSystem: 1, targetComponent: 1, seq: 1, missionType: 0 }));
    const d = (await got).data as common.MissionItem;
    expect(d.x).toBeCloseTo(34.0605, 5);
  });

  test('fence: valid polygon → "Fence Indexed OK"; wrong vertex count or 2 vertices → ERROR; rally points', async () => {
    const poly = (n: number, p1 = n) =>
      Array.from({ length: n }, (_, i) => item(i, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, 34.06 + 0.01 * Math.cos((i * 2 * Math.PI) / n), 114.39 + 0.01 * Math.sin((i * 2 * Math.PI) / n), 0, { param1: p1, frame: 5 }));
    const ok = await gcs.upload(poly(4), 1);
    expect(ok.ack).toBe(0);
    expect(new Set(ok.requests)).toEqual(new Set(['MISSION_REQUEST']));
    await gcs.waitText(/Fence Indexed OK/);
    expect((await gcs.upload(poly(4, 3), 1)).ack).toBe(1);
    expect((await gcs.upload(poly(2), 1)).ack).toBe(1);
    await gcs.waitText(/Fence validation failed/);
    const back = await gcs.download(1);
    expect(back).toHaveLength(4);
    const rally = [item(0, Cmd.NAV_RALLY_POINT, 34.0602, 114.3902, 20), item(1, Cmd.NAV_RALLY_POINT, 34.0605, 114.3905, 20)];
    expect((await gcs.upload(rally, 2)).ack).toBe(0);
    expect(await gcs.download(2)).toHaveLength(2);
    // Clear the fence again.
    expect((await gcs.upload([], 1)).ack).toBe(0);
  });

  test('garbage bytes on the socket do not disturb the vehicle', async () => {
    const junk = Buffer.alloc(5000);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 0xff;
    junk[100] = 0xfd;
    junk[2000] = 0xfe;
    gcs.sendRaw(junk);
    // A truncated frame, then a malformed COMMAND_LONG with absurd values.
    gcs.sendRaw(Buffer.from([0xfd, 0x09, 0x00]));
    const r = await gcs.command(511, [33, NaN]);
    expect(r).toBe(2); // DENIED, and no runaway stream
    const hb = await gcs.next('HEARTBEAT', () => true, 5000);
    expect(hb.sysid).toBe(1);
    const list = await gcs.download(0);
    expect(list.length).toBeGreaterThan(0);
  });
});
