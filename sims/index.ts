/**
 * Built-in MAVLink 2 multicopter simulator: N ArduCopter-like (or PX4-like) vehicles, each
 * serving MAVLink on TCP basePort + 10·i like ArduPilot SITL, optionally also sending to a UDP
 * address. Every rate, timeout and delay runs in sim time, scaled by `speedup`.
 *
 *   const fleet = await startSimulators({ instances: 2, speedup: 10, basePort: 0 });
 *   // connect a ground station to fleet.instances[0].uri
 *   await fleet.stop();
 */
import type { AdsbTrafficFault } from './adsb-traffic';
import * as net from 'net';
import * as dgram from 'dgram';
import type { Frame as MavFrame } from '../src/mavlink/codec';
import { SimLink, LinkFaults, NO_LINK_FAULTS } from './link';
import { SimVehicle, ARDUCOPTER_BOOT_S } from './vehicle';
import type { MissionItem, MissionTypeValue } from '../src/mavlink/mission-item';
import type { SimAirframe } from './airframe';

export interface SimOptions {
  /** Number of vehicles. Default 1. */
  instances?: number;
  /** Address the TCP servers bind to. Default '127.0.0.1'. */
  host?: string;
  /** Instance i listens on TCP basePort + 10·i. Default 5760. 0 = pick free ports. */
  basePort?: number;
  /** Instance i has sysid sysidBase + i. Default 1. */
  sysidBase?: number;
  /** Sim seconds per wall second. Default 1. */
  speedup?: number;
  /** Home per instance. Default: the demo launch site near 34.06 N 114.39 E, instances 20 m apart eastwards. */
  homes?: Array<{ lat: number; lon: number; altAmslM?: number }>;
  /** Default 'ardupilot'. */
  personality?: 'ardupilot' | 'px4';
  /** 'host:port': also send to (and accept replies from) this UDP address, like SITL's udpout. Instance i uses port + i. */
  udpOut?: string;
  /** Parameter overrides at boot (names of the personality's table; unknown names are ignored). */
  params?: Record<string, number>;
  /**
   * Sim seconds from boot until the EKF uses GPS (EKF_STATUS_REPORT 0x33f). ArduPilot personality:
   * the milestones before it (EKF 0xa7, GPS fix, HOME_POSITION, pre-arm health bit) keep the
   * proportions measured on ArduCopter SITL (ARDUCOPTER_BOOT_S in sims/vehicle/constants.ts). Default: 41.4
   * (ArduCopter SITL); PX4 personality 5 (GPS fix at half of it, everything else at its end).
   */
  bootDelayS?: number;
  /** Seed of the pseudo-random source (gusts, packet faults). Default 1. */
  seed?: number;
  /**
   * Built-in simulator: a MAVLink signing key every instance already holds at start, as if set by
   * SETUP_SIGNING before (ArduPilot keeps it in storage). Default none (signing off until a
   * SETUP_SIGNING). ArduPilot SITL starts from a fresh EEPROM and ignores this.
   */
  signingKey?: Buffer;
  /**
   * The airframe whose power model drains the pack (sims/airframe.ts; the service flies DEMO_AIRFRAME
   * with DEMO_AIRFRAME_PARAMS). Default: the small stock quad of sims/vehicle/constants.ts (AIRFRAME).
   */
  airframe?: SimAirframe;
}

export interface SimTruth {
  lat: number;
  lon: number;
  altRelM: number;
  altAmslM: number;
  armed: boolean;
  mode: string;
  groundSpeedMps: number;
  batteryPct: number;
  voltageV: number;
  landed: boolean;
  payloadAttached: boolean;
  releasedAt: null | { lat: number; lon: number; altRelM: number };
  missionSeq: number;
  /** Built-in simulator: outputs whose parcel is still aboard (9 for the gripper's parcel). */
  parcelsAboard?: number[];
  /** Built-in simulator: every parcel released since loading, in order. */
  releases?: Array<{ output: number; lat: number; lon: number; altRelM: number }>;
}

export type SimFault =
  | { kind: 'link-loss' }
  | { kind: 'packet-loss'; pct: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'duplicate'; pct: number }
  | { kind: 'reorder'; pct: number }
  | { kind: 'gps-loss' }
  | { kind: 'battery-sag'; pct: number }
  | { kind: 'battery-set'; pct: number }
  | { kind: 'wind'; speedMps: number; fromDeg: number; gustMps?: number }
  | { kind: 'release-failure' }
  | AdsbTrafficFault;

