/**
 * Launcher for real PX4 SITL (the built-in SIH quadcopter), used like the built-in simulator and
 * the ArduPilot SITL launcher (same `SimFleet` shape).
 *
 * `PX4_SITL` names the `px4` binary of a `px4_sitl_default` build; its start-up files are the `etc`
 * folder beside `bin/`. Instance I runs as
 *
 *   PX4_SIMULATOR=sihsim PX4_SIM_MODEL=sihsim_quadx PX4_SYS_AUTOSTART=10040
 *   PX4_HOME_LAT=… PX4_HOME_LON=… PX4_HOME_ALT=… [PX4_SIM_SPEED_FACTOR=S]
 *   PX4_PARAM_MAV_SYS_ID=<sysid> PX4_PARAM_<NAME>=<value>…
 *   px4 -d -i I -w <scratch dir> <etc dir>
 *
 * in its own process group and scratch directory (fresh parameters), so stop() can end PX4 and
 * everything its start-up script spawned, and remove the directory.
 *
 * Parameters. PX4's rcS (ROMFS/px4fmu_common/init.d-posix/rcS) sets MAV_SYS_ID to I + 1 on every
 * boot, then, after the airframe file and before any module starts, runs `param set NAME VALUE` for
 * every PX4_PARAM_NAME=VALUE of its environment. The launcher passes the sysid and the project's
 * parameters (PX4_PROJECT_PARAMS plus options.params) that way, and drops PX4_PARAM_* variables
 * inherited from its own environment.
 *
 * MAVLink ports. PX4's own `px4-rc.mavlink` starts the GCS link on UDP 18570+I sending to UDP 14550,
 * the same port for every instance (and the port QGroundControl listens on: a QGroundControl on this
 * machine would see every instance and could become PX4's partner before we do, because PX4 answers
 * whoever speaks first on a localhost link and never changes partner afterwards), plus offboard,
 * payload, gimbal and SIH display links. rcS sources `px4-rc.mavlink` through PATH ("user defined
 * mavlink streams for instances can be in PATH"), so the launcher puts its own first in PATH: one GCS
 * link, `mavlink start -x -u 18570+I -r 4000000 -t 127.0.0.1 -o R`, where R is a UDP port the launcher
 * owns for this instance on 127.0.0.1 (no 14550, no other links; no -p, so broadcast stays off).
 * PX4 still binds 18570+I on every address (mavlink has no bind-address option): run it in a private
 * network namespace on a machine with a network (sims/README.md).
 * The launcher also greets PX4 from R until the first HEARTBEAT, which makes it PX4's partner even
 * with a PX4 build that ignores the override (then PX4 still sends a little to 14550 until greeted).
 *
 * Each instance's `uri` is `udpout:<host>:P`: P is a second UDP port of the launcher, relaying frames
 * both ways (every client that sent to P in the last 60 s receives the vehicle's frames), applying the
 * link faults (link-loss, packet-loss, delay, duplicate, reorder) like FaultProxy does for ArduPilot,
 * and reading what truth() reports from the vehicle's own telemetry (PX4 SITL has no ground-truth API).
 * gps-loss and battery-set map onto SIH's simulated GPS and battery (SIM_GPS_USED, SIM_BAT_MIN_PCT; sims/px4-faults.ts);
 * the others (wind, battery-sag, release-failure) throw SimError 'SIM_UNKNOWN_FAULT'.
 */
import { DEMO_AIRFRAME_PX4_PARAMS } from './airframe';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dgram from 'dgram';
import { spawn, ChildProcess } from 'child_process';
import { MavlinkDecoder, MavlinkEncoder, Frame as MavFrame } from '../src/mavlink/codec';
import { msg, common } from '../src/mavlink/registry';
import { SimError, SimFault, SimFleet, SimInstance, SimOptions, SimTruth, defaultHome, validateOptions, DEMO_HOME, injectLinkFault, clearLinkFault, faultsInForce } from './index';
import { px4ClearActions, px4InjectActions, type Px4FaultAction } from './px4-faults';
import { FaultShaper, LinkFaults, NO_LINK_FAULTS } from './link';
import { OutputTail, afterOutput, applyTelemetry, copyTruth, firstFreeInstances, terminate } from './launcher';

/** PX4's SIH quadcopter airframe. */
export const PX4_SIH_AUTOSTART = 10040;
/** PX4 SITL instance I listens for its GCS link on UDP PX4_GCS_PORT_BASE + I. */
export const PX4_GCS_PORT_BASE = 18570;

