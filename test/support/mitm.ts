/**
 * An attacker on the vehicle's link, for tests: a TCP relay between the ground station and a
 * vehicle that passes whole MAVLink frames both ways, keeps what the vehicle sent (to replay it
 * later), and injects frames of its own into the stream towards the ground station, between two
 * real frames, as someone on the same network or radio channel could.
 */
import * as net from 'net';
import { MavlinkDecoder, type Frame } from '../../src/mavlink/codec';

export class LinkAttacker {
  /** Frames the vehicle sent, in order (the newest 5000). */
  readonly fromVehicle: Frame[] = [];
  private server: net.Server | null = null;
  private readonly clients = new Set<net.Socket>();
  port = 0;

  constructor(private readonly upstream: { host: string; port: number }) {}

  static async start(uri: string): Promise<LinkAttacker> {
    const m = /^tcp:([^:]+):(\d+)$/.exec(uri);
    if (!m) throw new Error(`LinkAttacker needs a tcp: URI, got ${uri}`);
    const a = new LinkAttacker({ host: m[1], port: Number(m[2]) });
    await a.listen();
    return a;
  }

  private async listen(): Promise<void> {
    const server = net.createServer((client) => {
      client.setNoDelay(true);
      const up = net.connect(this.upstream.port, this.upstream.host);
      up.setNoDelay(true);
      this.clients.add(client);
      const close = () => {
        this.clients.delete(client);
        client.destroy();
        up.destroy();
      };
      const down = new MavlinkDecoder((f) => {
        this.fromVehicle.push(f);
        if (this.fromVehicle.length > 5000) this.fromVehicle.splice(0, 1000);
        if (client.writable) client.write(f.raw);
      });
      const toUp = new MavlinkDecoder((f) => up.writable && up.write(f.raw));
      up.on('data', (b) => down.push(b));
      client.on('data', (b) => toUp.push(b));
      for (const s of [client, up]) {
        s.on('close', close);
        s.on('error', close);
      }
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (server.address() as net.AddressInfo).port;
  }

  get uri(): string {
    return `tcp:127.0.0.1:${this.port}`;
  }

  /** Write frames to the ground station as if the vehicle had sent them. */
  inject(...frames: Buffer[]): void {
    for (const c of this.clients) if (c.writable) c.write(Buffer.concat(frames));
  }

  /** The newest frame from the vehicle matching `pred`. */
  last(pred: (f: Frame) => boolean): Frame | undefined {
    for (let i = this.fromVehicle.length - 1; i >= 0; i--) if (pred(this.fromVehicle[i])) return this.fromVehicle[i];
    return undefined;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
