/**
 * The pieces the scaled benchmark (bench/scale.bench.ts) runs each setup with: processes started as
 * the continuity tests start them (test/agent/support: `npx tsx` in a process group of their own,
 * killed with SIGKILL), CPU windows over those process groups, the operator's command loop, the
 * take-over vehicle (one built-in simulator behind a heartbeat tap), and a flight dispatched on it.
 */
import type { ChildProcess } from 'child_process';
import os from 'os';
import { performance } from 'perf_hooks';
import { startSimulators, type SimFleet } from '../sims';
import { DELIVERY_READY_SIM_PARAMS } from '../src/service';
import { SESSION_COOKIE } from '../src/server/api-kit';
import { Client, waitFor, vehicleReady } from '../test/service/support/client';
import { kill9, serviceLine, spawnChild } from '../test/agent/support/processes';
import { startHeartbeatTap, type HeartbeatTap } from './heartbeat-tap';
import { groupsCpuMs, machineBusyPct, machineCpu, namedCpuMs } from './proc-cpu';
import type { ViewerTarget } from './scale-world';

export const DROP: [number, number] = [114.3935, 34.0515];
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (s: string) => process.stderr.write(`  scale ${new Date().toISOString().slice(11, 19)} ${s}\n`);
export const loadAvg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

/** A product process of the bench: a link agent, a service node, or the single embedded process. */
export interface Proc {
  name: string;
  child: ChildProcess;
  /** The service's URL (nodes and the single process). */
  url?: string;
  env?: Record<string, string>;
}

/** Every process the bench started, killed at the end whatever happened. */
export class Children {
  readonly list: ChildProcess[] = [];

  async service(name: string, env: Record<string, string>): Promise<Proc> {
    const r = await spawnChild(this.list, 'test/agent/support/service-main.ts', [], env, serviceLine);
    return { name, child: r.child, url: r.line.url, env };
  }

  async agent(name: string, args: string[]): Promise<Proc> {
    const r = await spawnChild(this.list, 'test/agent/support/agent-main.ts', args, {}, (l) => l.startsWith('dropline agent:'));
    return { name, child: r.child };
  }

  async killAll(): Promise<void> {
    await Promise.all(this.list.map((c) => kill9(c).catch(() => undefined)));
  }
}

export interface CpuWindow {
  /** Percent of one core, by process name. */
  pct: Record<string, number>;
  /** nats-server's CPU (every process of that name on this machine), percent of one core. */
  natsPct: number;
  /** The whole machine's busy share, percent of all cores. */
  busyPct: number;
  wallMs: number;
  loadAvg: string;
}

/** CPU of `procs` (each its whole process group) while `body` runs. */
export async function cpuWindow<T>(procs: Proc[], body: () => Promise<T>): Promise<{ cpu: CpuWindow; result: T }> {
  const pg = procs.map((p) => p.child.pid!);
  const m0 = machineCpu();
  const n0 = namedCpuMs('nats-server');
  const g0 = groupsCpuMs(pg);
  const t0 = performance.now();
  const result = await body();
  const wallMs = performance.now() - t0;
  const g1 = groupsCpuMs(pg);
  const n1 = namedCpuMs('nats-server');
  const m1 = machineCpu();
  const pct: Record<string, number> = {};
  procs.forEach((p, i) => (pct[p.name] = ((g1.get(pg[i])! - g0.get(pg[i])!) / wallMs) * 100));
  return { cpu: { pct, natsPct: ((n1 - n0) / wallMs) * 100, busyPct: machineBusyPct(m0, m1), wallMs, loadAvg: loadAvg() }, result };
}

/** Viewers of one service: `n` WebSocket clients sharing `sessions` logins (a user's console tabs share its cookie). */
export async function viewerTargets(url: string, n: number, sessions: number, group: string): Promise<ViewerTarget[]> {
  const cookies: string[] = [];
  for (let i = 0; i < Math.min(sessions, n); i++) cookies.push(`${SESSION_COOKIE}=${(await new Client(url).login('supervisor')).token}`);
  const ws = url.replace(/^http/, 'ws') + '/ws';
  return Array.from({ length: n }, (_x, i) => ({ url: ws, cookie: cookies[i % cookies.length], origin: url, group }));
}

/** Waits until the service shows `n` connected vehicles whose ids `isBench` accepts. */
export async function vehiclesConnected(c: Client, n: number, isBench: (id: string) => boolean, what: string): Promise<void> {
  await waitFor(
    async () => {
      const r = await c.get('/api/vehicles');
      return r.status === 200 && r.body.filter((v: any) => v.connected && isBench(v.id)).length >= n;
    },
    180_000,
    `${n} vehicles on ${what}`,
    1000,
  );
}

export interface CommandStats {
  p50: number;
  p99: number;
  max: number;
  ok: number;
  failed: Record<string, number>;
}

const quantile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN);

/**
 * The operator's commands until `untilMs` (performance.now()): `hold` (an operator may always stop a
 * vehicle) to one vehicle after the other, one every `everyMs`; each timed from the request to the
 * API's answer, which comes once the vehicle's COMMAND_ACK is back.
 */
