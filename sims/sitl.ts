/**
 * Launcher for real ArduPilot SITL (ArduCopter), used exactly like the built-in simulator.
 *
 * `ARDUPILOT_SITL` names the `arducopter` binary; `ARDUPILOT_SITL_DEFAULTS` optionally lists
 * ArduPilot's own default parameter files (comma-separated, e.g. Tools/autotest/default_params/copter.parm).
 * Each instance runs as `arducopter --model quad --home LAT,LON,ALT,0 --speedup S -I i --sysid ID
 * --defaults FILES,<project parm> --serial0 tcp:0` in its own scratch directory (fresh EEPROM), so it boots
 * without waiting for a client and serves MAVLink on TCP 5760 + 10·I (one client per port).
 *
 * The launcher keeps an observer connection on the instance's second port (5762 + 10·I) to read
 * what `truth()` reports (as the vehicle reports it over MAVLink: SITL has no ground-truth API) and
 * to get and set parameters.
 *
 * Faults on SITL map to SIM_* parameters where ArduPilot has one:
 *   wind → SIM_WIND_SPD / SIM_WIND_DIR / SIM_WIND_TURB; gps-loss → SIM_GPS1_ENABLE 0 (and the older
 *   SIM_GPS_DISABLE 1); battery-sag → SIM_BATT_VOLTAGE lowered by pct; battery-set → MAV_CMD_BATTERY_RESET.
 * With basePort 0 (tests), each instance is reached through a FaultProxy on a free port, so link-loss,
 * packet-loss, delay, duplicate and reorder work as on the built-in simulator; with an explicit basePort
 * clients connect to SITL directly and those faults throw SimError code 'SIM_UNKNOWN_FAULT'.
 * release-failure has no SITL equivalent (SIM_UNKNOWN_FAULT).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as net from 'net';
import { spawn, ChildProcess } from 'child_process';
import { MavlinkDecoder, MavlinkEncoder } from '../src/mavlink/codec';
import { msg, common, minimal } from '../src/mavlink/registry';
import { SimError, SimFault, SimFleet, SimInstance, SimOptions, SimTruth, defaultHome, validateOptions, DEMO_HOME, clearLinkFault } from './index';
import { FaultProxy } from './fault-proxy';
import { OutputTail, afterOutput, applyTelemetry, copyTruth, firstFreeInstances, terminate } from './launcher';

/** Parameters this project wants on every vehicle it flies: failsafes on, gripper on SERVO9, fence on (no circle). */
export const PROJECT_PARAMS: Record<string, number> = {
  FS_GCS_ENABLE: 1,
  FS_GCS_TIMEOUT: 5,
  FS_EKF_ACTION: 1,
  BATT_FS_LOW_ACT: 2,
  BATT_FS_CRT_ACT: 1,
  BATT_LOW_VOLT: 10.5,
  BATT_CRT_VOLT: 10.0,
  FENCE_ENABLE: 1,
  FENCE_TYPE: 5,
  FENCE_ACTION: 1,
  FENCE_ALT_MAX: 120,
  GRIP_ENABLE: 1,
  GRIP_TYPE: 1,
  GRIP_GRAB: 1900,
  GRIP_RELEASE: 1100,
  GRIP_NEUTRAL: 1500,
  SERVO9_FUNCTION: 28,
};

/** True when ARDUPILOT_SITL names an executable file. */
export function sitlAvailable(): boolean {
  const bin = process.env.ARDUPILOT_SITL;
  if (!bin) return false;
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return fs.statSync(bin).isFile();
  } catch {
    return false;
  }
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function tryConnect(port: number, host: string): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => resolve(s));
    s.once('error', () => {
      s.destroy();
      resolve(null);
    });
  });
}

/** Write the project's parameter file (plus overrides) and return its path. */
export function writeProjectParmFile(dir: string, overrides: Record<string, number> = {}): string {
  const all = { ...PROJECT_PARAMS, ...overrides };
  const file = path.join(dir, 'dropline.parm');
  fs.writeFileSync(file, Object.entries(all).map(([k, v]) => `${k} ${v}`).join('\n') + '\n');
  return file;
}

/**
 * ArduCopter SITL's command line for instance I (pure): `--model quad --home LAT,LON,ALT,YAW
 * --speedup S -I I --sysid ID --defaults FILES --serial0 tcp:0`. `--serial0 tcp:0` makes SITL boot
 * without waiting for a client on its first port; later defaults files override earlier ones, so
 * the project's file goes last. Yaw defaults to 0 (north).
 */
