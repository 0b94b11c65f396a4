/**
 * Launcher for real ArduPilot SITL (ArduCopter), used exactly like the built-in simulator.
 *
 * `ARDUPILOT_SITL` names the `arducopter` binary; `ARDUPILOT_SITL_DEFAULTS` optionally lists
 * ArduPilot's own default parameter files (comma-separated, e.g. Tools/autotest/default_params/copter.parm).
 * Each instance runs as `arducopter --model quad --home LAT,LON,ALT,0 --speedup S -I I --sysid ID
 * --defaults FILES,<project parm> --serial0 tcpclient:127.0.0.1:R --serial1 tcpclient:127.0.0.1:O
 * --serial2 none|udpclient:HOST:PORT` in its own scratch directory (fresh EEPROM).
 *
 * SITL would listen for its TCP serial ports (5760, 5762, 5763 + 10·I) on every interface, with no
 * option to bind them to loopback. So it connects out instead, to two servers the launcher runs on
 * 127.0.0.1: a SitlRelay (sims/sitl-relay.ts) on SERIAL0, whose client port (loopback by default) is
 * the instance's `uri` for ground stations, and the launcher's own observer on SERIAL1, which reads
 * what `truth()` reports (as the vehicle reports it over MAVLink: SITL has no ground-truth API) and
 * gets and sets parameters. SERIAL2 is off, or sends to `udpOut` (port + i) like SITL's `--out`.
 * What SITL still binds on every interface: UDP 5501 + 10·I, its RC input (sims/README.md).
 *
 * Faults on SITL: link faults (link-loss, packet-loss, delay, duplicate, reorder) in the relay, so
 * SITL and the built-in simulator take the same faults; the others map to SIM_* parameters where
 * ArduPilot has one: wind → SIM_WIND_SPD / SIM_WIND_DIR / SIM_WIND_TURB; gps-loss → SIM_GPS1_ENABLE 0
 * (and the older SIM_GPS_DISABLE 1); battery-sag → SIM_BATT_VOLTAGE lowered by pct; battery-set →
 * MAV_CMD_BATTERY_RESET; adsb-traffic (with `adsbReceiver`) to the launcher's ADS-B receiver on
 * SERIAL1 (sims/adsb-receiver.ts), which reports the aircraft as a MAVLink receiver would and
 * ArduPilot relays it on its ADSB stream. release-failure has no SITL equivalent (SimError SIM_UNKNOWN_FAULT).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as net from 'net';
import * as dgram from 'dgram';
import { spawn, ChildProcess } from 'child_process';
import { MavlinkDecoder, MavlinkEncoder } from '../src/mavlink/codec';
import { msg, common, minimal } from '../src/mavlink/registry';
import { SimError, SimFault, SimFleet, SimInstance, SimOptions, SimTruth, defaultHome, validateOptions, DEMO_HOME, clearLinkFault, injectLinkFault, parseUdpOut, faultsInForce } from './index';
import { SitlRelay } from './sitl-relay';
import { DEMO_AIRFRAME_PARAMS } from './airframe';
import { OutputTail, afterOutput, applyTelemetry, copyTruth, firstFreeInstances, terminate } from './launcher';
import { AdsbReceiver, ADSB_RECEIVER_PARAMS } from './adsb-receiver';
import type { OwnShip } from './adsb-traffic';

/** Parameters this project wants on every vehicle it flies: failsafes on, gripper on SERVO9, fence on (no circle), the demo airframe's pack. */
export const PROJECT_PARAMS: Record<string, number> = {
  FS_GCS_ENABLE: 1,
  FS_GCS_TIMEOUT: 5,
  // Continue a landing on GCS loss (8), but not in AUTO (2) nor in pilot-controlled modes (16, the
  // default): BRAKE, the product's HOLD, is one, and a held vehicle must come home when nobody can command it.
  FS_OPTIONS: 8,
  FS_EKF_ACTION: 1,
  BATT_FS_LOW_ACT: 2,
  BATT_FS_CRT_ACT: 1,
  // The demo airframe's pack (6S 20 Ah) and its voltage thresholds: the vehicle profile's battery.
  ...DEMO_AIRFRAME_PARAMS,
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

/** True when `bin` (default: ARDUPILOT_SITL) names an executable file. */
export function sitlAvailable(bin: string | undefined = process.env.ARDUPILOT_SITL): boolean {
  if (!bin) return false;
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return fs.statSync(bin).isFile();
  } catch {
    return false;
  }
}