export interface SimInstance {
  readonly index: number;
  readonly sysid: number;
  readonly tcpPort: number;
  /** e.g. 'tcp:127.0.0.1:5760' */
  readonly uri: string;
  truth(): SimTruth;
  getParam(name: string): number | undefined;
  setParam(name: string, value: number): void;
  inject(fault: SimFault): void;
  clearFault(kind: SimFault['kind']): void;
  reboot(): Promise<void>;
  /** The faults in force now (for a trainer's list); built-in simulators only. */
  activeFaults?(): SimFault[];
}

export interface SimFleet {
  readonly instances: SimInstance[];
  stop(): Promise<void>;
}

/** Error with a stable code for invalid simulator options. */
export class SimError extends Error {
  constructor(readonly code: 'SIM_INVALID_OPTION' | 'SIM_PORT_IN_USE' | 'SIM_UNKNOWN_FAULT' | 'SITL_NOT_AVAILABLE' | 'SITL_START_FAILED' | 'SCENARIO_UNKNOWN', message: string) {
    super(message);
    this.name = 'SimError';
  }
}

/** `x` when it is a percentage 0..100; otherwise SimError SIM_INVALID_OPTION naming the fault. */
function faultPct(kind: string, x: number): number {
  if (!Number.isFinite(x) || x < 0 || x > 100) throw new SimError('SIM_INVALID_OPTION', `${kind}: pct must be 0..100, got ${x}`);
  return x;
}

/**
 * Apply a link fault (link-loss, packet-loss, delay, duplicate, reorder) to `f`, validating its
 * values (SimError SIM_INVALID_OPTION). Returns false, changing nothing, for any other kind.
 */
export function injectLinkFault(f: LinkFaults, fault: SimFault): boolean {
  switch (fault.kind) {
    case 'link-loss': f.linkLoss = true; return true;
    case 'packet-loss': f.packetLossPct = faultPct(fault.kind, fault.pct); return true;
    case 'delay':
      if (!Number.isFinite(fault.ms) || fault.ms < 0) throw new SimError('SIM_INVALID_OPTION', `delay: ms must be ≥ 0, got ${fault.ms}`);
      f.delayMs = fault.ms;
      return true;
    case 'duplicate': f.duplicatePct = faultPct(fault.kind, fault.pct); return true;
    case 'reorder': f.reorderPct = faultPct(fault.kind, fault.pct); return true;
    default: return false;
  }
}

/** The faults in force on a link and a simulated vehicle, as they were injected. */
export function faultsInForce(link: LinkFaults, v: { gpsLoss: boolean; batterySagPct: number; releaseFailure: boolean; wind: { speedMps: number; fromDeg: number; gustMps: number } | null }): SimFault[] {
  const out: SimFault[] = [];
  if (link.linkLoss) out.push({ kind: 'link-loss' });
  if (link.packetLossPct > 0) out.push({ kind: 'packet-loss', pct: link.packetLossPct });
  if (link.delayMs > 0) out.push({ kind: 'delay', ms: link.delayMs });
  if (link.duplicatePct > 0) out.push({ kind: 'duplicate', pct: link.duplicatePct });
  if (link.reorderPct > 0) out.push({ kind: 'reorder', pct: link.reorderPct });
  if (v.gpsLoss) out.push({ kind: 'gps-loss' });
  if (v.batterySagPct > 0) out.push({ kind: 'battery-sag', pct: v.batterySagPct });
  if (v.wind) out.push({ kind: 'wind', ...v.wind });
  if (v.releaseFailure) out.push({ kind: 'release-failure' });
  return out;
}

/** Clear a link fault on `f`; false, changing nothing, for any other kind. */
export function clearLinkFault(f: LinkFaults, kind: SimFault['kind']): boolean {
  switch (kind) {
    case 'link-loss': f.linkLoss = false; return true;
    case 'packet-loss': f.packetLossPct = 0; return true;
    case 'delay': f.delayMs = 0; return true;
    case 'duplicate': f.duplicatePct = 0; return true;
    case 'reorder': f.reorderPct = 0; return true;
    default: return false;
  }
}

/** The demo launch site (Fugou county town). */
export const DEMO_HOME = { lat: 34.0603, lon: 114.3942, altAmslM: 60 };

/** Physics and telemetry rate: 50 Hz sim time. */
export const SIM_STEP_S = 0.02;

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One simulated vehicle with its sockets. Also exposes the simulator-only controls. */
export class BuiltinInstance implements SimInstance {
  readonly vehicle: SimVehicle;
  readonly linkFaults: LinkFaults = { ...NO_LINK_FAULTS };
  private server: net.Server | null = null;
  private udp: dgram.Socket | null = null;
  private udpLink: SimLink | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly random: () => number;
  tcpPort = 0;
  uri = '';

