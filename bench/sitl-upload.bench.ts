/**
 * Uploading a delivery to ArduCopter SITL at speedup 1, through the launcher's relay (where the link
 * faults apply) at 0 % and 20 % of frames lost each way: the fence at the vehicle's capacity (one
 * 69-vertex inclusion: 559 of ArduCopter SITL's 560 bytes of fence storage), 5 rally points and a
 * 100-item mission, each verified by download.
 *
 * Dropline: the fleet's Vehicle.uploadItems(…, {verify: true}) (resends paced by the measured round
 * trip, windowed verification download), on a fleet connected a moment before (its TIMESYNC round trip known).
 * Baseline, on the same link in the same run: the plain loop of pymavlink's examples, with nothing
 * of its own to recover a loss: send MISSION_COUNT, answer each MISSION_REQUEST(_INT) with its item
 * until MISSION_ACK; verify with REQUEST_LIST, COUNT, one MISSION_REQUEST_INT per item, ACK. What it
 * loses only the vehicle's own re-request (after 1 s) recovers; a lost COUNT, final ACK or download
 * answer leaves it waiting until its 3 s receive timeout, and that list counts as failed.
 *
 * Skipped with a message when ARDUPILOT_SITL is not set. Run it in a network namespace with only
 * loopback (SITL binds its RC input port on every interface): sims/README.md.
 */
import * as net from 'net';
import type { BenchRecord } from './types';
import { sitlAvailable, startSitl, PROJECT_PARAMS } from '../sims/sitl';
import { defaultHome } from '../sims';
import { createFleet, type Vehicle } from '../src/fleet';
import { MavlinkDecoder, MavlinkEncoder, type Frame } from '../src/mavlink/codec';
import { msg, common, minimal } from '../src/mavlink/registry';
import { Cmd, Frame as MavFrame, MissionType, type MissionItem, type MissionTypeValue } from '../src/mavlink/mission-item';
import { itemToMessage, itemFromMessage, compareItems } from '../src/vehicle/mission-transfer';

const ROUNDS = 3;

const item = (seq: number, command: number, frame: number, x: number, y: number, z: number, p: Partial<MissionItem> = {}): MissionItem => ({ seq, command, frame, x, y, z, param1: 0, param2: 0, param3: 0, param4: 0, ...p });

function suite(lat: number, lon: number): Array<[MissionTypeValue, MissionItem[]]> {
  const fence: MissionItem[] = [];
  for (let k = 0; k < 69; k++) {
    const a = (2 * Math.PI * k) / 69;
    fence.push(item(k, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, MavFrame.GLOBAL_INT, lat + Math.round(Math.cos(a) * 150000), lon + Math.round(Math.sin(a) * 150000), 0, { param1: 69, missionType: 1 }));
  }
  const rally = Array.from({ length: 5 }, (_, i) => item(i, Cmd.NAV_RALLY_POINT, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + i * 1000, lon + 1000, 30, { missionType: 2 }));
  const mission = [item(0, Cmd.NAV_WAYPOINT, MavFrame.GLOBAL, lat, lon, 0), item(1, Cmd.NAV_TAKEOFF, MavFrame.GLOBAL_RELATIVE_ALT_INT, 0, 0, 20)];
  for (let i = 2; i < 99; i++) mission.push(item(i, Cmd.NAV_WAYPOINT, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + i * 120, lon + (i % 7) * 150, 30));
  mission.push(item(99, Cmd.NAV_LAND, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat, lon, 0));
  return [[MissionType.FENCE, fence], [MissionType.RALLY, rally], [MissionType.MISSION, mission]];
}

interface Run {
  /** Per list: items, time and resends (Dropline's runs). */
  parts?: string[];
  ms: number;
  retries: number;
  verified: boolean;
  failed: string[];
}

