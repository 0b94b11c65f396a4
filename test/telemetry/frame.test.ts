import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { toFrame, telemetryFrameJsonSchema, FRAME_VERSION, isReplayLinkId } from '../../telemetry/frame';
import { makeState } from './helpers';

const schemaFile = path.join(__dirname, '../../telemetry/frame.schema.json');
const validator = z.fromJSONSchema(telemetryFrameJsonSchema as never);

describe('telemetry frame', () => {
  test('frame.schema.json is the exported schema (REGEN=1 rewrites it)', () => {
    const text = JSON.stringify(telemetryFrameJsonSchema, null, 2) + '\n';
    if (process.env.REGEN === '1') fs.writeFileSync(schemaFile, text);
    expect(fs.readFileSync(schemaFile, 'utf8')).toBe(text);
  });

  test('a full state gives a frame valid under the schema, rounded to display precision', () => {
    const s = makeState();
    const f = toFrame(s, s.lastSeenMs + 250);
    expect(validator.safeParse(f).success).toBe(true);
    expect(f).toEqual({
      v: FRAME_VERSION, id: 'sim0/1', t: s.lastSeenMs, seq: 42, lat: 34.0612346, lon: 114.3912346, altRelM: 0.12, altAmslM: 120.46,
      headingDeg: 0, groundSpeedMps: 0, climbMps: 0, rollDeg: 0, pitchDeg: -1.3, mode: 'GUIDED', armed: false, landed: 1,
      batteryPct: 87, voltageV: 12.59, gpsFix: 3, satellites: 10, mission: { current: 1, total: 5 }, link: { lossPct: 2.33, rttMs: 3.5 },
      stale: false, staleAfterMs: 3000, ageMs: 250, autopilot: 'ardupilot',
    });
  });

  test('an empty state (nothing received yet) still gives a valid frame with nulls', () => {
    const s = makeState({ position: null, attitude: null, battery: null, gps: null, link: { packets: 0, lost: 0, lossPct: 0, rttMs: null } });
    const f = toFrame(s, s.lastSeenMs);
    expect(validator.safeParse(f).success).toBe(true);
    expect([f.lat, f.lon, f.altRelM, f.altAmslM, f.rollDeg, f.pitchDeg, f.batteryPct, f.voltageV, f.gpsFix, f.satellites, f.link.rttMs]).toEqual(
      new Array(11).fill(null),
    );
  });

  test('battery -1 (unknown) and NaN numbers never leak into a frame', () => {
    const s = makeState({ battery: { voltageV: NaN, currentA: -1, remainingPct: -1, consumedMah: -1 }, headingDeg: NaN, groundSpeedMps: Infinity });
    const f = toFrame(s, s.lastSeenMs);
    expect(f.batteryPct).toBeNull();
    expect(f.voltageV).toBeNull();
    expect(f.headingDeg).toBe(0);
    expect(f.groundSpeedMps).toBe(0);
    expect(validator.safeParse(f).success).toBe(true);
    expect(JSON.stringify(f)).not.toMatch(/NaN|Infinity/);
  });

  test('staleness: by age (default 3000 ms, configurable) and when disconnected', () => {
    const s = makeState();
    expect(toFrame(s, s.lastSeenMs + 3000).stale).toBe(false);
    expect(toFrame(s, s.lastSeenMs + 3001).stale).toBe(true);
    expect(toFrame(s, s.lastSeenMs + 600, { staleAfterMs: 500 }).stale).toBe(true);
    expect(toFrame(makeState({ connected: false }), s.lastSeenMs).stale).toBe(true);
    expect(toFrame(s, s.lastSeenMs - 50).ageMs).toBe(0);
  });

  test('replay marking and purity', () => {
    const s = makeState();
    const before = JSON.stringify(s);
    expect(toFrame(s, s.lastSeenMs).replay).toBeUndefined();
    const f = toFrame(s, s.lastSeenMs, { replay: true });
    expect(f.replay).toBe(true);
    expect(validator.safeParse(f).success).toBe(true);
    expect(JSON.stringify(s)).toBe(before);
    expect(toFrame(s, s.lastSeenMs)).toEqual(toFrame(s, s.lastSeenMs));
    expect(isReplayLinkId('replay-abc')).toBe(true);
    expect(isReplayLinkId('sim0')).toBe(false);
  });

  test('the schema rejects malformed frames', () => {
    const f = toFrame(makeState(), 0);
    expect(validator.safeParse({ ...f, v: 2 }).success).toBe(false);
    expect(validator.safeParse({ ...f, lat: 91 }).success).toBe(false);
    expect(validator.safeParse({ ...f, extra: 1 }).success).toBe(false);
    expect(validator.safeParse({ ...f, gpsFix: 2.5 }).success).toBe(false);
    const { mode, ...noMode } = f;
    void mode;
    expect(validator.safeParse(noMode).success).toBe(false);
  });
});
