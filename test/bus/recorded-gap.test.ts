/**
 * What a vehicle did while no node followed it, read back from the agent's recorded stream: the
 * frames replayed through the fleet's state decoder (src/delivery/recorded-gap.ts), first as plain
 * chunks, then stored in and read back from a real JetStream stream (src/bus/recorded-frames.ts).
 */
import { MavlinkEncoder } from '../../src/mavlink/codec';
import { msg, common, minimal } from '../../src/mavlink/registry';
import { gapFacts, gapRecord, type RecordedChunk } from '../../src/delivery/recorded-gap';
import { Subjects, openBus, recordedFrames, busVehicleOf, type Bus } from '../../src/bus';
import { natsSuite, natsTestRoot } from '../support/nats';

const RELEASE_SEQ = 7;
const SERVO = 9;
const T0 = Date.parse('2026-12-07T08:00:00Z');

/** An ArduCopter-like vehicle (sysid 3) flying its mission past the release item, 10 messages a second. */
function flight(): { chunks: RecordedChunk[]; releaseAt: { ms: number; lat: number; lon: number; altRelM: number } } {
  const ap = new MavlinkEncoder({ sysid: 3, compid: 1 });
  const gimbal = new MavlinkEncoder({ sysid: 3, compid: 154 });
  const stranger = new MavlinkEncoder({ sysid: 7, compid: 1 });
  const hb = (armed: boolean, customMode: number) => ap.encode(msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: armed ? 217 : 89, customMode, systemStatus: 4 }));
  const pos = (lat: number, lon: number, altRelM: number) => ap.encode(msg(common.GlobalPositionInt, { timeBootMs: 0, lat: Math.round(lat * 1e7), lon: Math.round(lon * 1e7), alt: Math.round((100 + altRelM) * 1000), relativeAlt: Math.round(altRelM * 1000), vx: 0, vy: 0, vz: 0, hdg: 0 }));
  const current = (seq: number) => ap.encode(msg(common.MissionCurrent, { seq }));
  const servo = (pwm: number) => ap.encode(msg(common.ServoOutputRaw, { timeUsec: 0, port: 0, servo1Raw: 1500, servo2Raw: 1500, servo3Raw: 1500, servo4Raw: 1500, servo5Raw: 0, servo6Raw: 0, servo7Raw: 0, servo8Raw: 0, servo9Raw: pwm, servo10Raw: 0, servo11Raw: 0, servo12Raw: 0, servo13Raw: 0, servo14Raw: 0, servo15Raw: 0, servo16Raw: 0 }));
  const chunks: RecordedChunk[] = [];
  let t = T0;
  const add = (...frames: Buffer[]) => { chunks.push({ timeMs: t, data: Buffer.concat(frames) }); t += 100; };
  // AUTO (3), armed, descending over the drop point through seq 5 and 6
  add(hb(true, 3), current(5), servo(1900));
  for (let k = 0; k < 20; k++) add(pos(34.0515, 114.3935 + k * 1e-6, 60 - 2 * k));
  add(stranger.encode(msg(common.MissionCurrent, { seq: 40 })), current(6)); // another vehicle's frames are not this vehicle's
  add(pos(34.0515, 114.39352, 15.2), gimbal.encode(msg(common.StatusText, { severity: 4, text: 'Gimbal: no signal' })));
  const releaseMs = t;
  add(current(RELEASE_SEQ + 1)); // past the release item: the gripper has been commanded
  add(servo(1100));
  add(hb(true, 3), ap.encode(msg(common.StatusText, { severity: 4, text: 'Payload released' })));
  for (let k = 0; k < 10; k++) add(pos(34.0515, 114.39352, 15.2 + k));
  add(hb(true, 6)); // RTL
  return { chunks, releaseAt: { ms: releaseMs, lat: 34.0515, lon: 114.39352, altRelM: 15.2 } };
}