  constructor(
    readonly index: number,
    readonly sysid: number,
    private readonly host: string,
    private readonly wantPort: number,
    private readonly udpOut: { host: string; port: number } | null,
    opts: Required<Pick<SimOptions, 'personality' | 'bootDelayS' | 'speedup'>> & { home: { lat: number; lon: number; altAmslM: number }; params: Record<string, number>; seed: number; signingKey?: Buffer; airframe?: SimAirframe },
  ) {
    this.random = mulberry32(opts.seed * 7919 + index);
    this.vehicle = new SimVehicle({
      index, sysid, personality: opts.personality, home: opts.home, params: opts.params, bootDelayS: opts.bootDelayS, speedup: opts.speedup,
      random: this.random, dropLinks: () => this.dropLinks(), signingKey: opts.signingKey, airframe: opts.airframe,
    });
  }

  private newLink(kind: 'tcp' | 'udp', write: (b: Buffer) => void): SimLink {
    const link = new SimLink(kind, write, () => this.linkFaults, this.random, (l, f: MavFrame) => this.onFrame(l, f), { sysid: this.sysid, compid: 1 });
    this.vehicle.attach(link);
    return link;
  }

  private onFrame(l: SimLink, f: MavFrame): void {
    try {
      this.vehicle.onFrame(l, f);
    } catch (e) {
      // A malformed message must never take the vehicle down.
      this.vehicle.text(3, `Internal error: ${(e as Error).message}`.slice(0, 50));
    }
  }