/** True when UDP `port` can be bound on every interface (SITL's RC input of an instance). */
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

/** Write the project's parameter file (plus overrides) and return its path. */
export function writeProjectParmFile(dir: string, overrides: Record<string, number> = {}): string {
  const all = { ...PROJECT_PARAMS, ...overrides };
  const file = path.join(dir, 'dropline.parm');
  fs.writeFileSync(file, Object.entries(all).map(([k, v]) => `${k} ${v}`).join('\n') + '\n');
  return file;
}

/** SITL's RC input port for instance I (UDP, bound on every interface by SITL itself). */
export function sitlRcInPort(instance: number): number {
  return 5501 + 10 * instance;
}

/**
 * ArduCopter SITL's command line for instance I (pure): `--model quad --home LAT,LON,ALT,YAW
 * --speedup S -I I --sysid ID --defaults FILES --serial0 tcpclient:127.0.0.1:R --serial1
 * tcpclient:127.0.0.1:O --serial2 none` (or `udpclient:HOST:PORT` for udpOut). SITL connects out to
 * the relay (R) and the observer (O) and listens on no TCP port; later defaults files override
 * earlier ones, so the project's file goes last. Yaw defaults to 0 (north).
 */
export function sitlArgs(p: {
  instance: number;
  sysid: number;
  speedup: number;
  home: { lat: number; lon: number; altAmslM: number; yawDeg?: number };
  defaults: string[];
  relayPort: number;
  observerPort: number;
  udpOut?: { host: string; port: number };
  /**
   * SITL's simulated ADS-B receiver (SIM_ADSB_COUNT ≥ 0 makes SITL take SERIAL1 for it, whatever its
   * device string says): SERIAL1 is left to it and the observer moves to SERIAL2 (so no udpOut).
   */
  simAdsb?: boolean;
  /**
   * The launcher's ADS-B receiver (sims/adsb-receiver.ts) listening on this loopback port: SERIAL1
   * connects to it, and the observer moves to SERIAL2 (so no udpOut).
   */
  adsbReceiverPort?: number;
}): string[] {
  if (!Number.isInteger(p.instance) || p.instance < 0) throw new SimError('SIM_INVALID_OPTION', `SITL instance must be an integer ≥ 0, got ${p.instance}`);
  if (p.defaults.some((f) => f.includes(','))) throw new SimError('SIM_INVALID_OPTION', 'SITL defaults file paths must not contain commas');
  for (const port of [p.relayPort, p.observerPort]) if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SimError('SIM_INVALID_OPTION', `SITL relay ports must be 1..65535, got ${port}`);
  const args = ['--model', 'quad', '--home', `${p.home.lat},${p.home.lon},${p.home.altAmslM},${p.home.yawDeg ?? 0}`, '--speedup', String(p.speedup), '-I', String(p.instance), '--sysid', String(p.sysid)];
  if (p.defaults.length) args.push('--defaults', p.defaults.join(','));
  if (p.adsbReceiverPort !== undefined) {
    const port = p.adsbReceiverPort;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SimError('SIM_INVALID_OPTION', `SITL ADS-B receiver port must be 1..65535, got ${port}`);
    if (p.simAdsb) throw new SimError('SIM_INVALID_OPTION', "SITL's simulated ADS-B and the ADS-B receiver both need SERIAL1");
    if (p.udpOut) throw new SimError('SIM_INVALID_OPTION', 'SITL with an ADS-B receiver has no SERIAL2 left for udpOut');
    args.push('--serial0', `tcpclient:127.0.0.1:${p.relayPort}`, '--serial1', `tcpclient:127.0.0.1:${port}`, '--serial2', `tcpclient:127.0.0.1:${p.observerPort}`);
    return args;
  }
  if (p.simAdsb) {
    if (p.udpOut) throw new SimError('SIM_INVALID_OPTION', 'SITL with simulated ADS-B traffic has no SERIAL2 left for udpOut');
    args.push('--serial0', `tcpclient:127.0.0.1:${p.relayPort}`, '--serial1', 'sim:adsb', '--serial2', `tcpclient:127.0.0.1:${p.observerPort}`);
    return args;
  }
  args.push('--serial0', `tcpclient:127.0.0.1:${p.relayPort}`, '--serial1', `tcpclient:127.0.0.1:${p.observerPort}`);
  args.push('--serial2', p.udpOut ? `udpclient:${p.udpOut.host}:${p.udpOut.port}` : 'none');
  return args;
}