export function sitlArgs(p: { instance: number; sysid: number; speedup: number; home: { lat: number; lon: number; altAmslM: number; yawDeg?: number }; defaults: string[] }): string[] {
  if (!Number.isInteger(p.instance) || p.instance < 0) throw new SimError('SIM_INVALID_OPTION', `SITL instance must be an integer ≥ 0, got ${p.instance}`);
  if (p.defaults.some((f) => f.includes(','))) throw new SimError('SIM_INVALID_OPTION', 'SITL defaults file paths must not contain commas');
  const args = ['--model', 'quad', '--home', `${p.home.lat},${p.home.lon},${p.home.altAmslM},${p.home.yawDeg ?? 0}`, '--speedup', String(p.speedup), '-I', String(p.instance), '--sysid', String(p.sysid)];
  if (p.defaults.length) args.push('--defaults', p.defaults.join(','));
  args.push('--serial0', 'tcp:0');
  return args;
}

class SitlInstance implements SimInstance {
  uri: string;
  tcpPort: number;
  private proxy: FaultProxy | null = null;
  private child: ChildProcess | null = null;
  private observer: net.Socket | null = null;
  private readonly enc: MavlinkEncoder;
  private readonly params = new Map<string, number>();
  private readonly t: SimTruth;
  private hbTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private firstHeartbeat: (() => void) | null = null;
  private battCapAh = 0;
  private battVoltage = 12.6;

  constructor(
    readonly index: number,
    readonly sysid: number,
    /** SITL's own primary port, 5760 + 10·I. */
    readonly sitlPort: number,
    private readonly instanceNo: number,
    private readonly host: string,
    private readonly workDir: string,
    private readonly args: string[],
    private readonly withProxy: boolean,
  ) {
    this.tcpPort = sitlPort;
    this.uri = `tcp:${host}:${sitlPort}`;
    this.enc = new MavlinkEncoder({ sysid: 254, compid: 191 });
    this.t = { lat: 0, lon: 0, altRelM: 0, altAmslM: 0, armed: false, mode: 'STABILIZE', groundSpeedMps: 0, batteryPct: 100, voltageV: 0, landed: true, payloadAttached: true, releasedAt: null, missionSeq: 0 };
  }

