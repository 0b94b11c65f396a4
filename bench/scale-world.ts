/**
 * The outside world of the scaled benchmark (bench/scale.bench.ts), in a child process of its own:
 * lightweight vehicles (bench/light-vehicles.ts) and WebSocket viewers that log in as the console
 * does (session cookie, the page's Origin, `subscribe` after the hello with the console's own
 * subscription). A viewer that shows a vehicle's new position counts latency = receive − write.
 *
 * Threads: the vehicles run on the process's main thread; the viewers in BENCH_SCALE_VIEWER_THREADS
 * worker threads (round-robin), so that a viewer's frame does not wait in its socket while one
 * thread serves all the other viewers and vehicles (real consoles run on machines of their own).
 * 0 keeps the viewers on the main thread with the vehicles. Default: 2 on a machine of more than 2
 * cores, else 0: on 2 cores the extra threads compete with the product's processes for the same
 * cores (measured at full size, one run each: cluster p99 155 ms with 2 threads, 45.8 and 46.5 ms with none).
 *
 * One clock for all threads: process.hrtime() (CLOCK_MONOTONIC, the same in every thread of the
 * process) in ms (`monotonicMs`), for the vehicles' write times and the viewers' receive times. The
 * write times are rings on SharedArrayBuffers that the viewer threads read (light-vehicles.ts,
 * `ringSentAt`). The measured window [t0, t1) is on that clock too, in shared memory: a position
 * counts (in `sent`, and in the latencies of every viewer that shows it) when it was written within
 * the window; the viewers' figures are collected shortly after t1 (STOP_GRACE_MS), so positions
 * written just before t1 are counted when they arrive.
 *
 * Latencies go into histograms of 0.1 ms bins (exact above 2 s), by viewer group (the node the
 * viewers are on), one set per viewer thread, added together at the end of the window. `World` is
 * the parent's handle on the child.
 */
import { fork, type ChildProcess } from 'child_process';
import { monitorEventLoopDelay } from 'perf_hooks';
import os from 'os';
import { Worker, isMainThread, parentPort, workerData } from 'worker_threads';
import WebSocket from 'ws';
import { LightVehicle, ringSentAt, sharedRings, type Rings } from './light-vehicles';