class SitlInstance implements SimInstance {
  uri = '';
  tcpPort = 0;
  readonly relay: SitlRelay;
  private observerServer: net.Server | null = null;
  private child: ChildProcess | null = null;
  private observer: net.Socket | null = null;
  private readonly enc: MavlinkEncoder;
  private readonly params = new Map<string, number>();
  private readonly t: SimTruth;
  private hbTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private firstHeartbeat: (() => void) | null = null;
  private battVoltage = 12.6;
  /** Heartbeats seen on the observer link since start (grows again after a reboot). */
  heartbeats = 0;
  /** The launcher's ADS-B receiver on SERIAL1 (adsbReceiver), else null. */
  readonly adsb: AdsbReceiver | null;
  /** The autopilot's clock from its telemetry: time_boot_ms, kept monotonic across reboots. */
  private clock: { baseS: number; lastS: number } | null = null;
  /** Velocity north/east (m/s) and heading (deg) from GLOBAL_POSITION_INT. */
  private motion = { vn: 0, ve: 0, yawDeg: 0, seen: false };

  constructor(
    readonly index: number,
    readonly sysid: number,
    /** SITL's instance number (-I): it sets the RC input port 5501 + 10·I. */
    readonly instanceNo: number,
    private readonly host: string,
    private readonly port: number,
    private readonly workDir: string,
    private readonly argsFor: (relayPort: number, observerPort: number, adsbReceiverPort?: number) => string[],
    private readonly bin: string,
    adsbReceiver = false,
  ) {
    this.relay = new SitlRelay({ host, port });
    this.enc = new MavlinkEncoder({ sysid: 254, compid: 191 });
    this.adsb = adsbReceiver ? new AdsbReceiver({ sysid, clockS: () => this.vehicleClockS(), ownShip: () => this.ownShip() }) : null;
    this.t = { lat: 0, lon: 0, altRelM: 0, altAmslM: 0, armed: false, mode: 'STABILIZE', groundSpeedMps: 0, batteryPct: 100, voltageV: 0, landed: true, payloadAttached: true, releasedAt: null, missionSeq: 0 };
  }