/**
 * Parameters this project wants on every PX4 vehicle: data-link loss → Return (NAV_DLL_ACT 2), low
 * battery → Return, land at emergency level (COM_LOW_BAT_ACT 3), geofence breach → Return (GF_ACTION 3)
 * with a 120 m ceiling, a servo gripper (PD_GRIPPER_TYPE 0) on output 5 (PWM_MAIN_FUNC5 430 =
 * Gripper; outputs 1–4 are the SIH quad's motors). PX4 1.18 has no PD_GRIPPER_EN: the gripper exists
 * when its type is set and an output carries it. COM_DL_LOSS_T 10 s (PX4's default) replaces rcS's
 * 10 × PX4_SIM_SPEED_FACTOR: like ArduPilot's FS_GCS_TIMEOUT it counts the vehicle's (sim) seconds, and
 * Dropline's GCS heartbeats run at twice the speed-up (DESIGN: sim time).
 */
export const PX4_PROJECT_PARAMS: Record<string, number> = {
  NAV_DLL_ACT: 2,
  COM_DL_LOSS_T: 10,
  COM_LOW_BAT_ACT: 3,
  GF_ACTION: 3,
  GF_MAX_VER_DIST: 120,
  PD_GRIPPER_TYPE: 0,
  PWM_MAIN_FUNC5: 430,
  // The demo airframe's pack (6S 20 Ah): the vehicle profile's battery.
  ...DEMO_AIRFRAME_PX4_PARAMS,
};

export interface Px4SitlOptions extends SimOptions {
  /**
   * UDP port of instance 0's GCS link (instance I of PX4 listens on 18570 + I). Default
   * 18570 + sysidBase − 1, so that sysid = I + 1 as PX4 numbers them. 0 = the first free instances.
   */
  basePort?: number;
  /** Wall ms to wait for each instance's first HEARTBEAT. Default 60000. */
  readyTimeoutMs?: number;
  /** The px4 binary. Default: PX4_SITL. */
  bin?: string;
}

/** The px4 binary named by PX4_SITL and the `etc` folder beside its `bin/`, or why they are unusable. */
export function px4SitlPaths(bin: string | undefined = process.env.PX4_SITL): { ok: true; bin: string; etcDir: string } | { ok: false; message: string } {
  if (!bin) return { ok: false, message: 'PX4_SITL is not set (it must name the px4 binary of a px4_sitl_default build)' };
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    if (!fs.statSync(bin).isFile()) return { ok: false, message: `PX4_SITL=${bin} is not a file` };
  } catch {
    return { ok: false, message: `PX4_SITL=${bin} is not an executable file` };
  }
  const etcDir = path.resolve(path.dirname(path.resolve(bin)), '..', 'etc');
  try {
    if (!fs.statSync(etcDir).isDirectory()) return { ok: false, message: `${etcDir} (PX4's start-up files beside bin/) is not a folder` };
  } catch {
    return { ok: false, message: `PX4's start-up files ${etcDir} (the etc folder beside bin/) are missing` };
  }
  return { ok: true, bin: path.resolve(bin), etcDir };
}

/** True when PX4_SITL names an executable px4 binary with its `etc` folder beside `bin/`. */
export function px4SitlAvailable(): boolean {
  return px4SitlPaths().ok;
}

export interface Px4LaunchInput {
  bin: string;
  etcDir: string;
  /** PX4 instance number I (-i I); its GCS link listens on UDP 18570 + I. */
  instance: number;
  /** Scratch directory (-w); the px4-rc.mavlink override goes to `<workDir>/rc`. */
  workDir: string;
  home: { lat: number; lon: number; altAmslM: number };
  speedup: number;
  sysid: number;
  /** UDP port on 127.0.0.1 that PX4's GCS link sends to. */
  gcsRemotePort: number;
  params: Record<string, number>;
  /** Environment to extend. Default process.env. */
  baseEnv?: NodeJS.ProcessEnv;
}

export interface Px4LaunchSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Directory prepended to PATH, holding `files`. */
  rcDir: string;
  /** File name → content, written to rcDir before start. */
  files: Record<string, string>;
}

const PARAM_NAME = /^[A-Z][A-Z0-9_]{0,15}$/;

