/**
 * The outside world of the scaled benchmark (bench/scale.bench.ts), in a child process of its own:
 * lightweight vehicles (bench/light-vehicles.ts) and WebSocket viewers that log in as the console
 * does (session cookie, the page's Origin, `subscribe` after the hello with the console's own
 * subscription). Both on one clock: a viewer that shows a vehicle's new position counts
 * latency = receive − write (performance.now() of this process).
 *
 * Latencies go into a histogram of 0.1 ms bins (exact above 2 s), by viewer group (the node the
 * viewers are on). `World` is the parent's handle on the child.
 */
import { fork, type ChildProcess } from 'child_process';
import { monitorEventLoopDelay, performance } from 'perf_hooks';
import WebSocket from 'ws';
import { startLightVehicles, type LightVehicle } from './light-vehicles';

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
  /** New positions shown to viewers in the window (at most sent × viewers). */
  frames: number;
  viewers: number;
  /** Viewer sockets closed by the other side since they opened. */
  viewersClosed: number;
  /** This process's CPU over the window, percent of one core. */
  cpuPct: number;
  /** This process's event-loop delay over the window, ms (how late it may have read a frame). */
  loopDelayP50: number;
  loopDelayP99: number;
  wallMs: number;
}

/** The console's subscription (web/src/app.ts); BENCH_SCALE_RATE_HZ sets another rate. */
export const CONSOLE_SUBSCRIPTION = { type: 'subscribe', vehicles: 'all', deliveries: true, alerts: true, rateHz: Number(process.env.BENCH_SCALE_RATE_HZ || 10) };

// ------------------------------------------------------------------ child

const BIN_MS = 0.1;
const BINS = 20_000; // 0..2000 ms

class Histogram {
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

function childMain(): void {
  const vehicles: LightVehicle[] = [];
  const viewers: WebSocket[] = [];
  let measuring = false;
  let sent = 0;
  let frames = 0;
  let closedByPeer = 0;
  let all = new Histogram();
  let byGroup = new Map<string, Histogram>();
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  const LOOP_RESOLUTION_MS = 10;
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const send = (m: unknown) => process.send!(m);

  function onViewerMessage(last: Int32Array, group: string, data: Buffer): void {
    if (!measuring || data.length < FRAMES.length || data.compare(FRAMES, 0, FRAMES.length, 0, FRAMES.length) !== 0) return;
    const now = performance.now();
    let at = FRAMES.length;
    for (;;) {
      const idAt = data.indexOf(ID, at);
      if (idAt < 0) break;
      const start = idAt + ID.length;
      const q = data.indexOf(0x22, start);
      if (q < 0) break;
      at = q;
      const v = vehicleIndex(data, start, q);
      if (v < 0 || v >= vehicles.length) continue;
      const altAt = data.indexOf(ALT, q);
      if (altAt < 0) break;
      const comma = data.indexOf(0x2c, altAt);
      const k = Math.round(Number(data.toString('latin1', altAt + ALT.length, comma)) * 100);
      at = comma;
      // Only the first frame showing a new position counts (a heartbeat re-sends the same one).
      if (!(k > last[v])) continue;
      last[v] = k;
      const sentAt = vehicles[v].sentAt(k);
      if (sentAt < t0) continue; // unknown (0), or written before the window

      frames++;
      const ms = now - sentAt;
      all.add(ms);
      let h = byGroup.get(group);
      if (!h) byGroup.set(group, (h = new Histogram()));
      h.add(ms);
    }
  }

  function openViewer(t: ViewerTarget): Promise<boolean> {
    return new Promise((resolve) => {
      const ws = new WebSocket(t.url, { perMessageDeflate: false, skipUTF8Validation: true, headers: { cookie: t.cookie, origin: t.origin } });
      const last = new Int32Array(vehicles.length).fill(-1);
      let hello = false;
      ws.on('message', (d: Buffer) => {
        if (!hello) {
          hello = true;
          ws.send(JSON.stringify(CONSOLE_SUBSCRIPTION));
          resolve(true);
          return;
        }
        onViewerMessage(last, t.group, d);
      });
      ws.on('error', () => resolve(false));
      ws.on('close', () => {
        if (viewers.includes(ws)) closedByPeer++;
        resolve(false);
      });
      viewers.push(ws);
    });
  }

  process.on('message', async (m: { cmd: string; [k: string]: unknown }) => {
    if (m.cmd === 'vehicles') {
      vehicles.push(...(await startLightVehicles(m.n as number, { hz: 10, onPosition: () => measuring && sent++ })));
      send({ cmd: 'vehicles', uris: vehicles.map((v) => v.uri) });
    } else if (m.cmd === 'viewers') {
      const targets = m.targets as ViewerTarget[];
      let opened = 0;
      // A few at a time, as consoles would open.
      for (let i = 0; i < targets.length; i += 10) opened += (await Promise.all(targets.slice(i, i + 10).map(openViewer))).filter(Boolean).length;
      send({ cmd: 'viewers', opened });
    } else if (m.cmd === 'measure-start') {
      all = new Histogram();
      byGroup = new Map();
      sent = 0;
      frames = 0;
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      loop.reset();
      loop.enable();
      measuring = true;
      send({ cmd: 'measure-start' });
    } else if (m.cmd === 'measure-stop') {
      measuring = false;
      loop.disable();
      const cpu = process.cpuUsage(cpu0);
      const wallMs = performance.now() - t0;
      const r: WorldMeasure = {
        all: all.summary(),
        byGroup: Object.fromEntries([...byGroup].map(([g, h]) => [g, h.summary()])),
        sent,
        frames,
        viewers: viewers.filter((w) => w.readyState === WebSocket.OPEN).length,
        viewersClosed: closedByPeer,
        cpuPct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
        // The histogram holds whole intervals of its timer: the delay is what exceeds the timer's period.
        loopDelayP50: Math.max(0, loop.percentile(50) / 1e6 - LOOP_RESOLUTION_MS),
        loopDelayP99: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
        wallMs,
      };
      send({ cmd: 'measure-stop', r });
    } else if (m.cmd === 'subscribe') {
      const sub = JSON.stringify({ ...CONSOLE_SUBSCRIPTION, rateHz: m.rateHz as number });
      for (const ws of viewers) if (ws.readyState === WebSocket.OPEN) ws.send(sub);
      send({ cmd: 'subscribe' });
    } else if (m.cmd === 'acks') {
      send({ cmd: 'acks', acks: vehicles.map((v) => v.commandsAcked) });
    } else if (m.cmd === 'viewers-close') {
      const closing = viewers.splice(0);
      for (const ws of closing) ws.terminate();
      closedByPeer = 0;
      send({ cmd: 'viewers-close' });
    } else if (m.cmd === 'exit') {
      for (const ws of viewers) ws.terminate();
      for (const v of vehicles) v.close();
      process.exit(0);
    }
  });
  send({ cmd: 'ready' });
}

if (process.env.DROPLINE_SCALE_WORLD === '1') childMain();

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