  async start(timeoutMs: number): Promise<void> {
    const bin = this.bin;
    // Both servers listen before SITL starts: it connects out during its start-up and exits when it cannot.
    this.tcpPort = await this.relay.start();
    this.uri = `tcp:${this.host}:${this.tcpPort}`;
    const obs = net.createServer((s) => this.observe(s));
    this.observerServer = obs;
    const observerPort = await new Promise<number>((resolve, reject) => {
      obs.once('error', reject);
      obs.listen(0, '127.0.0.1', () => resolve((obs.address() as net.AddressInfo).port));
    });
    const receiverPort = this.adsb ? await this.adsb.listen() : undefined;
    const args = this.argsFor(this.relay.vehiclePort, observerPort, receiverPort);
    this.child = spawn(bin, args, { cwd: this.workDir, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    // SITL prints its start-up errors ("Vehicle model (x) not found", bad options) on stdout.
    const output = new OutputTail(this.child);
    const exited = new Promise<never>((_, reject) => {
      this.child!.once('error', (e) => reject(new SimError('SITL_START_FAILED', `SITL instance ${this.index} could not start ${bin}: ${e.message}`)));
      this.child!.once('exit', (code, signal) => {
        if (!this.stopping) afterOutput(this.child!, () => reject(new SimError('SITL_START_FAILED', `SITL instance ${this.index} exited with ${signal ? `signal ${signal}` : `code ${code}`}${output.suffix()}`)));
      });
    });
    exited.catch(() => undefined);
    // Ready once the vehicle's HEARTBEAT arrives on the observer link.
    const heartbeat = new Promise<boolean>((resolve) => {
      this.firstHeartbeat = () => resolve(true);
      setTimeout(() => resolve(false), timeoutMs).unref?.();
    });
    const ok = await Promise.race([heartbeat, exited]);
    if (ok && (await Promise.race([this.relay.waitVehicle(Math.max(1000, timeoutMs / 2)), exited]))) return;
    const what = !this.observer ? 'did not connect to the launcher' : !this.relay.vehicleConnected ? 'did not connect SERIAL0 to the relay' : `sent no HEARTBEAT (sysid ${this.sysid})`;
    throw new SimError('SITL_START_FAILED', `SITL instance ${this.index} ${what} within ${timeoutMs} ms${output.suffix()}`);
  }

  private send(m: Parameters<MavlinkEncoder['encode']>[0]): void {
    if (this.observer && !this.observer.destroyed) this.observer.write(this.enc.encode(m));
  }

  /** SITL connected its SERIAL1 to the launcher (at start, and again after every reboot). */
  private observe(s: net.Socket): void {
    if (this.stopping) {
      s.destroy();
      return;
    }
    this.observer?.destroy();
    this.observer = s;
    s.setNoDelay(true);
    const paramIndices = new Set<number>();
    let paramCount = 0;
    let gotPosition = false;
    let askedAt = 0;
    let ratesAskedAt = 0;
    let lastParamAt = 0;
    const paramsComplete = () => paramCount > 0 && paramIndices.size >= paramCount;
    // Stream rates are per link and lost on reboot: ask on every connection. SITL connects during its
    // start-up, when a request can go unanswered or a parameter list be cut short: ask again (on its
    // heartbeats, 3 s after the last answer) until every parameter came, and for the position streams
    // every second until they come (the ADS-B receiver runs on the clock they carry).
    const askRates = () => {
      ratesAskedAt = Date.now();
      for (const [id, hz] of [[0, 1], [1, 2], [33, 10], [36, 10], [42, 2], [245, 2]]) {
        this.send(msg(common.CommandLong, { targetSystem: this.sysid, targetComponent: 1, command: 511, param1: id, param2: 1e6 / hz }));
      }
    };
    const ask = () => {
      askedAt = Date.now();
      if (!gotPosition) askRates();
      if (!paramsComplete()) this.send(msg(common.ParamRequestList, { targetSystem: this.sysid, targetComponent: 1 }));
    };
    const dec = new MavlinkDecoder((f) => {
      // The autopilot only: other components of the vehicle (the ADS-B receiver's heartbeat) are forwarded too.
      if (f.sysid !== this.sysid || f.compid !== 1 || !f.data) return;
      const d = f.data as unknown as Record<string, number>;
      if (f.name === 'HEARTBEAT') {
        if (d.type === 6) return; // a ground station's heartbeat forwarded by SITL
        this.heartbeats++;
        this.firstHeartbeat?.();
        this.firstHeartbeat = null;
        const now = Date.now();
        if ((!paramsComplete() || !gotPosition) && now - askedAt > 3000 && now - lastParamAt > 3000) ask();
        else if (!gotPosition && now - ratesAskedAt > 1000) askRates();
      }
      if (f.name === 'PARAM_VALUE') {
        lastParamAt = Date.now();
        paramCount = d.paramCount;
        if (d.paramIndex !== 0xffff) paramIndices.add(d.paramIndex);
      }
      if (f.name === 'GLOBAL_POSITION_INT') {
        gotPosition = true;
        this.tickClock(d.timeBootMs);
        this.motion = { vn: d.vx / 100, ve: d.vy / 100, yawDeg: d.hdg === 65535 ? this.motion.yawDeg : d.hdg / 100, seen: true };
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
          if (name === 'SIM_BATT_VOLTAGE') this.battVoltage = d.paramValue;
          break;
        }
      }
    });
    s.on('data', (b) => {
      if (this.observer === s) dec.push(b);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.observer === s) this.observer = null;
    });
    const hb = () => this.send(msg(minimal.Heartbeat, { type: 6, autopilot: 8, baseMode: 0, customMode: 0, systemStatus: 4 }));
    hb();
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = setInterval(hb, 500);
    ask();
  }

