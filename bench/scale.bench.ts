/**
 * Continuity and scale: 200 vehicles at 10 Hz behind 4 link agents, 2 service nodes on PostgreSQL
 * and NATS JetStream, 200 console viewers (100 on each node); the baseline is the embedded single
 * process (`--link` to the same vehicles, SQLite, no bus) with the same vehicles and viewers, measured
 * in the same run. Skipped, with the reason, when NATS JetStream or PostgreSQL is not reachable
 * (NATS_URL / PG_URL, default the machine's shared ones; a subject root and a schema of its own).
 *
 * Processes, each its own (test/agent/support, as the continuity tests start them):
 *   world   (bench/scale-world.ts) lightweight MAVLink vehicles (bench/light-vehicles.ts) and the
 *           WebSocket viewers (in worker threads of their own), on one clock (CLOCK_MONOTONIC):
 *           latency = viewer receive − vehicle write;
 *   agents  `dropline agent --link … --bus … --site sN`, the vehicles split between them;
 *   nodes   the service with --bus and --store (node A started first, then B);
 *   single  the service with every vehicle as its own --link (the baseline);
 *   this    the operator's commands over the API, CPU from /proc, and the take-over vehicle: one
 *           built-in simulator behind a tap (bench/heartbeat-tap.ts) that records the ground
 *           heartbeats the vehicle receives, held closed until the take-over (so it costs nothing
 *           while the other figures are measured).
 *
 * Each setup, in turn (single first, then the cluster):
 *   1. vehicles only: CPU window (BENCH_SCALE_IDLE_SECONDS) → CPU per vehicle;
 *   2. viewers connect (logged in as the console is: session cookie, Origin, the console's
 *      subscription: every vehicle at 10 Hz, deliveries, alerts), 3 s warm-up, then the measured
 *      window (BENCH_SCALE_SECONDS): telemetry latency p50/p99 over every new position every viewer
 *      shows; CPU (the viewers' share: this window minus window 1, per viewer); an operator's `hold`
 *      command every BENCH_SCALE_COMMAND_MS to one vehicle after the other (on node B), timed to the
 *      API's answer, which waits for the vehicle's COMMAND_ACK (each command is audited before it
 *      leaves);
 *   3. the same viewers subscribe again at 20 Hz (the hub's highest rate, above the vehicles' 10 Hz,
 *      so no frame waits for the viewer's rate), 2 s settling, a window of half the length (at
 *      least 5 s): the latency of the path itself, without the console's pacing;
 *   4. take-over: the simulator's tap opens, a delivery is dispatched to it (on node A), and once it
 *      is in flight the process running it is killed with SIGKILL. Cluster: node B takes the job
 *      over; single: the process is started again (as a supervisor would) and resumes it. Figures:
 *      kill → `tracking-resumed` on the job's timeline, and the largest gap between GCS heartbeats
 *      at the vehicle (the agent keeps sending them; the single process cannot while it is down),
 *      with any "GCS Failsafe" the vehicle reported.
 *
 * Knobs: BENCH_SCALE_VEHICLES (200), BENCH_SCALE_VIEWERS (200), BENCH_SCALE_AGENTS (4),
 * BENCH_SCALE_SECONDS (20), BENCH_SCALE_IDLE_SECONDS (half of it, at least 5),
 * BENCH_SCALE_SESSIONS (4 logins per service, shared by its viewers as a user's tabs share a cookie:
 * each login is a deliberately slow scrypt), BENCH_SCALE_COMMAND_MS (200),
 * BENCH_SCALE_SIM_SPEEDUP (1: the failsafe's 5 s are wall seconds), BENCH_SCALE_TAKEOVER (1; 0 skips),
 * BENCH_SCALE_VIEWER_THREADS (the world's worker threads the viewers are spread over; 0 keeps
 * them on its main thread with the vehicles; default 2 on more than 2 cores, else 0).
 */