export interface ViewerTarget {
  /** ws://HOST:PORT/ws */
  url: string;
  /** Cookie header (the session cookie the login set). */
  cookie: string;
  /** Origin header (the console's page). */
  origin: string;
  /** Group the viewer's figures are kept under (its node). */
  group: string;
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

export interface WorldMeasure {
  all: Latency;
  byGroup: Record<string, Latency>;
  /** Positions written by the vehicles in the window. */
  sent: number;
  /** New positions written in the window shown to viewers (at most sent × viewers). */
  frames: number;
  viewers: number;
  /** Viewer sockets closed by the other side since they opened. */
  viewersClosed: number;
  /** The world process's CPU over the window (every thread), percent of one core. */
  cpuPct: number;
  /**
   * Event-loop delay over the window, ms (how late a thread may have written a position or read a
   * frame): the worst thread's p50 and the worst thread's p99 (each the highest of the threads').
   */
  loopDelayP50: number;
  loopDelayP99: number;
  /** Each thread's event-loop delay: the main thread (the vehicles) first, then the viewer threads. */
  loopDelayByThread: { p50: number; p99: number }[];
  /** Worker threads the viewers are in (0: on the main thread). */
  viewerThreads: number;
  wallMs: number;
}

/** The console's subscription (web/src/app.ts); BENCH_SCALE_RATE_HZ sets another rate. */
export const CONSOLE_SUBSCRIPTION = { type: 'subscribe', vehicles: 'all', deliveries: true, alerts: true, rateHz: Number(process.env.BENCH_SCALE_RATE_HZ || 10) };

/** CLOCK_MONOTONIC in ms: the same clock in every thread of the process (performance.now() has an origin per thread). */
export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

// ------------------------------------------------------------------ child: figures

const BIN_MS = 0.1;
const BINS = 20_000; // 0..2000 ms
const LOOP_RESOLUTION_MS = 10;
/** After t1, how long the viewers go on counting positions written before t1. */
const STOP_GRACE_MS = 500;

/** A histogram as it crosses threads. */
interface HistogramData {
  bins: Uint32Array;
  over: number[];
  n: number;
  max: number;
}

class Histogram implements HistogramData {
  bins = new Uint32Array(BINS);
  over: number[] = [];
  n = 0;
  max = 0;
  add(ms: number): void {
    this.n++;
    if (ms > this.max) this.max = ms;
    const b = Math.floor(Math.max(0, ms) / BIN_MS);
    if (b < BINS) this.bins[b]++;
    else this.over.push(ms);
  }
  merge(h: HistogramData): void {
    for (let b = 0; b < BINS; b++) this.bins[b] += h.bins[b];
    for (const ms of h.over) this.over.push(ms);
    this.n += h.n;
    if (h.max > this.max) this.max = h.max;
  }
  q(p: number): number {
    if (this.n === 0) return NaN;
    const want = Math.min(this.n, Math.floor(p * this.n) + 1);
    let seen = 0;
    for (let b = 0; b < BINS; b++) {
      seen += this.bins[b];
      if (seen >= want) return (b + 0.5) * BIN_MS;
    }
    const over = [...this.over].sort((a, b) => a - b);
    return over[Math.min(over.length - 1, want - seen - 1)];
  }
  summary(): Latency {
    return { p50: this.q(0.5), p99: this.q(0.99), max: this.n ? this.max : NaN, samples: this.n };
  }
}

/**
 * The measured window [t0, t1) on `monotonicMs`, in shared memory: written by the main thread only,
 * read by the viewers (a sequence counter, odd while it changes, makes the pair consistent).
 */
class MeasureWindow {
  readonly t: Float64Array;
  readonly seq: Int32Array;
  constructor(shared?: { t: Float64Array; seq: Int32Array }) {
    this.t = shared?.t ?? new Float64Array(new SharedArrayBuffer(2 * Float64Array.BYTES_PER_ELEMENT)).fill(Infinity);
    this.seq = shared?.seq ?? new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  }
  set(t0: number, t1: number): void {
    Atomics.add(this.seq, 0, 1);
    this.t[0] = t0;
    this.t[1] = t1;
    Atomics.add(this.seq, 0, 1);
  }
  /** Open: t0 finite. Closed: both Infinity (nothing counts). */
  read(into: [number, number]): void {
    for (;;) {
      const s = Atomics.load(this.seq, 0);
      into[0] = this.t[0];
      into[1] = this.t[1];
      if ((s & 1) === 0 && Atomics.load(this.seq, 0) === s) return;
    }
  }
}

const FRAMES = Buffer.from('{"type":"frames"');
const ID = Buffer.from('"id":"');
const ALT = Buffer.from('"altRelM":');

/** Index of the bench vehicle a frame id names: `v17/1` (own link) or `s0.v17-1/1` (behind an agent); -1 for others. */
function vehicleIndex(b: Buffer, start: number, end: number): number {
  let j = start;
  for (let x = end - 1; x >= start; x--)
    if (b[x] === 0x2e) {
      j = x + 1;
      break;
    }
  if (b[j] !== 0x76) return -1; // 'v'
  let v = 0;
  let digits = 0;
  for (j++; j < end && b[j] >= 48 && b[j] <= 57; j++, digits++) v = v * 10 + b[j] - 48;
  return digits > 0 && (b[j] === 0x2f || b[j] === 0x2d) ? v : -1; // then '/' or '-'
}

const loopFigures = (h: ReturnType<typeof monitorEventLoopDelay>) => ({
  // The histogram holds whole intervals of its timer: the delay is what exceeds the timer's period.
  p50: Math.max(0, h.percentile(50) / 1e6 - LOOP_RESOLUTION_MS),
  p99: Math.max(0, h.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
});

/** What a viewer thread hands over at the end of a window. */
interface ViewerPart {
  all: HistogramData;
  byGroup: [string, HistogramData][];
  open: number;
  closedByPeer: number;
  loop: { p50: number; p99: number };
}

type HostCall =
  | { cmd: 'rings'; rings: Rings[] }
  | { cmd: 'open'; targets: ViewerTarget[]; batch: number }
  | { cmd: 'reset' }
  | { cmd: 'stop' }
  | { cmd: 'collect' }
  | { cmd: 'subscribe'; rateHz: number }
  | { cmd: 'close' };

/** A set of viewers, in one thread: the vehicles' rings, the sockets, the window's figures. */
class ViewerHost {
  private readonly rings: Rings[] = [];
  private viewers: WebSocket[] = [];
  private closedByPeer = 0;
  private all = new Histogram();
  private byGroup = new Map<string, Histogram>();
  private readonly loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private readonly w: [number, number] = [Infinity, Infinity];

  constructor(private readonly window: MeasureWindow) {}

  private onViewerMessage(last: Int32Array, group: string, data: Buffer): void {
    const now = monotonicMs();
    if (data.length < FRAMES.length || data.compare(FRAMES, 0, FRAMES.length, 0, FRAMES.length) !== 0) return;
    this.window.read(this.w);
    const [t0, t1] = this.w;
    if (t0 === Infinity) return; // no window
    let at = FRAMES.length;
    for (;;) {
      const idAt = data.indexOf(ID, at);
      if (idAt < 0) break;
      const start = idAt + ID.length;
      const q = data.indexOf(0x22, start);
      if (q < 0) break;
      at = q;
      const v = vehicleIndex(data, start, q);
      if (v < 0 || v >= this.rings.length) continue;
      const altAt = data.indexOf(ALT, q);
      if (altAt < 0) break;
      const comma = data.indexOf(0x2c, altAt);
      const k = Math.round(Number(data.toString('latin1', altAt + ALT.length, comma)) * 100);
      at = comma;
      // Only the first frame showing a new position counts (a heartbeat re-sends the same one).
      if (!(k > last[v])) continue;
      last[v] = k;
      const sentAt = ringSentAt(this.rings[v], k);
      if (!(sentAt >= t0 && sentAt < t1)) continue; // unknown (0), or written outside the window

      const ms = now - sentAt;
      this.all.add(ms);
      let h = this.byGroup.get(group);
      if (!h) this.byGroup.set(group, (h = new Histogram()));
      h.add(ms);
    }
  }

  private openViewer(t: ViewerTarget): Promise<boolean> {
    return new Promise((resolve) => {
      const ws = new WebSocket(t.url, { perMessageDeflate: false, skipUTF8Validation: true, headers: { cookie: t.cookie, origin: t.origin } });
      const last = new Int32Array(this.rings.length).fill(-1);
      let hello = false;
      ws.on('message', (d: Buffer) => {
        if (!hello) {
          hello = true;
          ws.send(JSON.stringify(CONSOLE_SUBSCRIPTION));
          resolve(true);
          return;
        }
        this.onViewerMessage(last, t.group, d);
      });
      ws.on('error', () => resolve(false));
      ws.on('close', () => {
        if (this.viewers.includes(ws)) this.closedByPeer++;
        resolve(false);
      });
      this.viewers.push(ws);
    });
  }

  async handle(m: HostCall): Promise<unknown> {
    switch (m.cmd) {
      case 'rings':
        this.rings.push(...m.rings);
        return null;
      case 'open': {
        let opened = 0;
        // A few at a time, as consoles would open.
        for (let i = 0; i < m.targets.length; i += m.batch) opened += (await Promise.all(m.targets.slice(i, i + m.batch).map((t) => this.openViewer(t)))).filter(Boolean).length;
        return opened;
      }
      case 'reset':
        this.all = new Histogram();
        this.byGroup = new Map();
        this.loop.reset();
        this.loop.enable();
        return null;
      case 'stop':
        this.loop.disable();
        return null;
      case 'collect': {
        const part: ViewerPart = {
          all: this.all,
          byGroup: [...this.byGroup],
          open: this.viewers.filter((w) => w.readyState === WebSocket.OPEN).length,
          closedByPeer: this.closedByPeer,
          loop: loopFigures(this.loop),
        };
        return part;
      }
      case 'subscribe': {
        const sub = JSON.stringify({ ...CONSOLE_SUBSCRIPTION, rateHz: m.rateHz });
        for (const ws of this.viewers) if (ws.readyState === WebSocket.OPEN) ws.send(sub);
        return null;
      }
      case 'close': {
        const closing = this.viewers.splice(0);
        for (const ws of closing) ws.terminate();
        this.closedByPeer = 0;
        return null;
      }
    }
  }
}

/** The main thread's handle on a ViewerHost: in a worker thread, or (no threads) in the main thread itself. */
interface Host {
  call<T = unknown>(m: HostCall): Promise<T>;
  terminate(): Promise<void>;
}

interface WorkerInit {
  scaleWorldViewers: true;
  window: { t: Float64Array; seq: Int32Array };
}

function localHost(window: MeasureWindow): Host {
  const host = new ViewerHost(window);
  return { call: async <T>(m: HostCall) => (await host.handle(m)) as T, terminate: async () => void (await host.handle({ cmd: 'close' })) };
}

function workerHost(window: MeasureWindow, n: number): Host {
  const init: WorkerInit = { scaleWorldViewers: true, window: { t: window.t, seq: window.seq } };
  const worker = new Worker(__filename, { execArgv: ['--require', require.resolve('tsx/cjs')], workerData: init });
  const pending = new Map<number, (r: unknown) => void>();
  let id = 0;
  worker.on('message', (r: { id: number; r: unknown }) => {
    pending.get(r.id)?.(r.r);
    pending.delete(r.id);
  });
  worker.on('error', (e) => {
    process.stderr.write(`bench world: viewer thread ${n} failed: ${e.stack ?? e}\n`);
    process.exit(1);
  });
  return {
    call: <T>(m: HostCall) =>
      new Promise<T>((resolve) => {
        pending.set(++id, resolve as (r: unknown) => void);
        worker.postMessage({ id, m });
      }),
    terminate: async () => void (await worker.terminate()),
  };
}

function viewerThreadMain(init: WorkerInit): void {
  const host = new ViewerHost(new MeasureWindow(init.window));
  parentPort!.on('message', async ({ id, m }: { id: number; m: HostCall }) => parentPort!.postMessage({ id, r: await host.handle(m) }));
}

// ------------------------------------------------------------------ child: main thread

function childMain(): void {
  const threads = process.env.BENCH_SCALE_VIEWER_THREADS ? Number(process.env.BENCH_SCALE_VIEWER_THREADS) : os.cpus().length > 2 ? 2 : 0;
  const window = new MeasureWindow();
  const hosts: Host[] = threads > 0 ? Array.from({ length: threads }, (_x, i) => workerHost(window, i)) : [localHost(window)];
  const vehicles: LightVehicle[] = [];
  let sent = 0;
  let cpu0 = process.cpuUsage();
  let t0 = Infinity;
  let t1 = Infinity;
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const send = (m: unknown) => process.send!(m);
  const all = <T>(m: HostCall) => Promise.all(hosts.map((h) => h.call<T>(m)));

  process.on('message', async (m: { cmd: string; [k: string]: unknown }) => {
    if (m.cmd === 'vehicles') {
      const base = vehicles.length;
      const rings = Array.from({ length: m.n as number }, () => sharedRings());
      const onPosition = (_k: number, at: number) => {
        if (at >= t0 && at < t1) sent++;
      };
      vehicles.push(...(await Promise.all(rings.map((r, i) => new LightVehicle({ index: base + i, hz: 10, rings: r, clock: monotonicMs, onPosition }).listen()))));
      await all({ cmd: 'rings', rings });
      send({ cmd: 'vehicles', uris: vehicles.map((v) => v.uri) });
    } else if (m.cmd === 'viewers') {
      const targets = m.targets as ViewerTarget[];
      // A few at a time, as consoles would open (about 10 at once in all).
      const batch = Math.max(1, Math.ceil(10 / hosts.length));
      const opened = await Promise.all(hosts.map((h, i) => h.call<number>({ cmd: 'open', targets: targets.filter((_t, j) => j % hosts.length === i), batch })));
      send({ cmd: 'viewers', opened: opened.reduce((a, b) => a + b, 0) });
    } else if (m.cmd === 'measure-start') {
      await all({ cmd: 'reset' });
      sent = 0;
      cpu0 = process.cpuUsage();
      loop.reset();
      loop.enable();
      t0 = monotonicMs();
      t1 = Infinity;
      window.set(t0, t1);
      send({ cmd: 'measure-start' });
    } else if (m.cmd === 'measure-stop') {
      t1 = monotonicMs();
      window.set(t0, t1);
      const cpu = process.cpuUsage(cpu0);
      const wallMs = t1 - t0;
      loop.disable();
      await all({ cmd: 'stop' });
      await new Promise((r) => setTimeout(r, STOP_GRACE_MS));
      const parts = await all<ViewerPart>({ cmd: 'collect' });
      window.set(Infinity, Infinity);
      t0 = Infinity;
      const sum = new Histogram();
      const byGroup = new Map<string, Histogram>();
      for (const p of parts) {
        sum.merge(p.all);
        for (const [g, h] of p.byGroup) {
          let into = byGroup.get(g);
          if (!into) byGroup.set(g, (into = new Histogram()));
          into.merge(h);
        }
      }
      const loops = [loopFigures(loop), ...(threads > 0 ? parts.map((p) => p.loop) : [])];
      const r: WorldMeasure = {
        all: sum.summary(),
        byGroup: Object.fromEntries([...byGroup].map(([g, h]) => [g, h.summary()])),
        sent,
        frames: sum.n,
        viewers: parts.reduce((a, p) => a + p.open, 0),
        viewersClosed: parts.reduce((a, p) => a + p.closedByPeer, 0),
        cpuPct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
        loopDelayP50: Math.max(...loops.map((l) => l.p50)),
        loopDelayP99: Math.max(...loops.map((l) => l.p99)),
        loopDelayByThread: loops,
        viewerThreads: threads > 0 ? threads : 0,
        wallMs,
      };
      send({ cmd: 'measure-stop', r });
    } else if (m.cmd === 'subscribe') {
      await all({ cmd: 'subscribe', rateHz: m.rateHz as number });
      send({ cmd: 'subscribe' });
    } else if (m.cmd === 'acks') {
      send({ cmd: 'acks', acks: vehicles.map((v) => v.commandsAcked) });
    } else if (m.cmd === 'viewers-close') {
      await all({ cmd: 'close' });
      send({ cmd: 'viewers-close' });
    } else if (m.cmd === 'exit') {
      await Promise.race([Promise.all(hosts.map((h) => h.terminate())), new Promise((r) => setTimeout(r, 1000))]);
      for (const v of vehicles) v.close();
      process.exit(0);
    }
  });
  send({ cmd: 'ready' });
}

if (isMainThread) {
  if (process.env.DROPLINE_SCALE_WORLD === '1') childMain();
} else if ((workerData as WorkerInit | undefined)?.scaleWorldViewers) viewerThreadMain(workerData as WorkerInit);

// ------------------------------------------------------------------ parent

export class World {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<World> {
    const child = fork(__filename, [], {
      execArgv: ['--require', require.resolve('tsx/cjs')],
      env: { ...process.env, DROPLINE_SCALE_WORLD: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`bench world exited with ${code}`)));
    });
    return new World(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  private ask<T = any>(m: Record<string, unknown>): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`bench world exited with ${code} during ${m.cmd}`));
      const h = (r: { cmd: string }) => {
        if (r.cmd !== m.cmd) return;
        this.child.off('message', h);
        this.child.off('exit', onExit);
        resolve(r as T);
      };
      this.child.on('message', h);
      this.child.once('exit', onExit);
      this.child.send(m);
    });
  }

  /** Start n vehicles; their tcp: URIs. */
  async vehicles(n: number): Promise<string[]> {
    return (await this.ask<{ uris: string[] }>({ cmd: 'vehicles', n })).uris;
  }
  /** Open the viewers (each gets its hello and subscribes); how many opened. */
  async viewers(targets: ViewerTarget[]): Promise<number> {
    return (await this.ask<{ opened: number }>({ cmd: 'viewers', targets })).opened;
  }
  async measureStart(): Promise<void> {
    await this.ask({ cmd: 'measure-start' });
  }
  async measureStop(): Promise<WorldMeasure> {
    return (await this.ask<{ r: WorldMeasure }>({ cmd: 'measure-stop' })).r;
  }
  /** Every viewer subscribes again, at `rateHz`. */
  async subscribe(rateHz: number): Promise<void> {
    await this.ask({ cmd: 'subscribe', rateHz });
  }
  /** COMMAND_LONGs each vehicle answered so far. */
  async acks(): Promise<number[]> {
    return (await this.ask<{ acks: number[] }>({ cmd: 'acks' })).acks;
  }
  async closeViewers(): Promise<void> {
    await this.ask({ cmd: 'viewers-close' });
  }
  async exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'exit' });
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