/** Build the command line, environment (with the parameters) and the px4-rc.mavlink override for one PX4 SIH instance (pure; nothing is written). */
export function px4SitlCommand(p: Px4LaunchInput): Px4LaunchSpec {
  if (!Number.isInteger(p.instance) || p.instance < 0 || PX4_GCS_PORT_BASE + p.instance > 65535) throw new SimError('SIM_INVALID_OPTION', `PX4 instance must be an integer ≥ 0, got ${p.instance}`);
  if (!Number.isInteger(p.gcsRemotePort) || p.gcsRemotePort < 1 || p.gcsRemotePort > 65535) throw new SimError('SIM_INVALID_OPTION', `gcsRemotePort out of range: ${p.gcsRemotePort}`);
  if (!Number.isInteger(p.sysid) || p.sysid < 1 || p.sysid > 254) throw new SimError('SIM_INVALID_OPTION', `sysid must be 1..254, got ${p.sysid}`);
  const all: Record<string, number> = { ...p.params, MAV_SYS_ID: p.sysid };
  for (const [k, v] of Object.entries(all)) {
    // PX4's start-up script hands these to `param set`: names and numbers only.
    if (!PARAM_NAME.test(k)) throw new SimError('SIM_INVALID_OPTION', `invalid PX4 parameter name '${k}'`);
    if (!Number.isFinite(v)) throw new SimError('SIM_INVALID_OPTION', `parameter ${k} must be a finite number, got ${v}`);
  }
  const local = PX4_GCS_PORT_BASE + p.instance;
  const rcDir = path.join(p.workDir, 'rc');
  const base = p.baseEnv ?? process.env;
  const env: NodeJS.ProcessEnv = {};
  // Parameters reach PX4 only through this launcher: none inherited from the caller's environment.
  for (const [k, v] of Object.entries(base)) if (!k.startsWith('PX4_PARAM_')) env[k] = v;
  Object.assign(env, {
    PATH: base.PATH ? `${rcDir}:${base.PATH}` : rcDir,
    PX4_SIMULATOR: 'sihsim',
    PX4_SIM_MODEL: 'sihsim_quadx',
    PX4_SYS_AUTOSTART: String(PX4_SIH_AUTOSTART),
    PX4_HOME_LAT: String(p.home.lat),
    PX4_HOME_LON: String(p.home.lon),
    PX4_HOME_ALT: String(p.home.altAmslM),
  });
  if (p.speedup !== 1) env.PX4_SIM_SPEED_FACTOR = String(p.speedup);
  else delete env.PX4_SIM_SPEED_FACTOR;
  // rcS sets MAV_SYS_ID to instance + 1 on every boot, then (after the airframe, before any module
  // starts) applies each PX4_PARAM_<NAME>=<value> of its environment with `param set`.
  for (const [k, v] of Object.entries(all)) env[`PX4_PARAM_${k}`] = String(v);
  const mavlink = [
    '#!/bin/sh',
    `# GCS link of PX4 instance ${p.instance}: UDP ${local} (PX4 binds it on every address), partner 127.0.0.1:${p.gcsRemotePort}`,
    '# (the launcher); no broadcast option, so broadcast stays off. No offboard, payload, gimbal or SIH display links.',
    `mavlink start -x -u ${local} -r 4000000 -t 127.0.0.1 -o ${p.gcsRemotePort}`,
    '',
  ].join('\n');
  return {
    command: p.bin,
    args: ['-d', '-i', String(p.instance), '-w', p.workDir, p.etcDir],
    env,
    rcDir,
    files: { 'px4-rc.mavlink': mavlink },
  };
}

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

function bindUdp(host: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      s.removeListener('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
  });
}

