/**
 * Lightweight MAVLink 2 vehicles for the fan-out benches: each a TCP server on loopback that, to
 * whoever connects (the fleet, or a link agent), sends HEARTBEAT at 1 Hz (an ArduCopter quad,
 * GUIDED, disarmed) and GLOBAL_POSITION_INT at `hz`, answers every COMMAND_LONG with an accepted
 * COMMAND_ACK and a TIMESYNC request with its time. Far cheaper than a simulator: hundreds fit in one
 * process.
 *
 * Each position carries a counter k (relative_alt = 10·k mm, so a telemetry frame shows altRelM =
 * k / 100) and the moment it was written is kept (`sentAt(k)`, by default performance.now() of this
 * thread): a viewer in the same thread measures latency = receive − write on one clock. A new
 * connection starts the counter again at 0 (and forgets the previous connection's times).
 *
 * The write times are a ring (`ringT`, and `ringK`: the counter whose time a slot holds). Given
 * arrays on SharedArrayBuffers (`rings`) and a clock that is the same in every thread (`clock`),
 * viewers in other threads read them with `ringSentAt`: the writer marks the slot empty, writes the
 * time, then the counter (Atomics.store), so a reader that sees the counter (Atomics.load) before and
 * after reading the time has read that counter's time.
 */
import * as net from 'net';
import { performance } from 'perf_hooks';
import { MavlinkEncoder, MavlinkDecoder } from '../src/mavlink/codec';
import { msg, common, minimal } from '../src/mavlink/registry';

export const HOME_LAT_E7 = 340603000;
export const HOME_LON_E7 = 1143942000;

export interface LightVehicleOptions {
  /** Spreads the vehicles apart (latitude + 100·index e-7 degrees). */
  index: number;
  /** Positions per second. Default 10. */
  hz?: number;
  /** Positions sent on one connection at most (then it only beats). Default: no limit. */
  maxCount?: number;
  /** Write times kept (the newest `ring` positions). Default 4096. */
  ring?: number;
  /** Told of every position written (its counter, and its write time on `clock`). */
  onPosition?(k: number, at: number): void;
  /** The write-time ring to fill (e.g. on SharedArrayBuffers, for readers in other threads); `ring` is then its length. */
  rings?: Rings;
  /** The clock of the write times, ms. Default performance.now(). */
  clock?(): number;
}

/** Write times: slot k % length holds the time of position k when ringK[slot] === k. */
export interface Rings {
  ringT: Float64Array;
  ringK: Int32Array;
}

/** A ring on SharedArrayBuffers, `ring` positions long, empty (every counter −1). */
export function sharedRings(ring = 4096): Rings {
  const ringT = new Float64Array(new SharedArrayBuffer(ring * Float64Array.BYTES_PER_ELEMENT));
  const ringK = new Int32Array(new SharedArrayBuffer(ring * Int32Array.BYTES_PER_ELEMENT)).fill(-1);
  return { ringT, ringK };
}

/** The write time of position k in `r`, or 0 when unknown (never written, or already written over). */
export function ringSentAt(r: Rings, k: number): number {
  const i = k % r.ringT.length;
  if (Atomics.load(r.ringK, i) !== k) return 0;
  const t = r.ringT[i];
  // The writer may have started on k + length meanwhile (it marks the slot empty first): check again.
  return Atomics.load(r.ringK, i) === k ? t : 0;
}

export class LightVehicle {
  port = 0;
  readonly server = net.createServer();
  /** Connections accepted so far; COMMAND_LONGs answered so far. */
  connections = 0;
  commandsAcked = 0;
  private socket: net.Socket | null = null;
  private stopConn: () => void = () => undefined;
  private readonly rings: Rings;
  private readonly clock: () => number;

  constructor(private readonly o: LightVehicleOptions) {
    const ring = o.ring ?? 4096;
    this.rings = o.rings ?? { ringT: new Float64Array(ring), ringK: new Int32Array(ring).fill(-1) };
    this.clock = o.clock ?? (() => performance.now());
    this.server.on('connection', (sock) => this.serve(sock));
  }

  listen(): Promise<this> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => {
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve(this);
      }),
    );
  }

  get uri(): string {
    return `tcp:127.0.0.1:${this.port}`;
  }

  /** When position k of the current connection was written (on `clock`), or 0 when unknown. */
  sentAt(k: number): number {
    return ringSentAt(this.rings, k);
  }

  private serve(sock: net.Socket): void {
    this.stopConn();
    this.socket = sock;
    this.connections++;
    sock.setNoDelay(true);
    const { ringT, ringK } = this.rings;
    for (let s = 0; s < ringK.length; s++) Atomics.store(ringK, s, -1);
    const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
    const dec = new MavlinkDecoder((f) => {
      if (f.name === 'COMMAND_LONG') {
        const c = f.data as common.CommandLong;
        sock.write(enc.encode(msg(common.CommandAck, { command: c.command, result: 0, targetSystem: f.sysid, targetComponent: f.compid })));
        this.commandsAcked++;
      } else if (f.name === 'TIMESYNC') {
        const t = f.data as common.TimeSync;
        if (t.tc1 === 0n) sock.write(enc.encode(msg(common.TimeSync, { tc1: BigInt(Date.now()) * 1_000_000n, ts1: t.ts1 })));
      }
    });
    sock.on('data', (b) => dec.push(b));
    sock.on('error', () => undefined);
    let counter = 0;
    const i = this.o.index;
    const max = this.o.maxCount ?? Infinity;
    const heartbeat = () => sock.write(enc.encode(msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: 89, customMode: 4, systemStatus: 4 })));
    heartbeat();
    const hb = setInterval(heartbeat, 1000);
    let pos: NodeJS.Timeout | undefined;
    // A random phase, so that the vehicles do not all write in the same tick.
    const phase = setTimeout(() => {
      pos = setInterval(() => {
        if (counter >= max) return;
        const k = counter++;
        const pkt = enc.encode(
          msg(common.GlobalPositionInt, {
            timeBootMs: k * 100, lat: HOME_LAT_E7 + i * 100 + (k % 10000), lon: HOME_LON_E7 + (k % 10000), alt: 60000 + k * 10, relativeAlt: k * 10, vx: 100, vy: -50, vz: 0, hdg: 9000,
          }),
        );
        const slot = k % ringT.length;
        const at = this.clock();
        // The slot is marked empty while its time changes, then the counter comes after the time: a
        // reader that sees k before and after reading the time has k's time (ringSentAt).
        Atomics.store(ringK, slot, -1);
        ringT[slot] = at;
        Atomics.store(ringK, slot, k);
        sock.write(pkt);
        this.o.onPosition?.(k, at);
      }, 1000 / (this.o.hz ?? 10));
    }, Math.random() * (1000 / (this.o.hz ?? 10)));
    this.stopConn = () => {
      clearInterval(hb);
      clearTimeout(phase);
      if (pos) clearInterval(pos);
      sock.destroy();
    };
    sock.on('close', () => {
      if (this.socket === sock) this.stopConn();
    });
  }

  /** Drop the current connection (the vehicle goes on listening). */
  disconnect(): void {
    this.stopConn();
  }

  close(): void {
    this.stopConn();
    this.server.close();
  }
}

/** `n` vehicles listening on free loopback ports. */
export function startLightVehicles(n: number, opts: Omit<LightVehicleOptions, 'index'> = {}): Promise<LightVehicle[]> {
  return Promise.all(Array.from({ length: n }, (_x, index) => new LightVehicle({ ...opts, index }).listen()));
}