  async start(): Promise<void> {
    const server = net.createServer((sock) => {
      sock.setNoDelay(true);
      this.sockets.add(sock);
      const link = this.newLink('tcp', (b) => {
        if (!sock.destroyed && sock.writable) sock.write(b);
      });
      sock.on('data', (b) => link.receive(b));
      const done = () => {
        link.close();
        this.vehicle.detach(link);
        this.sockets.delete(sock);
      };
      sock.on('close', done);
      sock.on('error', () => sock.destroy());
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'EADDRINUSE' ? new SimError('SIM_PORT_IN_USE', `TCP port ${this.wantPort} on ${this.host} is in use`) : e),
      );
      server.listen(this.wantPort, this.host, () => resolve());
    });
    this.tcpPort = (server.address() as net.AddressInfo).port;
    this.uri = `tcp:${this.host}:${this.tcpPort}`;
    if (this.udpOut) this.openUdp();
  }

  private openUdp(): void {
    const out = this.udpOut!;
    const sock = dgram.createSocket('udp4');
    this.udp = sock;
    let peer = { host: out.host, port: out.port };
    const link = this.newLink('udp', (b) => {
      sock.send(b, peer.port, peer.host, () => undefined);
    });
    this.udpLink = link;
    sock.on('message', (b, rinfo) => {
      peer = { host: rinfo.address, port: rinfo.port };
      link.receive(b);
    });
    sock.on('error', () => undefined);
    sock.bind(0);
  }

  private dropLinks(): void {
    for (const s of this.sockets) s.destroy();
    if (this.udpLink) {
      // UDP has no connection: forget its stream rates, as a reboot does.
      this.udpLink.intervals.clear();
      this.udpLink.intervals.set(0, { intervalS: 1, nextS: this.vehicle.tS });
    }
  }

  step(dtS: number): void {
    this.vehicle.step(dtS);
    this.vehicle.emitTelemetry();
  }

  truth(): SimTruth {
    return this.vehicle.truth();
  }
  getParam(name: string): number | undefined {
    return this.vehicle.params.get(name);
  }
  setParam(name: string, value: number): void {
    if (!this.vehicle.params.set(name, value)) throw new SimError('SIM_INVALID_OPTION', `unknown parameter ${name}`);
  }
  inject(fault: SimFault): void {
    if (injectLinkFault(this.linkFaults, fault)) return;
    const v = this.vehicle.faults;
    const pct = (x: number) => faultPct(fault.kind, x);
    switch (fault.kind) {
      case 'gps-loss': v.gpsLoss = true; break;
      case 'battery-sag': v.batterySagPct = pct(fault.pct); break;
      case 'battery-set': this.vehicle.setBatteryPct(pct(fault.pct)); break;
      case 'wind':
        if (!Number.isFinite(fault.speedMps) || fault.speedMps < 0 || !Number.isFinite(fault.fromDeg)) throw new SimError('SIM_INVALID_OPTION', 'wind: speedMps ≥ 0 and fromDeg required');
        v.wind = { speedMps: fault.speedMps, fromDeg: fault.fromDeg, gustMps: Math.max(0, fault.gustMps ?? 0) };
        break;
      case 'release-failure': v.releaseFailure = true; break;
      case 'adsb-traffic':
        try {
          this.vehicle.addTraffic(fault);
        } catch (e) {
          throw new SimError('SIM_INVALID_OPTION', (e as Error).message);
        }
        break;
      default:
        throw new SimError('SIM_UNKNOWN_FAULT', `unknown fault kind ${(fault as { kind: string }).kind}`);
    }
  }
  activeFaults(): SimFault[] {
    return [...faultsInForce(this.linkFaults, this.vehicle.faults), ...this.vehicle.adsb.faults()];
  }
  clearFault(kind: SimFault['kind']): void {
    if (clearLinkFault(this.linkFaults, kind)) return;
    const v = this.vehicle.faults;
    switch (kind) {
      case 'gps-loss': v.gpsLoss = false; break;
      case 'battery-sag': v.batterySagPct = 0; break;
      case 'battery-set': break;
      case 'wind': v.wind = null; break;
      case 'release-failure': v.releaseFailure = false; break;
      case 'adsb-traffic': this.vehicle.adsb.clear(); break;
      default:
        throw new SimError('SIM_UNKNOWN_FAULT', `unknown fault kind ${String(kind)}`);
    }
  }
  async reboot(): Promise<void> {
    this.vehicle.reboot();
  }

  /** Simulator control: load a mission/fence/rally list directly (no MAVLink). */
  loadItems(type: MissionTypeValue, items: MissionItem[]): void {
    this.vehicle.mission.load(type, items);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.udp) {
      try {
        this.udp.close();
      } catch {
        /* already closed */
      }
    }
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export class BuiltinFleet implements SimFleet {
  private timer: NodeJS.Timeout | null = null;
  private lastWallMs = 0;
  private carryS = 0;
  /** Sim seconds since start. */
  simS = 0;
  /** Actions scheduled in sim time (scenarios). */
  private readonly scheduled: Array<{ atS: number; fn: () => void }> = [];

  constructor(readonly instances: BuiltinInstance[], readonly speedup: number) {}

  start(): void {
    this.lastWallMs = performance.now();
    this.timer = setInterval(() => this.tick(), 10);
  }

  /** Run `fn` when sim time reaches `atS` (seconds since the fleet started). */
  at(atS: number, fn: () => void): void {
    this.scheduled.push({ atS, fn });
    this.scheduled.sort((a, b) => a.atS - b.atS);
  }

  private tick(): void {
    const now = performance.now();
    const wallS = (now - this.lastWallMs) / 1000;
    this.lastWallMs = now;
    // After a stalled event loop, advance at most 2 s of sim time (or two ticks' worth) at once:
    // the simulation falls behind wall time rather than jumping past timeouts such as FS_GCS_TIMEOUT.
    this.carryS = Math.min(this.carryS + wallS * this.speedup, Math.max(2, this.speedup * 0.02));
    while (this.carryS >= SIM_STEP_S) {
      this.carryS -= SIM_STEP_S;
      this.advance(SIM_STEP_S);
    }
  }

  /** Advance every vehicle by one step (exposed for deterministic tools and benchmarks). */
  advance(dtS: number): void {
    this.simS += dtS;
    while (this.scheduled.length && this.scheduled[0].atS <= this.simS) {
      const s = this.scheduled.shift()!;
      try {
        s.fn();
      } catch {
        /* scenario actions must not stop the clock */
      }
    }
    for (const inst of this.instances) {
      try {
        inst.step(dtS);
      } catch (e) {
        // A fault in one vehicle's model must not stop the others (or the process).
        this.errors++;
        if (this.errors <= 3) process.stderr.write(`sims: vehicle ${inst.index} step failed: ${(e as Error).stack ?? e}\n`);
      }
    }
  }

  /** Step failures caught so far (0 in a healthy run). */
  errors = 0;

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.instances.map((i) => i.close()));
  }
}

/** 'host:port' (or 'udpout:host:port') of SimOptions.udpOut; SimError SIM_INVALID_OPTION otherwise. */
export function parseUdpOut(s: string): { host: string; port: number } {
  const m = /^(?:udpout:)?([^:]+):(\d+)$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new SimError('SIM_INVALID_OPTION', `udpOut must be 'host:port', got '${s}'`);
  return { host: m[1], port: Number(m[2]) };
}

