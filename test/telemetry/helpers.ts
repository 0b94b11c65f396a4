/** Shared helpers for telemetry tests: vehicle states, ws viewers, waiting on conditions. */
import * as http from 'http';
import WebSocket from 'ws';
import type { VehicleState } from '../../src/fleet/types';

export function makeState(over: Partial<VehicleState> = {}): VehicleState {
  return {
    id: 'sim0/1', linkId: 'sim0', sysid: 1, compid: 1, autopilot: 'ardupilot', vehicleType: 2, connected: true,
    lastSeenMs: Date.UTC(2026, 0, 1), armed: false, mode: 'GUIDED', customMode: 4, baseMode: 89, systemStatus: 3, landedState: 1,
    position: { lat: 34.0612345678, lon: 114.3912345678, altAmslM: 120.456, altRelM: 0.123 },
    groundSpeedMps: 0.004, climbMps: -0.001, headingDeg: 359.96, attitude: { rollDeg: 0.04, pitchDeg: -1.26, yawDeg: 359.96 },
    battery: { voltageV: 12.591, currentA: 0.5, remainingPct: 87, consumedMah: 12 }, gps: { fixType: 3, satellites: 10, hdop: 0.8 },
    ekfFlags: 0x33f, sensorsHealth: 0, sensorsPresent: 0, home: null, mission: { current: 1, total: 5, reached: [] },
    fence: null, servos: [], statusText: [], link: { packets: 42, lost: 1, lossPct: 2.33, rttMs: 3.456 },
    ...over,
  };
}

export async function waitFor<T>(fn: () => T | undefined | null | false, timeoutMs = 20000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/** A WebSocket viewer that records every message it receives. */
export interface TestViewer {
  ws: WebSocket;
  messages: Array<{ at: number; msg: any }>;
  closed: Promise<{ code: number; reason: string }>;
  frames(): any[];
  send(obj: unknown): void;
}

export function connectViewer(url: string, headers: Record<string, string> = {}): Promise<TestViewer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const messages: Array<{ at: number; msg: any }> = [];
    const closed = new Promise<{ code: number; reason: string }>((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.on('message', (d) => messages.push({ at: Date.now(), msg: JSON.parse(d.toString()) }));
    ws.once('open', () =>
      resolve({
        ws, messages, closed,
        frames: () => messages.filter((m) => m.msg.type === 'frames').flatMap((m) => m.msg.frames),
        send: (o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o)),
      }),
    );
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode, res })));
    ws.once('error', reject);
  });
}

/** Strip the fields that depend on the wall clock, on the live link's round trip or on its cadence. */
export function timeless(f: any): any {
  const { t, ageMs, stale, staleAfterMs, link, replay, id, ...rest } = f;
  void t; void ageMs; void stale; void staleAfterMs; void replay; void id;
  return { ...rest, link: { lossPct: link.lossPct } };
}