/** Process groups still running, ended if this process exits without stop(). */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const g of liveGroups) {
        try {
          process.kill(-g, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
  }
}

function int32FromFloatBits(f: number): number {
  const b = Buffer.alloc(4);
  b.writeFloatLE(f, 0);
  return b.readInt32LE(0);
}
function floatBitsFromInt32(i: number): number {
  const b = Buffer.alloc(4);
  b.writeInt32LE(i | 0, 0);
  return b.readFloatLE(0);
}

/** MAV_PARAM_TYPE of PX4's integer parameters (the others are REAL32). */
const PARAM_INT32 = 6;

export class Px4SitlInstance implements SimInstance {
  uri = '';
  /** The UDP port clients send to (also in `uri`). */
  tcpPort = 0;
  /** PX4's own GCS port, 18570 + I. */
  readonly px4Port: number;
  readonly faults: LinkFaults = { ...NO_LINK_FAULTS };
  private child: ChildProcess | null = null;
  private vehicleSock: dgram.Socket | null = null;
  private clientSock: dgram.Socket | null = null;
  private readonly clients = new Map<string, { address: string; port: number; lastMs: number }>();
  private readonly enc = new MavlinkEncoder({ sysid: 254, compid: 191 });
  private readonly params = new Map<string, { value: number; type: number }>();
  private readonly pendingSets = new Map<string, number>();
  private readonly t: SimTruth = { lat: 0, lon: 0, altRelM: 0, altAmslM: 0, armed: false, mode: 'UNKNOWN', groundSpeedMps: 0, batteryPct: 100, voltageV: 0, landed: true, payloadAttached: true, releasedAt: null, missionSeq: 0 };
  private helloTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private closed = false;
  private output: OutputTail | null = null;
  private heartbeatSeen: (() => void) | null = null;
  private gotHeartbeat = false;

  constructor(
    readonly index: number,
    readonly sysid: number,
    readonly instanceNo: number,
    private readonly host: string,
    private readonly workDir: string,
    private readonly input: Omit<Px4LaunchInput, 'gcsRemotePort' | 'workDir' | 'instance' | 'sysid'>,
  ) {
    this.px4Port = PX4_GCS_PORT_BASE + instanceNo;
  }

  /** Last lines PX4 printed (stdout and stderr). */
  get log(): string {
    return this.output?.text ?? '';
  }

  async start(readyTimeoutMs: number): Promise<void> {
    const vehicleSock = await bindUdp('127.0.0.1');
    this.vehicleSock = vehicleSock;
    const clientSock = await bindUdp(this.host);
    this.clientSock = clientSock;
    this.tcpPort = clientSock.address().port;
    this.uri = `udpout:${this.host}:${this.tcpPort}`;
    const random = Math.random;
    const toClients = new FaultShaper(() => this.faults, random, (b) => this.sendToClients(b), () => this.closed);
    const toVehicle = new FaultShaper(() => this.faults, random, (b) => this.sendToVehicle(b), () => this.closed);
    const fromVehicle = new MavlinkDecoder((f) => {
      this.observe(f);
      toClients.push(f.raw);
    });
    const fromClients = new MavlinkDecoder((f) => toVehicle.push(f.raw));
    vehicleSock.on('message', (b, rinfo) => {
      if (rinfo.port === this.px4Port) fromVehicle.push(b);
    });
    clientSock.on('message', (b, rinfo) => {
      const key = `${rinfo.address}:${rinfo.port}`;
      const c = this.clients.get(key);
      if (c) c.lastMs = Date.now();
      else this.clients.set(key, { address: rinfo.address, port: rinfo.port, lastMs: Date.now() });
      fromClients.push(b);
    });

    const spec = px4SitlCommand({ ...this.input, instance: this.instanceNo, workDir: this.workDir, sysid: this.sysid, gcsRemotePort: vehicleSock.address().port });
    fs.mkdirSync(spec.rcDir, { recursive: true });
    for (const [name, content] of Object.entries(spec.files)) fs.writeFileSync(path.join(spec.rcDir, name), content, { mode: 0o755 });

    const child = spawn(spec.command, spec.args, { cwd: this.workDir, env: spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    if (child.pid !== undefined) trackGroup(child.pid);
    const output = new OutputTail(child);
    this.output = output;

    // Greet PX4 until it answers, so that this launcher is its partner on the GCS link.
    const hello = () => this.sendToVehicle(this.enc.encode(msg(common.CommandLong, { targetSystem: this.sysid, targetComponent: 1, command: 512, param1: 148 })));
    hello();
    this.helloTimer = setInterval(hello, 500);

    const ready = new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const settle = (e?: Error) => {
        if (timer) clearTimeout(timer);
        this.heartbeatSeen = null;
        if (e) reject(e);
        else resolve();
      };
      this.heartbeatSeen = () => settle();
      child.once('error', (e) => settle(new SimError('SITL_START_FAILED', `PX4 SITL instance ${this.index} could not start ${spec.command}: ${e.message}`)));
      child.once('exit', (code, signal) => {
        if (child.pid !== undefined) liveGroups.delete(child.pid);
        if (!this.stopping && !this.gotHeartbeat) {
          // 'exit' can come before the last output is read: wait for the pipes to close (briefly).
          afterOutput(child, () => settle(new SimError('SITL_START_FAILED', `PX4 SITL instance ${this.index} exited with ${signal ? `signal ${signal}` : `code ${code}`} before answering on UDP ${this.px4Port}${output.suffix()}`)));
        }
      });
      timer = setTimeout(
        () => settle(new SimError('SITL_START_FAILED', `PX4 SITL instance ${this.index} sent no HEARTBEAT (sysid ${this.sysid}) on UDP ${this.px4Port} within ${readyTimeoutMs} ms${output.suffix()}`)),
        readyTimeoutMs,
      );
    });
    await ready;
  }

  private sendToVehicle(b: Buffer): void {
    if (this.closed || !this.vehicleSock) return;
    this.vehicleSock.send(b, this.px4Port, '127.0.0.1', () => undefined);
  }

  private sendToClients(b: Buffer): void {
    if (this.closed || !this.clientSock) return;
    const now = Date.now();
    for (const [k, c] of this.clients) {
      if (now - c.lastMs > 60000) {
        this.clients.delete(k);
        continue;
      }
      this.clientSock.send(b, c.port, c.address, () => undefined);
    }
  }

  private observe(f: MavFrame): void {
    if (f.sysid !== this.sysid || !f.data) return;
    const d = f.data as unknown as Record<string, number>;
    if (f.name === 'HEARTBEAT') {
      if (d.type === 6) return; // another ground station's heartbeat relayed by PX4
      if (!this.gotHeartbeat) {
        this.gotHeartbeat = true;
        if (this.helloTimer) clearInterval(this.helloTimer);
        this.helloTimer = null;
        this.heartbeatSeen?.();
      }
    }
    applyTelemetry(this.t, 'px4', f.name, d);
    switch (f.name) {
      case 'PARAM_VALUE': {
        const name = String((f.data as unknown as { paramId: string }).paramId);
        const type = d.paramType;
        const value = type === PARAM_INT32 ? int32FromFloatBits(d.paramValue) : d.paramValue;
        this.params.set(name, { value, type });
        const want = this.pendingSets.get(name);
        if (want !== undefined) {
          this.pendingSets.delete(name);
          if (want !== value) this.sendParamSet(name, want, type);
        }
        break;
      }
    }
  }

  private sendParamSet(name: string, value: number, type: number): void {
    const paramValue = type === PARAM_INT32 ? floatBitsFromInt32(Math.round(value)) : value;
    this.sendToVehicle(this.enc.encode(msg(common.ParamSet, { targetSystem: this.sysid, targetComponent: 1, paramId: name, paramValue, paramType: type })));
  }

  truth(): SimTruth {
    return copyTruth(this.t);
  }
  /** Last value PX4 reported for the parameter (PARAM_VALUE seen on the link), if any. */
  getParam(name: string): number | undefined {
    return this.params.get(name)?.value;
  }
  /** Set a parameter over MAVLink; when its type is not known yet it is read first (PX4 refuses a wrong type). */
  setParam(name: string, value: number): void {
    if (!PARAM_NAME.test(name) || !Number.isFinite(value)) throw new SimError('SIM_INVALID_OPTION', `invalid parameter ${name}=${value}`);
    const known = this.params.get(name);
    if (known) {
      known.value = value;
      this.sendParamSet(name, value, known.type);
      return;
    }
    this.pendingSets.set(name, value);
    this.sendToVehicle(this.enc.encode(msg(common.ParamRequestRead, { targetSystem: this.sysid, targetComponent: 1, paramId: name, paramIndex: -1 })));
  }
  /** Values to put back when a fault is cleared (sims/px4-faults.ts). */
  private readonly restore: Record<string, number> = {};
  private readonly vehicleFaults = new Map<SimFault['kind'], SimFault>();
  inject(fault: SimFault): void {
    if (injectLinkFault(this.faults, fault)) return;
    const r = px4InjectActions(fault, (n) => (this.vehicleFaults.has(fault.kind) ? undefined : this.getParam(n)));
    if (r.restore && !this.vehicleFaults.has(fault.kind)) Object.assign(this.restore, r.restore);
    this.px4Actions(r.actions);
    this.vehicleFaults.set(fault.kind, fault);
  }
  clearFault(kind: SimFault['kind']): void {
    if (clearLinkFault(this.faults, kind)) return;
    this.px4Actions(px4ClearActions(kind, this.restore));
    this.vehicleFaults.delete(kind);
  }
  /** The faults in force: the relay's link faults and those sent to PX4. */
  activeFaults(): SimFault[] {
    return [...faultsInForce(this.faults, { gpsLoss: false, batterySagPct: 0, releaseFailure: false, wind: null }), ...this.vehicleFaults.values()];
  }
  private px4Actions(actions: Px4FaultAction[]): void {
    for (const a of actions) this.setParam(a.param, a.value);
  }
  /** MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN. PX4 SITL shuts its process down on reboot rather than restarting. */
  async reboot(): Promise<void> {
    this.sendToVehicle(this.enc.encode(msg(common.CommandLong, { targetSystem: this.sysid, targetComponent: 1, command: 246, param1: 1 })));
  }

  /** End PX4's process group (SIGTERM, then SIGKILL after 5 s), close the relay, remove the scratch directory. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.helloTimer) clearInterval(this.helloTimer);
    this.helloTimer = null;
    const c = this.child;
    if (c && c.pid !== undefined) {
      const pid = c.pid;
      const signalGroup = (sig: NodeJS.Signals) => {
        try {
          process.kill(-pid, sig);
        } catch {
          /* group already gone */
        }
      };
      await terminate(c, 5000, signalGroup);
      // Anything the start-up script left behind in the group.
      signalGroup('SIGKILL');
      liveGroups.delete(pid);
    }
    this.closed = true;
    for (const s of [this.vehicleSock, this.clientSock]) {
      try {
        s?.close();
      } catch {
        /* already closed */
      }
    }
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}

