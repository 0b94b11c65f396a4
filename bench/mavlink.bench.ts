/**
 * MAVLink receive and send paths against node-mavlink, on the same bytes in the same run.
 *
 *  - decode: our MavlinkDecoder (framing, CRC, payload into message objects) vs node-mavlink's
 *    MavLinkPacketSplitter → MavLinkPacketParser stream plus protocol.data() for each packet
 *    (the plain pipeline its README shows), fed the same chunks.
 *  - receive path: our decoder plus Vehicle.handleFrame (full decode into the fleet's VehicleState,
 *    protocol clients, events) vs the same node-mavlink pipeline (which stops at message objects).
 *  - encode: MavlinkEncoder.encode vs MavLinkProtocolV2.serialize for the same messages.
 *  - mission upload: 100 waypoints + 20 fence vertices + 5 rally points to the built-in simulator
 *    over UDP loopback at 0 % and 20 % packet loss (each way), each verified by download (the
 *    default): wall time and resends.
 */
import { performance } from 'perf_hooks';
import { PassThrough } from 'stream';
import { MavLinkPacketSplitter, MavLinkPacketParser, MavLinkProtocolV2, MavLinkPacket } from 'node-mavlink';
import type { MavLinkData } from 'mavlink-mappings';
import type { BenchRecord } from './types';
import { MavlinkDecoder, MavlinkEncoder } from '../src/mavlink/codec';
import { msg, minimal, common, ardupilotmega, REGISTRY } from '../src/mavlink/registry';
import { Vehicle } from '../src/fleet/vehicle';
import { systemClock } from '../src/vehicle/clock';
import { createFleet } from '../src/fleet';
import { MissionItem, MissionType, Frame as MavFrame, Cmd } from '../src/mavlink/mission-item';

const FRAMES = Number(process.env.BENCH_MAVLINK_FRAMES ?? 200000);
const ROUNDS = 3;

function telemetryMix(i: number): MavLinkData {
  switch (i % 8) {
    case 0:
      return msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: 89, customMode: 4, systemStatus: 4 });
    case 1:
    case 5:
      return msg(common.GlobalPositionInt, { timeBootMs: i, lat: 340603000 + i, lon: 1143942000 - i, alt: 60000 + (i % 1000), relativeAlt: i % 30000, vx: 120, vy: -40, vz: 3, hdg: 9000 });
    case 2:
    case 6:
      return msg(common.Attitude, { timeBootMs: i, roll: 0.01, pitch: -0.02, yaw: 1.5, rollspeed: 0.001, pitchspeed: 0, yawspeed: 0.002 });
    case 3:
      return msg(common.VfrHud, { airspeed: 5, groundspeed: 5.2, alt: 85, climb: 0.1, heading: 90, throttle: 45 });
    case 4:
      return msg(common.SysStatus, { onboardControlSensorsPresent: 0x1020fc0f, onboardControlSensorsHealth: 0x1020fc0f, voltageBattery: 12400, currentBattery: 1500, batteryRemaining: 80 });
    default:
      return i % 16 === 7 ? msg(ardupilotmega.EkfStatusReport, { flags: 0x33f, velocityVariance: 0.1 }) : msg(common.GpsRawInt, { fixType: 3, satellitesVisible: 12, lat: 340603000, lon: 1143942000, eph: 121 });
  }
}

function makeStream(n: number): { bytes: Buffer; chunks: Buffer[]; messages: MavLinkData[] } {
  const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
  const messages = Array.from({ length: n }, (_, i) => telemetryMix(i));
  const bytes = Buffer.concat(messages.map((m) => enc.encode(m)));
  const chunks: Buffer[] = [];
  for (let o = 0; o < bytes.length; o += 1024) chunks.push(bytes.subarray(o, o + 1024));
  return { bytes, chunks, messages };
}

function best(times: number[]): number {
  return Math.min(...times);
}