async function dropline(uri: string, lists: Array<[MissionTypeValue, MissionItem[]]>): Promise<Run> {
  // The fleet as the service runs it (GCS heartbeats at 2 Hz, TIMESYNC): connected a moment before
  // the upload, as a vehicle is before a dispatch.
  const fleet = createFleet({ heartbeatHz: 2 });
  try {
    fleet.addLink(uri, { id: 'sitl' });
    const end = Date.now() + 30_000;
    while (fleet.vehicles().length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const v = fleet.vehicles()[0] as Vehicle | undefined;
    if (!v) throw new Error('SITL not discovered through the relay');
    while (v.state.link.rttMs === null && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const before = v.missions.totalRetries;
    const failed: string[] = [];
    const t0 = performance.now();
    const parts: string[] = [];
    for (const [type, items] of lists) {
      const t = performance.now(), n = v.missions.totalRetries;
      const r = await v.uploadItems(type, items, { verify: true });
      if (!r.ok) failed.push(`type ${type}: ${r.code} ${r.message}`);
      parts.push(`${["mission", "fence", "rally"][type]} ${items.length} items ${(performance.now() - t).toFixed(0)} ms ${v.missions.totalRetries - n} resends srtt ${(v.missions as any).rtt?.srttMs?.toFixed?.(1)}`);
    }
    return { ms: performance.now() - t0, retries: v.missions.totalRetries - before, verified: failed.length === 0, failed, parts };
  } finally {
    await fleet.close();
  }
}

/** The plain loop, over its own TCP connection: one message awaited at a time, 3 s receive timeout. */
async function plainLoop(port: number, sysid: number, lists: Array<[MissionTypeValue, MissionItem[]]>): Promise<Run> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  sock.setNoDelay(true);
  const enc = new MavlinkEncoder({ sysid: 255, compid: 190 });
  const send = (m: Parameters<MavlinkEncoder['encode']>[0]) => sock.writable && sock.write(enc.encode(m));
  const queue: Frame[] = [];
  let wake: (() => void) | null = null;
  const dec = new MavlinkDecoder((f) => {
    if (f.sysid !== sysid) return;
    queue.push(f);
    wake?.();
  });
  sock.on('data', (b) => dec.push(b));
  sock.on('error', () => undefined);
  const hb = setInterval(() => send(msg(minimal.Heartbeat, { type: 6, autopilot: 8, baseMode: 0, customMode: 0, systemStatus: 4 })), 500);
  /** recv_match(type=names, blocking=True, timeout=3) */
  const recv = async (names: string[], type: number): Promise<Frame | null> => {
    const end = Date.now() + 3000;
    for (;;) {
      while (queue.length) {
        const f = queue.shift()!;
        if (names.includes(f.name) && ((f.data as unknown as { missionType?: number }).missionType ?? 0) === type) return f;
      }
      const left = end - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, left);
      });
      wake = null;
    }
  };
  const target = { sysid, compid: 1 };
  const failed: string[] = [];
  await new Promise((r) => setTimeout(r, 300)); // the heartbeat goes first, as a ground station connects
  queue.length = 0;
  const t0 = performance.now();
  try {
    for (const [type, items] of lists) {
      send(msg(common.MissionCount, { targetSystem: sysid, targetComponent: 1, count: items.length, missionType: type }));
      let acked = false;
      for (;;) {
        const f = await recv(['MISSION_REQUEST', 'MISSION_REQUEST_INT', 'MISSION_ACK'], type);
        if (!f) break;
        const d = f.data as unknown as { seq: number; type: number };
        if (f.name === 'MISSION_ACK') {
          if (d.type === 13) continue; // INVALID_SEQUENCE: the vehicle asks again
          acked = d.type === 0;
          break;
        }
        if (d.seq < items.length) send(itemToMessage(items[d.seq], d.seq, type, target));
      }
      if (!acked) {
        failed.push(`type ${type}: no MISSION_ACK`);
        continue;
      }
      // Verify: the same plain loop downloading.
      send(msg(common.MissionRequestList, { targetSystem: sysid, targetComponent: 1, missionType: type }));
      const c = await recv(['MISSION_COUNT'], type);
      if (!c) {
        failed.push(`type ${type}: no MISSION_COUNT`);
        continue;
      }
      const back: MissionItem[] = [];
      for (let seq = 0; seq < (c.data as common.MissionCount).count; seq++) {
        send(msg(common.MissionRequestInt, { targetSystem: sysid, targetComponent: 1, seq, missionType: type }));
        const it = await recv(['MISSION_ITEM_INT'], type);
        if (!it) break;
        back.push(itemFromMessage(it.data as common.MissionItemInt, false));
      }
      send(msg(common.MissionAck, { targetSystem: sysid, targetComponent: 1, type: 0, missionType: type }));
      const diff = back.length === items.length ? compareItems(items, back, { autopilot: 'ardupilot', type }) : { message: `downloaded ${back.length} of ${items.length}` };
      if (diff) failed.push(`type ${type}: ${diff.message}`);
    }
    return { ms: performance.now() - t0, retries: 0, verified: failed.length === 0, failed };
  } finally {
    clearInterval(hb);
    sock.destroy();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run(): Promise<BenchRecord[]> {
  if (!sitlAvailable()) {
    process.stderr.write('sitl-upload: skipped: ARDUPILOT_SITL does not name an arducopter binary\n');
    return [];
  }
  const sitl = await startSitl({ instances: 1, basePort: 0, speedup: 1, params: PROJECT_PARAMS });
  try {
    const inst = sitl.instances[0];
    // Initialisation takes 2.5 s (before it ArduPilot has no room for a mission).
    await new Promise((r) => setTimeout(r, 4000));
    const h = defaultHome(0);
    const lists = suite(Math.round(h.lat * 1e7), Math.round(h.lon * 1e7));
    const items = lists.reduce((n, [, l]) => n + l.length, 0);
    const out: BenchRecord[] = [];
    for (const lossPct of (process.env.SITL_UPLOAD_LOSS ?? '0,20').split(',').map(Number)) {
      const ours: Run[] = [];
      const base: Run[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        inst.inject({ kind: 'packet-loss', pct: lossPct });
        try {
          ours.push(await dropline(inst.uri, lists));
          base.push(await plainLoop(inst.tcpPort, inst.sysid, lists));
        } finally {
          inst.clearFault('packet-loss');
        }
        // Let the relay hand the link to the next client and the vehicle end what the last one left.
        await new Promise((res) => setTimeout(res, 1000));
      }
      const ms = median(ours.map((x) => x.ms));
      const baseMs = median(base.map((x) => x.ms));
      const runs = (xs: Run[]) => xs.map((x) => `${Math.round(x.ms)} ms${x.retries ? ` ${x.retries} resends` : ''}${x.verified ? ' verified' : ` FAILED (${x.failed.join('; ')})`}`).join(', ');
      for (const x of ours) if (x.parts) process.stderr.write(`  ${x.parts.join('; ')}\n`);
      process.stderr.write(`sitl-upload ${lossPct}%: dropline ${runs(ours)}\nsitl-upload ${lossPct}%: plain loop ${runs(base)}\n`);
      out.push({
        name: `sitl.arducopter.upload-${items}-items-verified${lossPct ? `-${lossPct}pct-loss` : ''}`,
        value: Math.round(ms),
        unit: 'ms',
        baseline: Math.round(baseMs),
        ratio: Math.round((ms / baseMs) * 100) / 100,
        baselineName: 'plain count → answer each request → ack loop, same link',
        note:
          `fence 69 (capacity) + rally 5 + mission 100 to ArduCopter SITL at speedup 1 through the relay, ${lossPct}% loss each way, median of ${ROUNDS}; ` +
          `Dropline ${ours.filter((x) => x.verified).length}/${ROUNDS} verified, resends ${ours.map((x) => x.retries).join('/')}; ` +
          `plain loop ${base.filter((x) => x.verified).length}/${ROUNDS} verified`,
      });
    }
    return out;
  } finally {
    await sitl.stop();
  }
}