describe('a gap replayed from recorded frames', () => {
  test('finds when and where the vehicle passed the release item, the servo output, modes and warnings', () => {
    const { chunks, releaseAt } = flight();
    const f = gapFacts(chunks, 3, 1, RELEASE_SEQ, SERVO);
    expect(f.release).toEqual({ atMs: releaseAt.ms, how: 'mission-current', lat: releaseAt.lat, lon: releaseAt.lon, altRelM: releaseAt.altRelM });
    expect(f.servoPwm).toBe(1100);
    expect(f.modes.map((m) => m.mode)).toEqual(['AUTO', 'RTL']);
    expect(f.armedChanges).toEqual([{ atMs: T0, armed: true }]);
    expect(f.maxAltRelM).toBeCloseTo(60, 3);
    expect(f.statusTexts.map((s) => s.text)).toEqual(['Gimbal: no signal', 'Payload released']);
    expect(f.frames).toBeGreaterThan(40);
    expect(f.firstMs).toBe(T0);
    // MISSION_ITEM_REACHED of the release item counts as passing it, at its own time
    const ap = new MavlinkEncoder({ sysid: 3, compid: 1 });
    const reached = { timeMs: releaseAt.ms - 50, data: ap.encode(msg(common.MissionItemReached, { seq: RELEASE_SEQ })) };
    const g = gapFacts([...chunks.filter((c) => c.timeMs < releaseAt.ms), reached, ...chunks.filter((c) => c.timeMs >= releaseAt.ms)], 3, 1, RELEASE_SEQ, SERVO);
    expect(g.release).toMatchObject({ atMs: releaseAt.ms - 50, how: 'item-reached' });
    const rec = gapRecord(f);
    expect(rec).toMatchObject({ recorded: true, release: { at: new Date(releaseAt.ms).toISOString(), how: 'mission-current' } });
  });

  test('before the release item nothing is released; without a release item nothing is looked for; nothing recorded says so', () => {
    const { chunks, releaseAt } = flight();
    expect(gapFacts(chunks.filter((c) => c.timeMs < releaseAt.ms), 3, 1, RELEASE_SEQ, SERVO).release).toBeNull();
    expect(gapFacts(chunks, 3, 1, null, null).release).toBeNull();
    expect(gapFacts(chunks, 4, 1, RELEASE_SEQ, SERVO).frames).toBe(0); // no frame of sysid 4
    expect(gapRecord(null)).toEqual({ recorded: false, why: 'no recorded stream for this vehicle' });
  });

  test('bus vehicle ids name their site and vehicle token; others have no recording', () => {
    expect(busVehicleOf('fugou.radio1-3/3')).toEqual({ site: 'fugou', vehicle: 'radio1-3' });
    expect(busVehicleOf('sim0/1')).toBeNull();
    expect(busVehicleOf('a.b.c-1/1')).toBeNull();
    expect(busVehicleOf('fugou.radio1/3')).toBeNull();
  });
});

natsSuite('recorded frames read back from JetStream', (url) => {
  const root = natsTestRoot();
  const subjects = new Subjects(root);
  let bus: Bus;

  beforeAll(async () => {
    bus = await openBus(url);
  });
  afterAll(async () => {
    await bus?.removeRecording(subjects.tlogStream);
    await bus?.close();
  });

  test('the frames an agent published for a vehicle come back from the stream, from a moment on, and replay to the same release', async () => {
    const reader = recordedFrames(bus, subjects);
    expect(await reader.read('field.radio1-3/3', 0)).toBeNull(); // no stream yet
    await bus.ensureRecording({ stream: subjects.tlogStream, subjects: [subjects.all('rx'), subjects.all('tx')] });
    const { chunks } = flight();
    const t0 = Date.now();
    for (const c of chunks) bus.publish(subjects.vehicle('field', 'radio1-3', 'rx'), c.data);
    bus.publish(subjects.vehicle('field', 'radio2-5', 'rx'), chunks[0].data); // another vehicle's subject
    await bus.flush();
    let back: Awaited<ReturnType<typeof reader.read>> = null;
    for (let k = 0; k < 50 && (back?.length ?? 0) < chunks.length; k++) {
      back = await reader.read('field.radio1-3/3', t0 - 1000);
      if ((back?.length ?? 0) < chunks.length) await new Promise((r) => setTimeout(r, 100));
    }
    expect(back!.map((c) => Buffer.from(c.data).toString('hex'))).toEqual(chunks.map((c) => Buffer.from(c.data).toString('hex')));
    for (const c of back!) expect(c.timeMs).toBeGreaterThanOrEqual(t0 - 1000);
    const f = gapFacts(back!, 3, 1, RELEASE_SEQ, SERVO);
    expect(f.release).toMatchObject({ how: 'mission-current', lat: 34.0515, lon: 114.39352, altRelM: 15.2 });
    expect(f.servoPwm).toBe(1100);
    expect(await reader.read('field.radio1-3/3', Date.now() + 60_000)).toEqual([]);
    expect(await reader.read('sim0/1', 0)).toBeNull(); // not a vehicle behind an agent
  });
});
