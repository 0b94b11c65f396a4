/**
 * Record a flight of a simulated vehicle through the real fleet, replay the tlog through the same
 * pipeline (a second real fleet connected over TCP, the hub, a real ws viewer) and compare.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as http from 'http';
import { startSimulators } from '../../sims';
import { createFleet, Fleet } from '../../src/fleet';
import type { VehicleHandle, VehicleState } from '../../src/fleet/types';
import { FlightRecorder, readTlog } from '../../telemetry/tlog';
import { startReplay, Replay, ReplayError } from '../../telemetry/replay';
import { createTelemetryHub, TelemetryHub } from '../../telemetry/hub';
import { toFrame, TelemetryFrame } from '../../telemetry/frame';
import { waitFor, listen, connectViewer, timeless, TestViewer } from './helpers';

jest.setTimeout(120000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-replay-'));
let sims: Awaited<ReturnType<typeof startSimulators>>;
let live: Fleet;
let tlogPath = '';
let liveFrames: TelemetryFrame[] = [];
let recordedFrames = 0;

function frameOf(s: VehicleState): TelemetryFrame {
  return toFrame(s, Date.now());
}

beforeAll(async () => {
  sims = await startSimulators({ instances: 1, basePort: 0, speedup: 10 });
  live = createFleet({ stateIntervalMs: 0 });
  const recorder = new FlightRecorder({ fleet: live, dir, flushIntervalMs: 100 });
  let recording = false;
  // Start recording the moment the vehicle is discovered, before its first packet is applied.
  live.on('vehicle', (v: VehicleHandle) => {
    tlogPath = recorder.start(v.id, 'flight-1');
    recording = true;
  });
  live.on('state', (s: VehicleState) => {
    if (recording) liveFrames.push(frameOf(s));
  });
  live.addLink(sims.instances[0].uri, { id: 'sim0' });
  const v = await waitFor(() => live.vehicles()[0], 20000, 'vehicle');
  // Ready: GPS 3D fix, home, EKF good and the pre-arm check bit (SYS_STATUS health bit 28).
  await waitFor(
    () => v.state.gps && v.state.gps.fixType >= 3 && v.state.home && v.state.ekfFlags === 0x33f && ((v.state.sensorsHealth ?? 0) & (1 << 28)) !== 0,
    30000,
    'ready to arm',
  );
  expect((await v.setMode('GUIDED')).ok).toBe(true);
  const armed = await v.arm();
  expect(armed).toMatchObject({ ok: true });
  expect((await v.takeoff(8)).ok).toBe(true);
  await waitFor(() => (v.state.position?.altRelM ?? 0) > 6, 30000, 'climb');
  expect((await v.land()).ok).toBe(true);
  await waitFor(() => !v.state.armed, 60000, 'landed and disarmed');
  // Stop both in the same turn: the last live state matches the last recorded packet.
  recording = false;
  const sum = await recorder.stop(v.id);
  recordedFrames = sum!.frames;
  await recorder.close();
  await live.close();
  await sims.stop();
});

afterAll(async () => {
  await live?.close();
  await sims?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('flight recording and replay', () => {
  test('the recorded tlog is complete and readable', () => {
    const { records, error } = readTlog(tlogPath);
    expect(error).toBeUndefined();
    expect(records.length).toBe(recordedFrames);
    expect(records.length).toBeGreaterThan(100);
    expect(liveFrames.some((f) => f.armed)).toBe(true);
    expect(Math.max(...liveFrames.map((f) => f.altRelM ?? 0))).toBeGreaterThan(6);
  });

  test('a recorded flight replays to identical frames, and reaches a viewer marked replay', async () => {
    const fleet = createFleet({ stateIntervalMs: 0 });
    const hub = createTelemetryHub({ authenticate: async () => ({ username: 'supervisor', role: 'supervisor' }) });
    const server = http.createServer();
    hub.attach(server);
    const port = await listen(server);
    hub.addFleet(fleet);
    let viewer: TestViewer | undefined;
    let replay: Replay | undefined;
    try {
      viewer = await connectViewer(`ws://127.0.0.1:${port}/ws`);
      viewer.send({ type: 'subscribe', vehicles: 'all', rateHz: 20 });
      await waitFor(() => hub.viewers()[0]?.vehicles === 'all');
      const replayed: TelemetryFrame[] = [];
      fleet.on('state', (s: VehicleState) => replayed.push(frameOf(s)));
      replay = await startReplay({ tlog: tlogPath, fleet, speed: 50, id: 'r1' });
      expect(replay.linkId).toBe('replay-r1');
      expect(replay.vehicleIds()).toEqual(['replay-r1/1']);
      const ended = new Promise<void>((r) => replay!.on('end', () => r()));
      await ended;
      expect(replay.progress()).toMatchObject({ index: recordedFrames, total: recordedFrames });
      // Same sequence of states, ignoring wall-clock fields and the live link's round trip.
      expect(replayed.length).toBe(liveFrames.length);
      expect(replayed.map(timeless)).toEqual(liveFrames.map(timeless));
      expect(replayed.every((f) => f.id === 'replay-r1/1')).toBe(true);
      // The viewer ends on the same final frame, marked replay.
      const lastLive = timeless(liveFrames[liveFrames.length - 1]);
      await waitFor(() => {
        const fs = viewer!.frames().filter((f) => f.id === 'replay-r1/1');
        return fs.length > 0 && JSON.stringify(timeless(fs[fs.length - 1])) === JSON.stringify(lastLive);
      }, 10000, 'final replay frame at the viewer');
      expect(viewer.frames().filter((f) => f.id === 'replay-r1/1').every((f) => f.replay === true)).toBe(true);
    } finally {
      viewer?.ws.terminate();
      await replay?.stop();
      await hub.close();
      await fleet.close();
      await new Promise((r) => server.close(r));
    }
  });

  test('pause, step, seek, speed and stop', async () => {
    const fleet = createFleet({ stateIntervalMs: 0 });
    let frames = 0;
    fleet.on('frame', () => frames++);
    const replay = await startReplay({ tlog: fs.readFileSync(tlogPath), fleet, paused: true, id: 'ctl' });
    try {
      expect(replay.paused).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(replay.progress().index).toBe(0);
      await waitFor(() => fleet.links()[0]?.up, 10000, 'replay link up');
      replay.step(3);
      expect(replay.progress().index).toBe(3);
      await waitFor(() => frames === 3, 5000, '3 frames');
      replay.step();
      await waitFor(() => frames === 4, 5000, '4 frames');
      replay.seek(50);
      await waitFor(() => frames === 50, 5000, 'seek forward');
      expect(replay.progress().timeUs).toBe(readTlog(tlogPath).records[49].timeUs);
      expect(() => replay.setSpeed(0.5)).toThrow(expect.objectContaining({ code: 'REPLAY_INVALID_SPEED' }));
      expect(() => replay.setSpeed(51)).toThrow(ReplayError);
      expect(() => replay.seek(-1)).toThrow(expect.objectContaining({ code: 'REPLAY_INVALID_INDEX' }));
      replay.setSpeed(50);
      replay.resume();
      await waitFor(() => replay.progress().index > 60, 10000, 'playing again');
      replay.pause();
      const at = replay.progress().index;
      await new Promise((r) => setTimeout(r, 300));
      expect(replay.progress().index).toBe(at);
      replay.resume();
      await new Promise<void>((r) => replay.on('end', () => r()));
      await waitFor(() => frames === recordedFrames, 5000, 'all frames');
      // Seeking back to the start forgets what came later; playing forward decodes it again.
      const v = fleet.get(replay.vehicleIds()[0])!;
      expect(v.state.position).not.toBeNull();
      replay.seek(0);
      expect(v.state.position).toBeNull();
      expect(v.state.statusText).toEqual([]);
      expect(v.state.id).toBe(replay.vehicleIds()[0]);
      replay.seek(recordedFrames);
      await waitFor(() => v.state.position !== null, 5000, 'position decoded again');
    } finally {
      await replay.stop();
      await fleet.close();
    }
    expect(fleet.links().length).toBe(0);
  });

  test('a truncated or corrupted tlog replays what is valid and reports where it breaks', async () => {
    const full = fs.readFileSync(tlogPath);
    const { records } = readTlog(full);
    let off = 0;
    for (let i = 0; i < 120; i++) off += 8 + records[i].raw.length;
    // Truncated inside record 120; corrupted: a flipped byte inside record 120's packet.
    const truncated = full.subarray(0, off + 11);
    const corrupted = Buffer.from(full);
    corrupted[off + 8 + 11] ^= 0x5a;
    for (const bytes of [truncated, corrupted]) {
      const fleet = createFleet({ stateIntervalMs: 0 });
      let frames = 0;
      fleet.on('frame', () => frames++);
      const replay = await startReplay({ tlog: bytes, fleet, speed: 50 });
      try {
        expect(replay.total).toBe(120);
        expect(replay.tlogError!.offset).toBe(off);
        const err = new Promise<ReplayError>((r) => replay.on('error', r));
        const e = await err;
        expect(e.code).toBe('REPLAY_TLOG_BROKEN');
        expect(e.details).toEqual(replay.tlogError);
        await waitFor(() => frames === 120, 5000, '120 frames');
      } finally {
        await replay.stop();
        await fleet.close();
      }
    }
    const fleet = createFleet();
    await expect(startReplay({ tlog: Buffer.from('garbage that is not a tlog'), fleet })).rejects.toMatchObject({ code: 'REPLAY_EMPTY' });
    await expect(startReplay({ tlog: full, fleet, speed: 100 })).rejects.toMatchObject({ code: 'REPLAY_INVALID_SPEED' });
    await expect(startReplay({ tlog: full, fleet, id: '../x' })).rejects.toMatchObject({ code: 'REPLAY_INVALID_ID' });
    const first = await startReplay({ tlog: full, fleet, id: 'twice', paused: true });
    await expect(startReplay({ tlog: full, fleet, id: 'twice' })).rejects.toMatchObject({ code: 'DUPLICATE_LINK' });
    await first.stop();
    await fleet.close();
  });
});
