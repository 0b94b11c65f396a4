/**
 * Lightweight MAVLink 2 vehicles for the fan-out benches: each a TCP server on loopback that, to
 * whoever connects (the fleet, or a link agent), sends HEARTBEAT at 1 Hz (an ArduCopter quad,
 * GUIDED, disarmed) and GLOBAL_POSITION_INT at `hz`, answers every COMMAND_LONG with an accepted
 * COMMAND_ACK and a TIMESYNC request with its time. Far cheaper than a simulator: hundreds fit in one
 * process.
 *
 * Each position carries a counter k (relative_alt = 10·k mm, so a telemetry frame shows altRelM =
 * k / 100) and the moment it was written is kept (`sentAt(k)`, performance.now() of this process):
 * a viewer in the same process measures latency = receive − write on one clock. A new connection
 * starts the counter again at 0 (and forgets the previous connection's times).
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
  /** Told of every position written (its counter). */
  onPosition?(k: number): void;
}

export class LightVehicle {
  port = 0;
  readonly server = net.createServer();
  /** Connections accepted so far; COMMAND_LONGs answered so far. */
  connections = 0;
  commandsAcked = 0;
  private socket: net.Socket | null = null;
  private stopConn: () => void = () => undefined;
  private readonly ringT: Float64Array;
  private readonly ringK: Int32Array;

  constructor(private readonly o: LightVehicleOptions) {
    const ring = o.ring ?? 4096;
    this.ringT = new Float64Array(ring);
    this.ringK = new Int32Array(ring).fill(-1);
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

  /** performance.now() when position k of the current connection was written, or 0 when unknown. */
  sentAt(k: number): number {
    const i = k % this.ringT.length;
    return this.ringK[i] === k ? this.ringT[i] : 0;
  }

  private serve(sock: net.Socket): void {
    this.stopConn();
    this.socket = sock;
    this.connections++;
    sock.setNoDelay(true);
    this.ringK.fill(-1);
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
        const slot = k % this.ringT.length;
        this.ringT[slot] = performance.now();
        this.ringK[slot] = k;
        sock.write(pkt);
        this.o.onPosition?.(k);
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
