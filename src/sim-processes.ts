/**
 * The embedded demo's built-in simulators as processes of their own (the child is
 * sims/sim-process.ts): started detached, so that a crash of the service (kill -9) leaves the
 * vehicles flying as real ones would, and recorded in `<dataDir>/sims/<linkId>.json` (pid, ports,
 * sysid, site), so that a restarted service re-attaches to the ones still alive and starts only the
 * missing ones. A clean stop (group.stop(), on the service's SIGINT/SIGTERM) ends them.
 */
import { spawn } from 'child_process';
import crypto from 'crypto';
import fs from 'fs';
import net from 'net';
import path from 'path';
import readline from 'readline';
import { SimError, type SimFault, type SimFleet, type SimInstance, type SimTruth } from '../sims';
import type { Scenario, ScenarioProgress } from '../sims/scenarios';
import type { SimProcessRecord, SimProcessSpec } from '../sims/sim-process';
import { repoRoot, runningCompiled } from './paths';

export type { SimProcessRecord };

/** Where the records and logs of a data directory's simulator processes live. */
export function simProcessDir(dataDir: string): string {
  return path.join(dataDir, 'sims');
}

function recordFile(dataDir: string, linkId: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(linkId)) throw new SimError('SIM_INVALID_OPTION', `invalid link id '${linkId}'`);
  return path.join(simProcessDir(dataDir), `${linkId}.json`);
}