import { randomBytes } from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { performance } from 'perf_hooks';
import type { BenchRecord } from './types';
import { openBus, Subjects, type Bus } from '../src/bus';
import { Client } from '../test/service/support/client';
import { kill9 } from '../test/agent/support/processes';
import { natsProblem, NATS_URL } from '../test/support/nats';
import { freshSchema, pgProblem, PG_URL, type TestSchema } from '../test/support/postgres';
import { CONSOLE_SUBSCRIPTION, World, type WorldMeasure } from './scale-world';
import {
  Children, commandLoop, cpuWindow, dispatchAndFly, loadAvg, log, sleep, startTakeoverVehicle, takeoverFigures, trackingResumedAt, vehiclesConnected, viewerTargets,
  type CommandStats, type CpuWindow, type Proc, type Takeover,
} from './scale-rig';

const num = (name: string, dflt: number) => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : dflt);
const VEHICLES = num('BENCH_SCALE_VEHICLES', 200);
const VIEWERS = num('BENCH_SCALE_VIEWERS', 200);
const AGENTS = num('BENCH_SCALE_AGENTS', 4);
const SECONDS = num('BENCH_SCALE_SECONDS', 20);
const IDLE_SECONDS = num('BENCH_SCALE_IDLE_SECONDS', Math.max(5, SECONDS / 2));
const SESSIONS = num('BENCH_SCALE_SESSIONS', 4);
const COMMAND_MS = num('BENCH_SCALE_COMMAND_MS', 200);
const SIM_SPEEDUP = num('BENCH_SCALE_SIM_SPEEDUP', 1);
const TAKEOVER = process.env.BENCH_SCALE_TAKEOVER !== '0';
const WARMUP_MS = 3000;
const SETTLE_MS = 15_000;
/** Window 3: the viewers at the hub's highest rate, above the vehicles' 10 Hz, so that no frame waits for its turn. */
const UNPACED_HZ = 20;
const UNPACED_SECONDS = Math.max(5, SECONDS / 2);

interface Setup {
  /** Window 1: vehicles only. */
  idle: CpuWindow;
  /** Window 2: vehicles, viewers and commands. */
  load: CpuWindow;
  world: WorldMeasure;
  /** Window 3: viewers at UNPACED_HZ, no commands. */
  unpaced: WorldMeasure;
  unpacedCpu: CpuWindow;
  commands: CommandStats;
  /** COMMAND_ACKs the vehicles sent during window 2 (the commands' and any the services asked for). */
  acks: number;
  takeover: Takeover | { error: string } | null;
  /** Viewers per service process, by its name. */
  viewersOn: Record<string, number>;
}