  private tickClock(timeBootMs: number): void {
    const s = timeBootMs / 1000;
    if (!this.clock) this.clock = { baseS: 0, lastS: s };
    else if (s < this.clock.lastS) this.clock.baseS += this.clock.lastS; // rebooted: its clock starts again
    this.clock.lastS = s;
  }

  /** The autopilot's clock, s since this instance started (null until it reported a position). */
  vehicleClockS(): number | null {
    return this.clock ? this.clock.baseS + this.clock.lastS : null;
  }

  private ownShip(): OwnShip | null {
    // GLOBAL_POSITION_INT says 0, 0 until the EKF has an origin
    if (!this.motion.seen || (this.t.lat === 0 && this.t.lon === 0)) return null;
    return { latLon: { lat: this.t.lat, lon: this.t.lon }, altAmslM: this.t.altAmslM, vn: this.motion.vn, ve: this.motion.ve, yawDeg: this.motion.yawDeg };
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
  /** Faults sent to SITL itself (SIM_* parameters, battery reset), for the trainer's list. */
  private readonly vehicleFaults = new Map<SimFault['kind'], SimFault>();
  activeFaults(): SimFault[] {
    return [...faultsInForce(this.relay.faults, { gpsLoss: false, batterySagPct: 0, releaseFailure: false, wind: null }), ...this.vehicleFaults.values(), ...(this.adsb?.faults() ?? [])];
  }
  inject(fault: SimFault): void {
    if (injectLinkFault(this.relay.faults, fault)) return;
    if (fault.kind === 'adsb-traffic') {
      if (!this.adsb) throw new SimError('SIM_UNKNOWN_FAULT', "fault 'adsb-traffic' needs SITL started with its ADS-B receiver (adsbReceiver)");
      try {
        this.adsb.add(fault);
      } catch (e) {
        throw new SimError('SIM_INVALID_OPTION', (e as Error).message);
      }
      return;
    }
    this.applyVehicleFault(fault);
    if (fault.kind !== 'battery-set') this.vehicleFaults.set(fault.kind, fault);
  }
  private applyVehicleFault(fault: SimFault): void {
    switch (fault.kind) {
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
    if (clearLinkFault(this.relay.faults, kind)) return;
    if (kind === 'adsb-traffic' && this.adsb) {
      this.adsb.clear();
      return;
    }
    this.vehicleFaults.delete(kind);
    switch (kind) {
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
  /**
   * MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN: SITL executes itself again and connects anew; every ground
   * station connection drops (the relay closes them) and the link reconnects as it would to SITL.
   */
  async reboot(): Promise<void> {
    this.send(msg(common.CommandLong, { targetSystem: this.sysid, targetComponent: 1, command: 246, param1: 1 }));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.observer?.destroy();
    const c = this.child;
    if (c) await terminate(c, 3000, (sig) => c.kill(sig));
    await this.relay.close();
    await this.adsb?.close();
    await new Promise<void>((r) => (this.observerServer ? this.observerServer.close(() => r()) : r()));
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}

/**
 * Start N ArduCopter SITL instances. Ground stations reach instance i on TCP basePort + 10·i on
 * `host` (the relay); basePort 0 (tests) picks free ports. SITL's instance numbers are the first
 * whose RC input ports (UDP 5501 + 10·I) are free. Resolves once every instance sends HEARTBEATs.
 */
export interface SitlOptions extends SimOptions {
  /** The arducopter binary. Default: ARDUPILOT_SITL. */
  bin?: string;
  /** Defaults files loaded before the project's. Default: ARDUPILOT_SITL_DEFAULTS (comma-separated). */
  defaults?: string[];
  /**
   * Simulated ADS-B traffic: SITL's own aircraft (params SIM_ADSB_COUNT, SIM_ADSB_RADIUS, SIM_ADSB_ALT,
   * with ADSB_TYPE 1) heard on SERIAL1, the observer on SERIAL2. Default false.
   */
  simAdsb?: boolean;
  /**
   * An ADS-B receiver of the launcher's on SERIAL1 (sims/adsb-receiver.ts; ADSB_RECEIVER_PARAMS:
   * ADSB_TYPE 1, SERIAL1_PROTOCOL 2, ADSB_LIST_RADIUS 10 km), the observer on SERIAL2: the fault
   * 'adsb-traffic' places aircraft it reports, as on the built-in simulator. Default false.
   */
  adsbReceiver?: boolean;
}

export async function startSitl(opts: SitlOptions = {}): Promise<SimFleet & { kind: 'sitl'; speedup: number }> {
  const bin = opts.bin ?? process.env.ARDUPILOT_SITL;
  if (!bin || !sitlAvailable(bin)) throw new SimError('SITL_NOT_AVAILABLE', opts.bin ? `${opts.bin} is not an executable arducopter binary` : 'ARDUPILOT_SITL does not name an executable arducopter binary');
  validateOptions(opts);
  if (opts.personality === 'px4') throw new SimError('SIM_INVALID_OPTION', 'startSitl runs ArduPilot SITL; use startPx4Sitl (sims/px4-sitl.ts) for PX4');
  const n = opts.instances ?? 1;
  const host = opts.host ?? '127.0.0.1';
  const speedup = opts.speedup ?? 1;
  const basePort = opts.basePort ?? 5760;
  const udp = opts.udpOut ? parseUdpOut(opts.udpOut) : null;
  if (opts.adsbReceiver && (opts.simAdsb || udp)) throw new SimError('SIM_INVALID_OPTION', opts.simAdsb ? "SITL's simulated ADS-B and the ADS-B receiver both need SERIAL1" : 'SITL with an ADS-B receiver has no SERIAL2 left for udpOut');
  const first = await firstFreeInstances(1, 200, n, (I) => udpPortFree(sitlRcInPort(I)));
  if (first < 0) throw new SimError('SIM_PORT_IN_USE', 'no free SITL instance (RC input ports UDP 5511… are all in use)');
  const defaults = opts.defaults ?? (process.env.ARDUPILOT_SITL_DEFAULTS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const instances: SitlInstance[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const I = first + i;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dropline-sitl-${I}-`));
      const parm = writeProjectParmFile(dir, { ...(opts.adsbReceiver ? ADSB_RECEIVER_PARAMS : {}), ...(opts.params ?? {}) });
      const h = opts.homes?.[i] ?? defaultHome(i);
      const sysid = (opts.sysidBase ?? 1) + i;
      const home = { lat: h.lat, lon: h.lon, altAmslM: h.altAmslM ?? DEMO_HOME.altAmslM };
      const argsFor = (relayPort: number, observerPort: number, adsbReceiverPort?: number) =>
        sitlArgs({ instance: I, sysid, speedup, home, defaults: [...defaults, parm], relayPort, observerPort, udpOut: udp ? { host: udp.host, port: udp.port + i } : undefined, simAdsb: opts.simAdsb, adsbReceiverPort });
      const inst = new SitlInstance(i, sysid, I, host, basePort === 0 ? 0 : basePort + 10 * i, dir, argsFor, bin, opts.adsbReceiver ?? false);
      instances.push(inst);
      try {
        await inst.start(60000);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new SimError('SIM_PORT_IN_USE', `TCP port ${basePort + 10 * i} on ${host} is in use`);
        throw e;
      }
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