/** Default homes: the demo launch site, 20 m apart eastwards. */
export function defaultHome(i: number): { lat: number; lon: number; altAmslM: number } {
  return { lat: DEMO_HOME.lat, lon: DEMO_HOME.lon + (i * 20) / (111320 * Math.cos((DEMO_HOME.lat * Math.PI) / 180)), altAmslM: DEMO_HOME.altAmslM };
}

export function validateOptions(opts: SimOptions): void {
  const n = opts.instances ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new SimError('SIM_INVALID_OPTION', `instances must be an integer 1..250, got ${n}`);
  const s = opts.speedup ?? 1;
  if (!Number.isFinite(s) || s <= 0 || s > 1000) throw new SimError('SIM_INVALID_OPTION', `speedup must be in (0, 1000], got ${s}`);
  const bp = opts.basePort ?? 5760;
  if (!Number.isInteger(bp) || bp < 0 || bp + 10 * (n - 1) > 65535) throw new SimError('SIM_INVALID_OPTION', `basePort ${bp} out of range for ${n} instances`);
  const sb = opts.sysidBase ?? 1;
  if (!Number.isInteger(sb) || sb < 1 || sb + n - 1 > 254) throw new SimError('SIM_INVALID_OPTION', `sysidBase ${sb} gives sysids outside 1..254`);
  if (opts.personality && opts.personality !== 'ardupilot' && opts.personality !== 'px4') throw new SimError('SIM_INVALID_OPTION', `personality must be 'ardupilot' or 'px4'`);
  for (const h of opts.homes ?? []) {
    if (!Number.isFinite(h.lat) || !Number.isFinite(h.lon) || Math.abs(h.lat) > 85 || Math.abs(h.lon) > 180) throw new SimError('SIM_INVALID_OPTION', `invalid home ${JSON.stringify(h)}`);
  }
  if (opts.bootDelayS !== undefined && (!Number.isFinite(opts.bootDelayS) || opts.bootDelayS < 0)) throw new SimError('SIM_INVALID_OPTION', `bootDelayS must be ≥ 0`);
  if (opts.udpOut) parseUdpOut(opts.udpOut);
  if (opts.signingKey !== undefined && (!Buffer.isBuffer(opts.signingKey) || opts.signingKey.length !== 32)) throw new SimError('SIM_INVALID_OPTION', 'signingKey must be 32 bytes');
}

/** Default SimOptions.bootDelayS: ArduCopter SITL's measured 41.4 s, or 5 s for the PX4 personality. */
export function defaultBootDelayS(personality: 'ardupilot' | 'px4'): number {
  return personality === 'px4' ? 5 : ARDUCOPTER_BOOT_S.usingGps;
}

/** Start the built-in simulator fleet; resolves once every TCP port listens. */
export async function startSimulators(opts: SimOptions = {}): Promise<SimFleet & { instances: BuiltinInstance[]; at(atS: number, fn: () => void): void; simS: number }> {
  validateOptions(opts);
  const n = opts.instances ?? 1;
  const host = opts.host ?? '127.0.0.1';
  const basePort = opts.basePort ?? 5760;
  const sysidBase = opts.sysidBase ?? 1;
  const speedup = opts.speedup ?? 1;
  const udp = opts.udpOut ? parseUdpOut(opts.udpOut) : null;
  const instances: BuiltinInstance[] = [];
  for (let i = 0; i < n; i++) {
    const h = opts.homes?.[i] ?? (opts.homes && opts.homes.length > 0 ? undefined : defaultHome(i));
    const home = h ? { lat: h.lat, lon: h.lon, altAmslM: h.altAmslM ?? DEMO_HOME.altAmslM } : { ...defaultHome(i), lat: opts.homes![opts.homes!.length - 1].lat + i * 0.0002, lon: opts.homes![opts.homes!.length - 1].lon };
    instances.push(
      new BuiltinInstance(i, sysidBase + i, host, basePort === 0 ? 0 : basePort + 10 * i, udp ? { host: udp.host, port: udp.port + i } : null, {
        personality: opts.personality ?? 'ardupilot', bootDelayS: opts.bootDelayS ?? defaultBootDelayS(opts.personality ?? 'ardupilot'), speedup, home, params: opts.params ?? {}, seed: opts.seed ?? 1,
        signingKey: opts.signingKey, airframe: opts.airframe,
      }),
    );
  }
  try {
    for (const inst of instances) await inst.start();
  } catch (e) {
    await Promise.all(instances.map((i) => i.close().catch(() => undefined)));
    throw e;
  }
  const fleet = new BuiltinFleet(instances, speedup);
  fleet.start();
  return fleet;
}

export { SimVehicle } from './vehicle';