/** Windows 1, 2 and 3 on an already running setup. */
async function measure(world: World, procs: Proc[], viewerProcs: Proc[], op: Client, idOf: (i: number) => string): Promise<Omit<Setup, 'takeover'>> {
  // The start's own work (stream requests to every vehicle, compilation) settles first (about 20 s after an agent starts).
  await sleep(SETTLE_MS);
  log(`window 1 (vehicles only, ${IDLE_SECONDS} s), load average ${loadAvg()}`);
  const idle = (await cpuWindow(procs, () => sleep(IDLE_SECONDS * 1000))).cpu;
  const viewersOn: Record<string, number> = {};
  const targets = [];
  for (const [i, p] of viewerProcs.entries()) {
    const n = Math.floor(VIEWERS / viewerProcs.length) + (i < VIEWERS % viewerProcs.length ? 1 : 0);
    viewersOn[p.name] = n;
    targets.push(...(await viewerTargets(p.url!, n, SESSIONS, p.name)));
  }
  const opened = await world.viewers(targets);
  if (opened < targets.length) throw new Error(`only ${opened} of ${targets.length} viewers connected`);
  log(`${opened} viewers connected; warm-up`);
  await sleep(WARMUP_MS);
  log(`window 2 (viewers and commands, ${SECONDS} s), load average ${loadAvg()}`);
  const acks0 = (await world.acks()).reduce((a, b) => a + b, 0);
  await world.measureStart();
  const { cpu: load, result: commands } = await cpuWindow(procs, () => commandLoop(op, idOf, VEHICLES, COMMAND_MS, performance.now() + SECONDS * 1000));
  const m = await world.measureStop();
  const acks = (await world.acks()).reduce((a, b) => a + b, 0) - acks0;
  log(`latency p50 ${m.all.p50.toFixed(1)} p99 ${m.all.p99.toFixed(1)} max ${m.all.max.toFixed(1)} ms (${m.frames} of ${m.sent * m.viewers} positions shown); commands p50 ${commands.p50.toFixed(1)} p99 ${commands.p99.toFixed(1)} ms, ${commands.ok} ok ${JSON.stringify(commands.failed)}`);
  log(`cpu idle ${JSON.stringify(round(idle.pct))} load ${JSON.stringify(round(load.pct))} world ${m.cpuPct.toFixed(0)}% (loop delay p99 ${m.loopDelayByThread.map((l) => l.p99.toFixed(1)).join(' / ')} ms: vehicles${m.viewerThreads ? ' / viewer threads' : ' and viewers'}) nats ${load.natsPct.toFixed(0)}% machine ${load.busyPct.toFixed(0)}%`);
  log(`window 3 (viewers at ${UNPACED_HZ} Hz, ${UNPACED_SECONDS} s)`);
  await world.subscribe(UNPACED_HZ);
  await sleep(2000);
  await world.measureStart();
  const unpacedCpu = (await cpuWindow(procs, () => sleep(UNPACED_SECONDS * 1000))).cpu;
  const unpaced = await world.measureStop();
  log(`latency at ${UNPACED_HZ} Hz p50 ${unpaced.all.p50.toFixed(1)} p99 ${unpaced.all.p99.toFixed(1)} max ${unpaced.all.max.toFixed(1)} ms (${unpaced.frames} of ${unpaced.sent * unpaced.viewers}); cpu ${JSON.stringify(round(unpacedCpu.pct))} world ${unpaced.cpuPct.toFixed(0)}% machine ${unpacedCpu.busyPct.toFixed(0)}%`);
  return { idle, load, world: m, unpaced, unpacedCpu, commands, acks, viewersOn };
}

const round = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 10) / 10]));