function oursDecode(chunks: Buffer[], n: number, withState: boolean): number {
  let count = 0;
  let v: Vehicle | undefined;
  if (withState) {
    v = new Vehicle('bench', 1, 1, () => undefined, systemClock, { sysid: 255, compid: 190 }, { stateIntervalMs: 100, timesyncMs: 0 });
    v.state.connected = true;
  }
  const dec = new MavlinkDecoder(
    v
      ? (f) => {
          count++;
          v!.handleFrame(f);
        }
      : () => count++,
  );
  const t0 = performance.now();
  for (const c of chunks) dec.push(c);
  const ms = performance.now() - t0;
  v?.dispose();
  if (count !== n) throw new Error(`decoder saw ${count} of ${n} frames`);
  return ms;
}

async function nodeMavlinkDecode(chunks: Buffer[], n: number): Promise<number> {
  const input = new PassThrough();
  const splitter = new MavLinkPacketSplitter({}, { magicNumbers: Object.fromEntries(Object.entries(REGISTRY).map(([id, c]) => [id, c.MAGIC_NUMBER])) });
  const parser = new MavLinkPacketParser();
  let count = 0;
  const done = new Promise<void>((resolve, reject) => {
    parser.on('data', (p: MavLinkPacket) => {
      const cls = REGISTRY[p.header.msgid];
      if (cls) p.protocol.data(p.payload, cls as never);
      if (++count === n) resolve();
    });
    parser.on('error', reject);
  });
  input.pipe(splitter).pipe(parser);
  const t0 = performance.now();
  for (const c of chunks) input.write(c);
  input.end();
  await done;
  return performance.now() - t0;
}

function oursEncode(messages: MavLinkData[]): number {
  const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
  const t0 = performance.now();
  let bytes = 0;
  for (const m of messages) bytes += enc.encode(m).length;
  const ms = performance.now() - t0;
  if (bytes === 0) throw new Error('nothing encoded');
  return ms;
}

function nodeMavlinkEncode(messages: MavLinkData[]): number {
  const proto = new MavLinkProtocolV2(1, 1);
  const t0 = performance.now();
  let bytes = 0;
  let seq = 0;
  for (const m of messages) {
    bytes += proto.serialize(m, seq).length;
    seq = (seq + 1) & 0xff;
  }
  const ms = performance.now() - t0;
  if (bytes === 0) throw new Error('nothing encoded');
  return ms;
}

function rec(name: string, value: number, unit: string, baseline: number, baselineName: string, note?: string): BenchRecord {
  return { name, value: Math.round(value), unit, baseline: Math.round(baseline), ratio: Math.round((value / baseline) * 100) / 100, baselineName, ...(note ? { note } : {}) };
}