  async start(timeoutMs: number): Promise<void> {
    const bin = process.env.ARDUPILOT_SITL!;
    this.child = spawn(bin, this.args, { cwd: this.workDir, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    // SITL prints its start-up errors ("Vehicle model (x) not found", bad options) on stdout.
    const output = new OutputTail(this.child);
    const exited = new Promise<never>((_, reject) => {
      this.child!.once('error', (e) => reject(new SimError('SITL_START_FAILED', `SITL instance ${this.index} could not start ${bin}: ${e.message}`)));
      this.child!.once('exit', (code, signal) => {
        if (!this.stopping) afterOutput(this.child!, () => reject(new SimError('SITL_START_FAILED', `SITL instance ${this.index} exited with ${signal ? `signal ${signal}` : `code ${code}`}${output.suffix()}`)));
      });
    });
    exited.catch(() => undefined);
    const t0 = Date.now();
    // Wait until the instance answers: a HEARTBEAT on the observer port (5762 + 10·I). The primary port
    // (5760 + 10·I) serves one client, so it is left to the ground station (or the fault proxy).
    const obsPort = 5762 + 10 * this.instanceNo;
    let connected = false;
    while (Date.now() - t0 < timeoutMs) {
      const s = await Promise.race([tryConnect(obsPort, this.host), exited]);
      if (s) {
        connected = true;
        const heartbeat = new Promise<boolean>((resolve) => {
          this.firstHeartbeat = () => resolve(true);
          const left = Math.max(0, timeoutMs - (Date.now() - t0));
          setTimeout(() => resolve(false), left).unref?.();
        });
        this.observe(s);
        if (!(await Promise.race([heartbeat, exited]))) break;
        if (this.withProxy) {
          this.proxy = new FaultProxy({ host: '127.0.0.1', port: this.sitlPort }, { host: this.host });
          this.tcpPort = await this.proxy.start();
          this.uri = `tcp:${this.host}:${this.tcpPort}`;
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const what = connected ? `sent no HEARTBEAT (sysid ${this.sysid}) on TCP ${obsPort}` : `did not open TCP ${obsPort}`;
    throw new SimError('SITL_START_FAILED', `SITL instance ${this.index} ${what} within ${timeoutMs} ms${output.suffix()}`);
  }

  private send(m: Parameters<MavlinkEncoder['encode']>[0]): void {
    if (this.observer && !this.observer.destroyed) this.observer.write(this.enc.encode(m));
  }

  private observe(s: net.Socket): void {
    this.observer = s;
    const dec = new MavlinkDecoder((f) => {
      if (f.sysid !== this.sysid || !f.data) return;
      const d = f.data as unknown as Record<string, number>;
      if (f.name === 'HEARTBEAT') {
        if (d.type === 6) return; // a ground station's heartbeat forwarded by SITL
        this.firstHeartbeat?.();
        this.firstHeartbeat = null;
      }
      applyTelemetry(this.t, 'ardupilot', f.name, d);
      switch (f.name) {
        case 'SERVO_OUTPUT_RAW': {
          const release = this.params.get('GRIP_RELEASE') ?? 1100;
          if (this.t.payloadAttached && d.servo9Raw > 0 && d.servo9Raw <= release + 50) {
            this.t.payloadAttached = false;
            this.t.releasedAt = { lat: this.t.lat, lon: this.t.lon, altRelM: this.t.altRelM };
          }
          break;
        }
        case 'PARAM_VALUE': {
          const name = String((f.data as unknown as { paramId: string }).paramId);
          this.params.set(name, d.paramValue);
          if (name === 'SIM_BATT_CAP_AH') this.battCapAh = d.paramValue;
          if (name === 'SIM_BATT_VOLTAGE') this.battVoltage = d.paramValue;
          break;
        }
      }
    });
    s.on('data', (b) => dec.push(b));
    s.on('error', () => undefined);
    const hb = () => this.send(msg(minimal.Heartbeat, { type: 6, autopilot: 8, baseMode: 0, customMode: 0, systemStatus: 4 }));
    hb();
    this.hbTimer = setInterval(hb, 500);
    for (const [id, hz] of [[0, 1], [1, 2], [33, 10], [36, 10], [42, 2], [245, 2]]) {
      this.send(msg(common.CommandLong, { targetSystem: this.sysid, targetComponent: 1, command: 511, param1: id, param2: 1e6 / hz }));
    }
    this.send(msg(common.ParamRequestList, { targetSystem: this.sysid, targetComponent: 1 }));
  }

  truth(): SimTruth {
    return copyTruth(this.t);
  }
  getParam(name: string): number | undefined {
    return this.params.get(name);
  }
  setParam(name: string, value: number): void {
    this.params.set(name, value);
    this.send(msg(common.ParamSet, { targetSystem: this.sysid, targetComponent: 1, paramId: name, paramValue: value, paramType: 9 }));
  }
  inject(fault: SimFault): void {
    const pf = this.proxy?.faults;
    switch (fault.kind) {
      case 'link-loss':
      case 'packet-loss':
      case 'delay':
      case 'duplicate':
      case 'reorder':
        if (!pf) throw new SimError('SIM_UNKNOWN_FAULT', `fault '${fault.kind}' needs the fault proxy (start SITL with basePort 0)`);
        if (fault.kind === 'link-loss') pf.linkLoss = true;
        else if (fault.kind === 'packet-loss') pf.packetLossPct = fault.pct;
        else if (fault.kind === 'delay') pf.delayMs = fault.ms;
        else if (fault.kind === 'duplicate') pf.duplicatePct = fault.pct;
        else pf.reorderPct = fault.pct;
        return;
      case 'wind':
        this.setParam('SIM_WIND_SPD', fault.speedMps);
        this.setParam('SIM_WIND_DIR', fault.fromDeg);
        this.setParam('SIM_WIND_TURB', fault.gustMps ?? 0);
        return;
      case 'gps-loss':
        this.setParam('SIM_GPS1_ENABLE', 0);
        this.setParam('SIM_GPS_DISABLE', 1);
        return;
      case 'battery-sag':
        this.setParam('SIM_BATT_VOLTAGE', this.battVoltage * (1 - fault.pct / 100));
        return;
      case 'battery-set':
        this.send(msg(common.CommandLong, { targetSystem: this.sysid, targetComponent: 1, command: 42651, param1: 1, param2: fault.pct }));
        return;
      default:
        throw new SimError('SIM_UNKNOWN_FAULT', `fault '${fault.kind}' is not available on ArduPilot SITL (built-in simulator only)`);
    }
  }
  clearFault(kind: SimFault['kind']): void {
    const pf = this.proxy?.faults;
    switch (kind) {
      case 'link-loss':
      case 'packet-loss':
      case 'delay':
      case 'duplicate':
      case 'reorder':
        if (!pf) throw new SimError('SIM_UNKNOWN_FAULT', `fault '${kind}' needs the fault proxy (start SITL with basePort 0)`);
        clearLinkFault(pf, kind);
        return;
      case 'wind':
        this.setParam('SIM_WIND_SPD', 0);
        this.setParam('SIM_WIND_TURB', 0);
        return;
      case 'gps-loss':
        this.setParam('SIM_GPS1_ENABLE', 1);
        this.setParam('SIM_GPS_DISABLE', 0);
        return;
      case 'battery-sag':
        this.setParam('SIM_BATT_VOLTAGE', this.battVoltage);
        return;
      case 'battery-set':
        return;
      default:
        throw new SimError('SIM_UNKNOWN_FAULT', `fault '${kind}' is not available on ArduPilot SITL`);
    }
  }
  async reboot(): Promise<void> {
    this.send(msg(common.CommandLong, { targetSystem: this.sysid, targetComponent: 1, command: 246, param1: 1 }));
    void this.battCapAh;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.hbTimer) clearInterval(this.hbTimer);
    await this.proxy?.close();
    this.observer?.destroy();
    const c = this.child;
    if (c) await terminate(c, 3000, (sig) => c.kill(sig));
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}

/**
 * Start N ArduCopter SITL instances. basePort must be 5760 + 10·k (SITL derives ports from its
 * instance number); 0 picks the first k whose ports are free. Resolves once every instance listens.
 */
export async function startSitl(opts: SimOptions = {}): Promise<SimFleet & { kind: 'sitl'; speedup: number }> {
  if (!sitlAvailable()) throw new SimError('SITL_NOT_AVAILABLE', 'ARDUPILOT_SITL does not name an executable arducopter binary');
  validateOptions(opts);
  if (opts.personality === 'px4') throw new SimError('SIM_INVALID_OPTION', 'startSitl runs ArduPilot SITL; use startPx4Sitl (sims/px4-sitl.ts) for PX4');
  const n = opts.instances ?? 1;
  const host = opts.host ?? '127.0.0.1';
  const speedup = opts.speedup ?? 1;
  let first: number;
  if (opts.basePort === 0) {
    first = await firstFreeInstances(1, 200, n, async (I) => {
      let ok = true;
      for (const off of [0, 2, 3]) if (!(await portFree(5760 + 10 * I + off, '0.0.0.0'))) ok = false;
      return ok;
    });
    if (first < 0) throw new SimError('SIM_PORT_IN_USE', 'no free SITL instance ports found');
  } else {
    const bp = opts.basePort ?? 5760;
    if ((bp - 5760) % 10 !== 0 || bp < 5760) throw new SimError('SIM_INVALID_OPTION', `SITL ports are 5760 + 10·I; basePort ${bp} is not`);
    first = (bp - 5760) / 10;
  }
  const defaults = (process.env.ARDUPILOT_SITL_DEFAULTS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const instances: SitlInstance[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const I = first + i;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dropline-sitl-${I}-`));
      const parm = writeProjectParmFile(dir, opts.params ?? {});
      const h = opts.homes?.[i] ?? defaultHome(i);
      const sysid = (opts.sysidBase ?? 1) + i;
      const args = sitlArgs({ instance: I, sysid, speedup, home: { lat: h.lat, lon: h.lon, altAmslM: h.altAmslM ?? DEMO_HOME.altAmslM }, defaults: [...defaults, parm] });
      const inst = new SitlInstance(i, sysid, 5760 + 10 * I, I, host, dir, args, opts.basePort === 0);
      instances.push(inst);
      await inst.start(60000);
    }
  } catch (e) {
    await Promise.all(instances.map((x) => x.stop()));
    throw e;
  }
  return {
    kind: 'sitl',
    speedup,
    instances,
    async stop() {
      await Promise.all(instances.map((x) => x.stop()));
    },
  };
}