export async function commandLoop(op: Client, idOf: (i: number) => string, count: number, everyMs: number, untilMs: number): Promise<CommandStats> {
  const times: number[] = [];
  const failed: Record<string, number> = {};
  for (let i = 0; performance.now() < untilMs; i++) {
    const t0 = performance.now();
    let key: string | null = null;
    try {
      const r = await op.post(`/api/vehicles/${encodeURIComponent(idOf(i % count))}/commands`, { action: 'hold' });
      if (!(r.status === 200 && r.body?.ok === true)) key = `${r.status} ${r.body?.code ?? ''}`.trim();
    } catch (e) {
      key = (e as Error).message;
    }
    const dt = performance.now() - t0;
    if (key === null) times.push(dt);
    else failed[key] = (failed[key] ?? 0) + 1;
    await sleep(Math.max(0, everyMs - dt));
  }
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: times[times.length - 1] ?? NaN, ok: times.length, failed };
}

/** The take-over vehicle: one built-in simulator (the shipped GCS failsafe: on, 5 s, RTL) behind a closed tap. */
export async function startTakeoverVehicle(speedup: number): Promise<{ sims: SimFleet; tap: HeartbeatTap; stop(): Promise<void> }> {
  const sims = await startSimulators({
    instances: 1,
    basePort: 0,
    speedup,
    homes: [{ lat: 34.06, lon: 114.39, altAmslM: 100 }],
    params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5, FS_OPTIONS: 0 },
  });
  const tap = await startHeartbeatTap(sims.instances[0].uri);
  return {
    sims,
    tap,
    stop: async () => {
      await tap.close().catch(() => undefined);
      await sims.stop().catch(() => undefined);
    },
  };
}

/** A delivery created and dispatched to `vehicleId` once it is ready, flying: its id. */
export async function dispatchAndFly(op: Client, watcher: Client, vehicleId: string): Promise<string> {
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${encodeURIComponent(vehicleId)}`)).body), 180_000, `${vehicleId} ready`, 500);
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin', massKg: 0.4 } });
  if (created.status !== 201) throw new Error(`delivery not created: ${created.status} ${JSON.stringify(created.body)}`);
  const id: string = created.body.id;
  const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId });
  if (disp.status !== 202) throw new Error(`dispatch refused: ${disp.status} ${JSON.stringify(disp.body)}`);
  await waitFor(async () => {
    const d = (await watcher.get(`/api/deliveries/${id}`)).body;
    if (['failed', 'aborted', 'completed'].includes(d?.state)) throw new Error(`delivery ${id} ended before the kill: ${d.state} ${JSON.stringify(d.failure ?? '')}`);
    return d?.state === 'in-flight';
  }, 240_000, `delivery ${id} in flight`, 250);
  return id;
}

/** When the job's tracker was resumed (its `tracking-resumed` entry), epoch ms, as `c` reads it. */
export async function trackingResumedAt(c: Client, id: string, afterMs: number): Promise<number> {
  const e = await waitFor(
    async () => {
      const r = await c.get(`/api/deliveries/${id}`).catch(() => null);
      return r?.status === 200 ? r.body.timeline.find((x: any) => x.event === 'tracking-resumed' && Date.parse(x.at) >= afterMs - 1000) : null;
    },
    120_000,
    `tracking of ${id} resumed`,
    100,
  );
  return Date.parse(e.at);
}

export interface Takeover {
  /** Kill → `tracking-resumed`, ms. */
  ms: number;
  /** Largest gap between ground heartbeats at the vehicle from 5 s before the kill to 5 s after the resumption, ms. */
  gapMs: number;
  /** Median gap in the 10 s before the kill (the nominal period), ms. */
  periodMs: number;
  /** "GCS Failsafe…" texts the vehicle sent after the kill. */
  failsafe: string[];
}

/** The take-over figures from the tap's records around a kill at `tKill` resumed at `resumed` (epoch ms). */
export async function takeoverFigures(tap: HeartbeatTap, tKill: number, resumed: number): Promise<Takeover> {
  await sleep(5000);
  const hb = (await tap.heartbeats()).sort((a, b) => a - b);
  const gaps = (from: number, to: number) => {
    const out: number[] = [];
    for (let i = 1; i < hb.length; i++) if (hb[i] >= from && hb[i - 1] <= to) out.push(hb[i] - hb[i - 1]);
    return out;
  };
  const around = gaps(tKill - 5000, resumed + 5000);
  // Heartbeats that have not come back by the end of the window: that gap so far.
  const last = hb.filter((t) => t <= resumed + 5000).pop();
  if (last !== undefined && last < resumed + 5000) around.push(resumed + 5000 - last);
  const before = gaps(tKill - 10_000, tKill).sort((a, b) => a - b);
  const texts = (await tap.texts()).filter((x) => x.t >= tKill && /GCS Failsafe/.test(x.text)).map((x) => x.text);
  return { ms: resumed - tKill, gapMs: around.length ? Math.max(...around) : NaN, periodMs: quantile(before, 0.5), failsafe: texts };
}