async function uploadBench(lossPct: number): Promise<{ ms: number; retries: number }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startSimulators } = require('../sims') as typeof import('../sims');
  const fleet = createFleet({ timesyncMs: 0 });
  const id = fleet.addLink('udpin:127.0.0.1:0');
  const link = () => fleet.links().find((l) => l.id === id)!;
  const deadline = (ms: number) => Date.now() + ms;
  let until = deadline(5000);
  // The udpin port is known once bound.
  // eslint-disable-next-line no-await-in-loop
  while (!link().up && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  const port = link().local!.port;
  const sims = await startSimulators({ instances: 1, basePort: 0, speedup: 1, udpOut: `127.0.0.1:${port}`, bootDelayS: 1 });
  try {
    until = deadline(20000);
    while (fleet.vehicles().length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    const v = fleet.vehicles()[0] as Vehicle;
    if (!v) throw new Error('simulated vehicle not discovered over UDP');
    while (!v.state.home && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const lat = Math.round(v.state.home!.lat * 1e7);
    const lon = Math.round(v.state.home!.lon * 1e7);
    const it = (seq: number, command: number, frame: number, x: number, y: number, z: number, p: Partial<MissionItem> = {}): MissionItem => ({ seq, command, frame, x, y, z, param1: 0, param2: 0, param3: 0, param4: 0, ...p });
    const mission = [it(0, Cmd.NAV_WAYPOINT, MavFrame.GLOBAL, lat, lon, 0), it(1, Cmd.NAV_TAKEOFF, MavFrame.GLOBAL_RELATIVE_ALT_INT, 0, 0, 20)];
    for (let i = 2; i < 99; i++) mission.push(it(i, Cmd.NAV_WAYPOINT, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + i * 300, lon + (i % 7) * 200, 30));
    mission.push(it(99, Cmd.NAV_LAND, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat, lon, 0));
    const fence: MissionItem[] = [];
    for (let i = 0; i < 20; i++) {
      const a = (i / 20) * 2 * Math.PI;
      fence.push(it(i, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, MavFrame.GLOBAL_INT, lat + Math.round(Math.cos(a) * 100000), lon + Math.round(Math.sin(a) * 100000), 0, { param1: 20, missionType: 1 }));
    }
    const rally = Array.from({ length: 5 }, (_, i) => it(i, Cmd.NAV_RALLY_POINT, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + i * 1000, lon + 1000, 30, { missionType: 2 }));
    if (lossPct > 0) sims.instances[0].inject({ kind: 'packet-loss', pct: lossPct });
    const before = v.missions.totalRetries;
    const t0 = performance.now();
    for (const [type, items] of [[MissionType.MISSION, mission], [MissionType.FENCE, fence], [MissionType.RALLY, rally]] as const) {
      const r = await v.uploadItems(type, items, { verify: true });
      if (!r.ok) throw new Error(`upload of type ${type} at ${lossPct}% loss failed: ${r.code} ${r.message}`);
    }
    return { ms: performance.now() - t0, retries: v.missions.totalRetries - before };
  } finally {
    await fleet.close();
    await sims.stop();
  }
}

export async function run(): Promise<BenchRecord[]> {
  const { chunks, messages } = makeStream(FRAMES);
  const n = FRAMES;
  // Warm up both paths.
  const warm = makeStream(20000);
  oursDecode(warm.chunks, 20000, true);
  await nodeMavlinkDecode(warm.chunks, 20000);
  const ours: number[] = [];
  const fleetPath: number[] = [];
  const theirs: number[] = [];
  const encOurs: number[] = [];
  const encTheirs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ours.push(oursDecode(chunks, n, false));
    fleetPath.push(oursDecode(chunks, n, true));
    theirs.push(await nodeMavlinkDecode(chunks, n));
    encOurs.push(oursEncode(messages));
    encTheirs.push(nodeMavlinkEncode(messages));
  }
  const fps = (ms: number) => (n / ms) * 1000;
  const base = 'node-mavlink MavLinkPacketSplitter+Parser stream + protocol.data()';
  const out: BenchRecord[] = [
    rec('mavlink.decode', fps(best(ours)), 'frames/s', fps(best(theirs)), base, `${n} telemetry frames in 1 KiB chunks, best of ${ROUNDS}`),
    rec('mavlink.receive-into-fleet-state', fps(best(fleetPath)), 'frames/s', fps(best(theirs)), base, 'decoder + Vehicle.handleFrame (state, protocol clients, events)'),
    rec('mavlink.encode', fps(best(encOurs)), 'frames/s', fps(best(encTheirs)), 'node-mavlink MavLinkProtocolV2.serialize', `${n} messages, best of ${ROUNDS}`),
  ];
  if (process.env.BENCH_MAVLINK_UPLOAD !== '0') {
    const clean = await uploadBench(0);
    const lossy = await uploadBench(20);
    out.push(rec('mavlink.upload-125-items-udp', clean.ms, 'ms', clean.ms, 'same upload, 0% loss', `100 waypoints + 20 fence + 5 rally to the built-in simulator (speedup 1), verified by download; ${clean.retries} resends`));
    out.push(rec('mavlink.upload-125-items-udp-20pct-loss', lossy.ms, 'ms', clean.ms, 'same upload, 0% loss', `20% loss each way; ${lossy.retries} resends`));
  }
  return out;
}