/** Whether `pid` runs (a zombie, exited but not yet reaped by its parent, does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e: any) {
    if (e?.code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S …"; comm may hold spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc here: trust kill(0)
  }
}

/** A JSON-lines request/response connection to a simulator process's control port. */
class Control {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private closed = false;
  private constructor(private readonly sock: net.Socket) {
    readline.createInterface({ input: sock, crlfDelay: Infinity }).on('line', (line) => {
      let m: { id?: number; ok?: boolean; result?: unknown; error?: { code?: string; message?: string } };
      try {
        m = JSON.parse(line);
      } catch {
        return;
      }
      const p = this.pending.get(m.id ?? -1);
      if (!p) return;
      this.pending.delete(m.id!);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(Object.assign(new SimError((m.error?.code as any) ?? 'SIM_INVALID_OPTION', m.error?.message ?? 'simulator request failed'), { code: m.error?.code ?? 'SIM_FAILED' }));
    });
    const fail = () => {
      this.closed = true;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(Object.assign(new Error('simulator process unreachable'), { code: 'SIM_UNREACHABLE' }));
        this.pending.delete(id);
      }
    };
    sock.on('close', fail);
    sock.on('error', fail);
  }

  static connect(port: number, timeoutMs = 3000): Promise<Control> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no answer on control port ${port}`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.unref();
        resolve(new Control(sock));
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  request<T = unknown>(op: string, args?: unknown, timeoutMs = 5000): Promise<T> {
    if (this.closed) return Promise.reject(Object.assign(new Error('simulator process unreachable'), { code: 'SIM_UNREACHABLE' }));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error(`simulator did not answer '${op}'`), { code: 'SIM_UNREACHABLE' }));
      }, timeoutMs);
      timer.unref?.();
      this.pending.set(id, { resolve, reject, timer });
      this.sock.write(JSON.stringify({ id, op, args }) + '\n');
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/**
 * A simulator process seen through its control port. truth() and activeFaults() answer from the
 * last poll (every 250 ms); inject/clearFault/setParam return promises that reject with the
 * simulator's own error code (await them).
 */
export class ProcessSimInstance implements SimInstance {
  private lastTruth: SimTruth | null = null;
  private lastFaults: SimFault[] = [];
  private lastScenario: ScenarioProgress | null = null;
  private params: Record<string, number | undefined> = {};
  private readonly poll: NodeJS.Timeout;
  constructor(
    readonly index: number,
    readonly record: SimProcessRecord,
    private readonly control: Control,
  ) {
    this.poll = setInterval(() => void this.refresh(), 250);
    this.poll.unref?.();
  }
  get sysid(): number {
    return this.record.sysid;
  }
  get tcpPort(): number {
    return this.record.tcpPort;
  }
  get uri(): string {
    return this.record.uri;
  }
  get pid(): number {
    return this.record.pid;
  }
  async refresh(): Promise<void> {
    try {
      const r = await this.control.request<{ truth: SimTruth; faults: SimFault[]; scenario?: ScenarioProgress | null }>('truth');
      this.lastTruth = r.truth;
      this.lastFaults = r.faults;
      this.lastScenario = r.scenario ?? null;
    } catch {
      /* the process is gone or busy: keep the last answer */
    }
  }
  async loadParams(): Promise<void> {
    this.params = await this.control.request('params');
  }
  truth(): SimTruth {
    if (!this.lastTruth) throw new Error('simulator truth not known yet');
    return this.lastTruth;
  }
  activeFaults(): SimFault[] {
    return this.lastFaults;
  }
  /** The scenario the simulator runs, on its own sim clock (as of the last poll); null when none was run. */
  scenarioProgress(): ScenarioProgress | null {
    return this.lastScenario;
  }
  getParam(name: string): number | undefined {
    return this.params[name];
  }
  setParam(name: string, value: number): Promise<void> {
    this.params[name] = value;
    return this.control.request('setParam', { name, value });
  }
  /** Load a parcel into each bay (release output); the simulator refuses bad outputs (SIM_INVALID_OPTION). */
  loadParcels(outputs: number[]): Promise<void> {
    return this.control.request<void>('loadParcels', { outputs }).then(() => this.refresh());
  }
  inject(fault: SimFault): Promise<void> {
    return this.control.request<void>('inject', { fault }).then(() => this.refresh());
  }
  clearFault(kind: SimFault['kind']): Promise<void> {
    return this.control.request<void>('clear', { kind }).then(() => this.refresh());
  }
  reboot(): Promise<void> {
    return this.control.request('reboot', undefined, 30_000);
  }
  /** Run a scenario (steps already meant for this vehicle) on the vehicle's own sim clock. */
  runScenario(scenario: Scenario): Promise<void> {
    return this.control.request<void>('scenario', { scenario }).then(() => this.refresh());
  }
  /** Stop the process (SIGTERM when it does not answer, SIGKILL after 5 s) and wait until it is gone. */
  async stop(): Promise<void> {
    clearInterval(this.poll);
    await this.control.request('stop', undefined, 2000).catch(() => {
      if (alive(this.pid)) process.kill(this.pid, 'SIGTERM');
    });
    this.control.close();
    const end = Date.now() + 5000;
    while (alive(this.pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (alive(this.pid)) process.kill(this.pid, 'SIGKILL');
  }
  /** Let go of the process without stopping it (it keeps flying). */
  detach(): void {
    clearInterval(this.poll);
    this.control.close();
  }
}

/** A one-vehicle SimFleet whose vehicle runs in its own process. */
export interface ProcessSimGroup extends SimFleet {
  readonly instances: [ProcessSimInstance];
  /** True when this group re-attached to a process that was already running. */
  readonly reattached: boolean;
}

function group(inst: ProcessSimInstance, reattached: boolean): ProcessSimGroup {
  return { instances: [inst], reattached, stop: () => inst.stop() };
}

async function open(index: number, rec: SimProcessRecord): Promise<ProcessSimInstance> {
  const control = await Control.connect(rec.controlPort);
  try {
    const hello = await control.request<{ pid: number; sysid: number; linkId: string }>('hello', { token: rec.token }, 3000);
    if (hello.pid !== rec.pid || hello.sysid !== rec.sysid || hello.linkId !== rec.linkId) throw new Error('control port answered for another simulator');
    const inst = new ProcessSimInstance(index, rec, control);
    await inst.loadParams();
    await inst.refresh();
    return inst;
  } catch (e) {
    control.close();
    throw e;
  }
}

/** Whether `pid` is one of our simulator processes (its command line names the simulator child). */
function isSimProcess(pid: number): boolean {
  try {
    return /sim-process/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Re-attach to the simulator process recorded for `linkId` when it still runs as the vehicle
 * expected (same sysid); null when there is none (a stale record is removed).
 *
 * A live process that does not answer at once is asked again until `patienceMs` has passed (a
 * loaded machine, a simulator busy at ×10): giving up too early would start a second vehicle beside
 * the one still flying. When it never answers and is ours (its command line says so), it is stopped
 * before null is returned, so no vehicle is left flying unattended.
 */
export async function attachSimProcess(dataDir: string, linkId: string, index: number, expect: { sysid: number }, warn: (why: string) => void = () => undefined, patienceMs = 20_000): Promise<ProcessSimGroup | null> {
  const file = recordFile(dataDir, linkId);
  let rec: SimProcessRecord;
  try {
    rec = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
  if (!Number.isInteger(rec.pid) || rec.pid <= 1 || rec.linkId !== linkId || !alive(rec.pid)) {
    warn(`simulator process ${rec.pid} recorded for ${linkId} is gone: starting a new one`);
    fs.rmSync(file, { force: true });
    return null;
  }
  const end = Date.now() + patienceMs;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      const inst = await open(index, rec);
      if (rec.sysid === expect.sysid) return group(inst, true);
      // Ours (it knew the token) but not the vehicle asked for now: stop it, a new one takes its place.
      warn(`simulator process ${rec.pid} for ${linkId} is sysid ${rec.sysid}, not ${expect.sysid}: stopping it`);
      await inst.stop();
      return null;
    } catch (e) {
      lastError = e;
    }
    if (!alive(rec.pid)) {
      warn(`simulator process ${rec.pid} recorded for ${linkId} ended while being re-attached: starting a new one`);
      fs.rmSync(file, { force: true });
      return null;
    }
    if (Date.now() >= end) break;
    if (attempt === 1) warn(`simulator process ${rec.pid} for ${linkId} does not answer yet (${(lastError as Error)?.message ?? lastError}): asking again`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const why = (lastError as Error)?.message ?? String(lastError);
  if (isSimProcess(rec.pid)) {
    // Ours but hung: stop it rather than leave a second vehicle flying beside the new one.
    warn(`simulator process ${rec.pid} for ${linkId} did not answer within ${patienceMs} ms (${why}): stopping it and starting a new one`);
    try {
      process.kill(rec.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const killBy = Date.now() + 5000;
    while (alive(rec.pid) && Date.now() < killBy) await new Promise((r) => setTimeout(r, 50));
    if (alive(rec.pid)) {
      try {
        process.kill(rec.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      const goneBy = Date.now() + 2000;
      while (alive(rec.pid) && Date.now() < goneBy) await new Promise((r) => setTimeout(r, 50));
    }
  } else {
    // Alive but not our simulator: the pid was reused by another program.
    warn(`process ${rec.pid} recorded for ${linkId} is not a simulator (${why}): starting a new one`);
  }
  fs.rmSync(file, { force: true });
  return null;
}

/** The command that runs a simulator process: the compiled CLI, or the TypeScript sources through tsx. */
function childCommand(): string[] {
  const root = repoRoot();
  return runningCompiled() ? [path.join(root, 'bin', 'dropline.js'), 'sim-process'] : [path.join(root, 'sims', 'sim-process-entry.js')];
}

export interface StartSimProcessOptions extends Omit<SimProcessSpec, 'recordFile' | 'signingKeyHex' | 'token'> {
  signingKey?: Buffer;
  /** Wait this long for the process to record itself. Default 60 s (a loaded machine). */
  startTimeoutMs?: number;
}

/** Start one built-in simulator in a detached process of its own and attach to it. */
export async function startSimProcess(dataDir: string, o: StartSimProcessOptions): Promise<ProcessSimGroup> {
  const dir = simProcessDir(dataDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = recordFile(dataDir, o.linkId);
  fs.rmSync(file, { force: true });
  const spec: SimProcessSpec = { linkId: o.linkId, index: o.index, sysid: o.sysid, speedup: o.speedup, home: o.home, params: o.params, basePort: o.basePort, site: o.site ?? null, recordFile: file, signingKeyHex: o.signingKey?.toString('hex'), token: crypto.randomBytes(24).toString('hex') };
  const logFd = fs.openSync(path.join(dir, `${o.linkId}.log`), 'a', 0o600);
  const [cmd, ...args] = childCommand();
  const child = spawn(process.execPath, [cmd, ...args], { detached: true, stdio: ['pipe', logFd, logFd], cwd: repoRoot() });
  fs.closeSync(logFd);
  child.stdin!.end(JSON.stringify(spec));
  let exited: string | null = null;
  child.once('exit', (code, sig) => (exited = `exited (${sig ?? code})`));
  child.once('error', (e) => (exited = e.message));
  const end = Date.now() + (o.startTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exited) throw new SimError(/EADDRINUSE|in use/i.test(logTail(dir, o.linkId)) ? 'SIM_PORT_IN_USE' : 'SITL_START_FAILED', `simulator ${o.linkId} ${exited}: ${logTail(dir, o.linkId)}`);
      if (Date.now() > end) throw new SimError('SITL_START_FAILED', `simulator ${o.linkId} did not start within ${o.startTimeoutMs ?? 60_000} ms`);
      try {
        const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as SimProcessRecord;
        if (rec.pid === child.pid) {
          const g = group(await open(o.index, rec), false);
          child.unref();
          return g;
        }
      } catch {
        /* not written yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw e;
  }
}

function logTail(dir: string, linkId: string): string {
  try {
    return fs.readFileSync(path.join(dir, `${linkId}.log`), 'utf8').trim().split('\n').slice(-4).join('\n');
  } catch {
    return '';
  }
}

/** The name of the launch site vehicle `index` stands at (as the service places them), or null. */
export function launchSiteName(zones: GeoJSON.FeatureCollection, index: number): string | null {
  const sites = zones.features.filter((f) => f.properties?.kind === 'launch-site' && f.geometry?.type === 'Point');
  if (sites.length === 0) return null;
  const p = sites[index % sites.length].properties ?? {};
  const name = p.name ?? p.id;
  return typeof name === 'string' ? name.slice(0, 100) : null;
}

/** The simulator processes a data dir records (whether or not they still run), by index. */
export function listSimProcessRecords(dataDir: string): SimProcessRecord[] {
  let files: string[];
  try {
    files = fs.readdirSync(simProcessDir(dataDir)).filter((f) => /^sim\d{1,4}\.json$/.test(f));
  } catch {
    return [];
  }
  const out: SimProcessRecord[] = [];
  for (const f of files) {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(simProcessDir(dataDir), f), 'utf8')) as SimProcessRecord;
      if (Number.isInteger(r.index) && r.index >= 0 && r.linkId === `sim${r.index}` && `${r.linkId}.json` === f) out.push(r);
    } catch {
      /* half-removed or foreign file */
    }
  }
  return out.sort((a, b) => a.index - b.index);
}