/**
 * Start N PX4 SIH quadcopters. Resolves once each has sent a HEARTBEAT; on any failure every instance
 * already started is stopped and the error (SimError 'SITL_NOT_AVAILABLE' or 'SITL_START_FAILED')
 * is thrown.
 */
export async function startPx4Sitl(opts: Px4SitlOptions = {}): Promise<SimFleet & { kind: 'px4-sitl'; speedup: number; instances: Px4SitlInstance[] }> {
  const paths = px4SitlPaths(opts.bin ?? process.env.PX4_SITL);
  if (!paths.ok) throw new SimError('SITL_NOT_AVAILABLE', paths.message);
  if (opts.personality && opts.personality !== 'px4') throw new SimError('SIM_INVALID_OPTION', `startPx4Sitl runs PX4; personality '${opts.personality}' is not PX4`);
  if (opts.udpOut) throw new SimError('SIM_INVALID_OPTION', 'udpOut is not supported by the PX4 SITL launcher (clients send to each instance\'s uri)');
  validateOptions({ ...opts, personality: 'px4', basePort: 0 });
  const n = opts.instances ?? 1;
  const host = opts.host ?? '127.0.0.1';
  const speedup = opts.speedup ?? 1;
  const sysidBase = opts.sysidBase ?? 1;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60000;
  let first: number;
  if (opts.basePort === 0) {
    first = await firstFreeInstances(0, 1000, n, (k) => udpPortFree(PX4_GCS_PORT_BASE + k));
    if (first < 0) throw new SimError('SIM_PORT_IN_USE', 'no free PX4 SITL instance ports found');
  } else {
    const bp = opts.basePort ?? PX4_GCS_PORT_BASE + sysidBase - 1;
    if (!Number.isInteger(bp) || bp < PX4_GCS_PORT_BASE || bp + n - 1 > 65535) throw new SimError('SIM_INVALID_OPTION', `PX4 SITL ports are ${PX4_GCS_PORT_BASE} + I; basePort ${bp} is not`);
    first = bp - PX4_GCS_PORT_BASE;
  }
  const params = { ...PX4_PROJECT_PARAMS, ...(opts.params ?? {}) };
  const instances: Px4SitlInstance[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const h = opts.homes?.[i] ?? defaultHome(i);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dropline-px4-${first + i}-`));
      const inst = new Px4SitlInstance(i, sysidBase + i, first + i, host, dir, {
        bin: paths.bin, etcDir: paths.etcDir, home: { lat: h.lat, lon: h.lon, altAmslM: h.altAmslM ?? DEMO_HOME.altAmslM }, speedup, params,
      });
      instances.push(inst);
      await inst.start(readyTimeoutMs);
    }
  } catch (e) {
    await Promise.all(instances.map((x) => x.stop().catch(() => undefined)));
    throw e;
  }
  return {
    kind: 'px4-sitl',
    speedup,
    instances,
    async stop() {
      await Promise.all(instances.map((x) => x.stop()));
    },
  };
}
