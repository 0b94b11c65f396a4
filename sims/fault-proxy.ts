/**
 * A TCP proxy that applies the simulator's link faults (loss, delay, duplication, reordering,
 * link loss) to whole MAVLink frames in both directions. Used in front of ArduPilot SITL, whose
 * own sockets cannot be faulted, so SITL and the built-in simulator take the same faults.
 * Bytes that do not form a frame are dropped.
 */
import * as net from 'net';
import { MavlinkDecoder } from '../src/mavlink/codec';
import { FaultShaper, LinkFaults, NO_LINK_FAULTS } from './link';

export interface FaultProxyOptions {
  /** Listen address. Default '127.0.0.1'. */
  host?: string;
  /** Listen port. Default 0 (a free port). */
  port?: number;
  /** Pseudo-random source. Default Math.random. */
  random?: () => number;
}

export class FaultProxy {
  readonly faults: LinkFaults = { ...NO_LINK_FAULTS };
  private server: net.Server | null = null;
  private readonly pairs = new Set<{ a: net.Socket; b: net.Socket }>();
  port = 0;

  constructor(private readonly upstream: { host: string; port: number }, private readonly opts: FaultProxyOptions = {}) {}

  async start(): Promise<number> {
    const random = this.opts.random ?? Math.random;
    const server = net.createServer((client) => {
      client.setNoDelay(true);
      const up = net.connect(this.upstream.port, this.upstream.host);
      up.setNoDelay(true);
      const pair = { a: client, b: up };
      this.pairs.add(pair);
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        this.pairs.delete(pair);
        client.destroy();
        up.destroy();
      };
      const toUp = new FaultShaper(() => this.faults, random, (b) => up.writable && up.write(b), () => closed);
      const toClient = new FaultShaper(() => this.faults, random, (b) => client.writable && client.write(b), () => closed);
      const decUp = new MavlinkDecoder((f) => toUp.push(f.raw));
      const decDown = new MavlinkDecoder((f) => toClient.push(f.raw));
      client.on('data', (b) => decUp.push(b));
      up.on('data', (b) => decDown.push(b));
      client.on('close', close);
      up.on('close', close);
      client.on('error', close);
      up.on('error', close);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.a.destroy();
      p.b.destroy();
    }
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