async function single(world: World, uris: string[], children: Children): Promise<Setup> {
  const tv = await startTakeoverVehicle(SIM_SPEEDUP);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-bench-single-'));
  try {
    const links = [...uris.map((u, i) => `${u}?id=v${i}`), `${tv.tap.uri}?id=sim`];
    const env = { DL_DATA_DIR: dir, DL_LINKS: links.join(','), DL_LOG_LEVEL: 'warn' };
    log('single process: starting');
    const proc = await children.service('single', env);
    const op = await new Client(proc.url!).login('operator');
    await vehiclesConnected(op, VEHICLES, (id) => /^v\d+\/1$/.test(id), 'the single process');
    const r = await measure(world, [proc], [proc], op, (i) => `v${i}/1`);
    let takeover: Setup['takeover'] = null;
    if (TAKEOVER) {
      try {
        await tv.tap.open();
        log('take-over vehicle linked; dispatching');
        const id = await dispatchAndFly(op, op, 'sim/1');
        const tKill = Date.now();
        await kill9(proc.child);
        log('single process killed; starting it again');
        const again = await children.service('single', env);
        const c = new Client(again.url!);
        c.token = op.token; // the session is in the store
        const resumed = await trackingResumedAt(c, id, tKill);
        takeover = await takeoverFigures(tv.tap, tKill, resumed);
        log(`single restart: resumed ${takeover.ms} ms after the kill; heartbeat gap ${takeover.gapMs.toFixed(0)} ms; failsafe ${JSON.stringify(takeover.failsafe)}`);
      } catch (e) {
        takeover = { error: (e as Error).message };
        log(`single restart failed: ${(e as Error).message}`);
      }
    }
    return { ...r, takeover };
  } finally {
    await world.closeViewers().catch(() => undefined);
    await children.killAll();
    await tv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function cluster(world: World, uris: string[], children: Children): Promise<Setup> {
  const root = `dlbench${randomBytes(4).toString('hex')}`;
  const subjects = new Subjects(root);
  let schema: TestSchema | null = null;
  let bus: Bus | null = null;
  const tv = await startTakeoverVehicle(SIM_SPEEDUP);
  const dirs: string[] = [];
  const agentOf = (i: number) => i % AGENTS;
  try {
    schema = freshSchema();
    bus = await openBus(NATS_URL);
    log(`cluster: ${AGENTS} agents`);
    const agents = await Promise.all(
      Array.from({ length: AGENTS }, (_x, a) => {
        const links = uris.flatMap((u, i) => (agentOf(i) === a ? ['--link', `${u}?id=v${i}`] : []));
        if (a === 0) links.push('--link', `${tv.tap.uri}?id=sim`);
        return children.agent(`agent${a}`, [...links, '--bus', NATS_URL, '--site', `s${a}`, '--bus-prefix', root, '--heartbeat-hz', String(Math.max(2, 2 * SIM_SPEEDUP)), '--log-level', 'warn']);
      }),
    );
    const node = async (name: string) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-bench-node-'));
      dirs.push(dir);
      return children.service(name, { DL_DATA_DIR: dir, DL_STORE: schema!.url, DL_BUS: NATS_URL, DL_BUS_PREFIX: root, DL_LOG_LEVEL: 'warn' });
    };
    log('cluster: nodes A and B');
    const a = await node('nodeA'); // first: it creates the schema and the users
    const b = await node('nodeB');
    const opA = await new Client(a.url!).login('operator');
    const opB = await new Client(b.url!).login('operator');
    const isBench = (id: string) => /^s\d+\.v\d+-1\/1$/.test(id);
    await vehiclesConnected(opA, VEHICLES, isBench, 'node A');
    await vehiclesConnected(opB, VEHICLES, isBench, 'node B');
    const r = await measure(world, [...agents, a, b], [a, b], opB, (i) => `s${agentOf(i)}.v${i}-1/1`);
    let takeover: Setup['takeover'] = null;
    if (TAKEOVER) {
      try {
        await tv.tap.open();
        log('take-over vehicle linked; dispatching on node A');
        const id = await dispatchAndFly(opA, opB, 's0.sim-1/1');
        const tKill = Date.now();
        await kill9(a.child);
        log('node A killed');
        const resumed = await trackingResumedAt(opB, id, tKill);
        takeover = await takeoverFigures(tv.tap, tKill, resumed);
        log(`node B took over ${takeover.ms} ms after the kill; heartbeat gap ${takeover.gapMs.toFixed(0)} ms; failsafe ${JSON.stringify(takeover.failsafe)}`);
      } catch (e) {
        takeover = { error: (e as Error).message };
        log(`take-over failed: ${(e as Error).message}`);
      }
    }
    return { ...r, takeover };
  } finally {
    await world.closeViewers().catch(() => undefined);
    await children.killAll();
    await tv.stop();
    await bus?.removeRecording(subjects.tlogStream).catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await schema?.drop().catch((e) => log(`schema ${schema!.schema} not dropped: ${(e as Error).message}`));
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** What the machine did before the bench started (other work on it). */
let machineBefore = '';

const sum = (o: Record<string, number>, pick: (k: string) => boolean) => Object.entries(o).reduce((s, [k, v]) => (pick(k) ? s + v : s), 0);

function records(s: Setup, c: Setup): BenchRecord[] {
  const setup = `${VEHICLES} lightweight vehicles × 10 Hz (bench/light-vehicles.ts), ${VIEWERS} viewers (console login and subscription; ${SESSIONS} sessions per service), ${SECONDS} s window after ${WARMUP_MS / 1000} s warm-up; cluster: ${AGENTS} agents, 2 nodes, PostgreSQL ${new URL(PG_URL).host}, NATS ${new URL(NATS_URL).host}; ${machineBefore}`;
  const base = 'single process (--link, SQLite, no bus), same load';
  const rec = (name: string, unit: string, value: number, baseline: number, note: string, baselineName = base): BenchRecord => ({ name, value, unit, baseline, ratio: value / baseline, baselineName, note });
  const lat = (m: WorldMeasure) => `p50 ${m.all.p50.toFixed(1)} p99 ${m.all.p99.toFixed(1)} max ${m.all.max.toFixed(0)} ms, ${m.frames} of the ${m.sent * m.viewers} positions written in the window shown, ${m.viewersClosed} viewers dropped, world process ${m.cpuPct.toFixed(0)}% cpu (viewers in ${m.viewerThreads || 'no'} threads of their own), event-loop delay of its worst thread p50 ${m.loopDelayP50.toFixed(1)} p99 ${m.loopDelayP99.toFixed(1)} ms`;
  const byNode = Object.entries(c.world.byGroup).map(([g, l]) => `${g} p50 ${l.p50.toFixed(1)} p99 ${l.p99.toFixed(1)}`).join(', ');
  const cmd = (x: CommandStats) => `p50 ${x.p50.toFixed(1)} p99 ${x.p99.toFixed(1)} max ${x.max.toFixed(0)} ms, ${x.ok} ok, failed ${JSON.stringify(x.failed)}`;
  const load = (x: Setup) => `load average ${x.load.loadAvg}, machine busy ${x.load.busyPct.toFixed(0)}% of ${os.cpus().length} cores, nats-server ${x.load.natsPct.toFixed(0)}%`;
  const isAgent = (k: string) => k.startsWith('agent');
  const isNode = (k: string) => k.startsWith('node');
  const agentIdle = sum(c.idle.pct, isAgent);
  const nodeIdle = sum(c.idle.pct, isNode);
  const perViewerNode = (sum(c.load.pct, isNode) - nodeIdle) / VIEWERS;
  const perViewerSingle = (s.load.pct.single - s.idle.pct.single) / VIEWERS;
  const out: BenchRecord[] = [
    rec('scale.latency.p50', 'ms', c.world.all.p50, s.world.all.p50, `vehicle write → viewer receive (through the agent and the bus, or the single process), every new position each viewer shows. ${setup}. cluster ${lat(c.world)} (${byNode}); single ${lat(s.world)}; ${load(c)}`),
    rec('scale.latency.p99', 'ms', c.world.all.p99, s.world.all.p99, `goal ≤ 50 ms. viewers subscribed as the console is (${CONSOLE_SUBSCRIPTION.rateHz} Hz per vehicle). single: ${load(s)}`),
    rec('scale.latency.unpaced.p50', 'ms', c.unpaced.all.p50, s.unpaced.all.p50, `window 3: the same viewers subscribed at ${UNPACED_HZ} Hz (above the vehicles' 10 Hz: no frame waits for the viewer's rate), ${UNPACED_SECONDS} s, no commands. cluster ${lat(c.unpaced)}; single ${lat(s.unpaced)}; machine busy ${c.unpacedCpu.busyPct.toFixed(0)}% / ${s.unpacedCpu.busyPct.toFixed(0)}%`),
    rec('scale.latency.unpaced.p99', 'ms', c.unpaced.all.p99, s.unpaced.all.p99, `cpu in window 3: cluster ${JSON.stringify(round(c.unpacedCpu.pct))}, single ${JSON.stringify(round(s.unpacedCpu.pct))}`),
    rec('scale.command.p50', 'ms', c.commands.p50, s.commands.p50, `operator's hold over the API on node B to vehicles behind agents, answered after the vehicle's COMMAND_ACK (audited first), one every ${COMMAND_MS} ms during the window. cluster ${cmd(c.commands)}, ${c.acks} ACKs; single ${cmd(s.commands)}, ${s.acks} ACKs`),
    rec('scale.command.p99', 'ms', c.commands.p99, s.commands.p99, 'goal ≤ 100 ms'),
    rec('scale.cpu.agent-per-vehicle', '%cpu', agentIdle / VEHICLES, s.idle.pct.single / VEHICLES, `percent of one core per vehicle, window 1 (vehicles, no viewers): agents ${JSON.stringify(round(c.idle.pct))} vs the single process (which also plans, tracks, serves); both nodes on top decode every vehicle: ${nodeIdle.toFixed(0)}% together, cluster per vehicle ${((agentIdle + nodeIdle) / VEHICLES).toFixed(3)}%; ${c.idle.loadAvg}`),
    rec('scale.cpu.node-per-viewer', '%cpu', perViewerNode, perViewerSingle, `percent of one core per viewer: (window 2 − window 1) of the nodes / viewers (${JSON.stringify(c.viewersOn)}), commands included; window 2 ${JSON.stringify(round(c.load.pct))}; single ${s.idle.pct.single.toFixed(0)}% → ${s.load.pct.single.toFixed(0)}%`),
    rec('scale.cpu.total', '%cpu', sum(c.load.pct, () => true), s.load.pct.single, `window 2, every product process (agents and nodes; NATS and PostgreSQL not counted: nats-server ${c.load.natsPct.toFixed(0)}% in the cluster, ${s.load.natsPct.toFixed(0)}% in the single run)`),
  ];
  const t = (x: Setup['takeover']) => (x && 'ms' in x ? x : null);
  const ct = t(c.takeover);
  const st = t(s.takeover);
  const why = (x: Setup['takeover']) => (x === null ? 'not run' : 'error' in x ? `failed: ${x.error}` : '');
  if (c.takeover || s.takeover) {
    const restart = 'single process killed and started again (npx tsx, as the tests start it), resuming from SQLite';
    out.push(
      rec('scale.takeover.time', 'ms', ct?.ms ?? NaN, st?.ms ?? NaN, `goal ≤ 5000 ms. kill -9 of the node running an in-flight job (built-in simulator ×${SIM_SPEEDUP}) → tracking-resumed on the other node, under the load above. ${ct ? '' : `cluster ${why(c.takeover)}`} ${st ? '' : `single ${why(s.takeover)}`}`.trim(), restart),
      rec(
        'scale.takeover.heartbeat-gap',
        'ms',
        ct?.gapMs ?? NaN,
        st?.gapMs ?? NaN,
        `goal: no gap beyond the heartbeat period (FS_GCS_TIMEOUT 5 s). largest gap between GCS heartbeats at the vehicle from 5 s before the kill to 5 s after the resumption; period before the kill cluster ${ct?.periodMs.toFixed(0)} ms, single ${st?.periodMs.toFixed(0)} ms; GCS failsafe reported: cluster ${JSON.stringify(ct?.failsafe ?? null)}, single ${JSON.stringify(st?.failsafe ?? null)}`,
        restart,
      ),
    );
  }
  return out;
}

export async function run(): Promise<BenchRecord[]> {
  const nats = natsProblem();
  const pg = pgProblem();
  if (nats || pg) {
    process.stderr.write(`scale bench SKIPPED: ${nats ? `no NATS JetStream at ${NATS_URL} (${nats}); ` : ''}${pg ? `no PostgreSQL at ${PG_URL} (${pg})` : ''}\n`);
    return [];
  }
  const before = (await cpuWindow([], () => sleep(3000))).cpu;
  machineBefore = `before the bench: load average ${before.loadAvg}, machine busy ${before.busyPct.toFixed(0)}% of ${os.cpus().length} cores`;
  log(`${VEHICLES} vehicles, ${VIEWERS} viewers, ${AGENTS} agents, ${SECONDS} s; ${machineBefore}`);
  const children = new Children();
  let world: World | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    void children.killAll().finally(() => {
      void world?.exit();
      process.kill(process.pid, sig);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    world = await World.start();
    const uris = await world.vehicles(VEHICLES);
    const s = await single(world, uris, children);
    const c = await cluster(world, uris, children);
    log(`done, load average ${loadAvg()}`);
    return records(s, c);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await children.killAll();
    await world?.exit();
  }
}
