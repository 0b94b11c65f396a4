/**
 * A loopback relay in front of one ArduPilot SITL serial port.
 *
 * ArduPilot SITL listens for its TCP serial ports on every interface (INADDR_ANY; no option sets the
 * address). So the launcher turns it around: SITL connects out (`--serial0 tcpclient:127.0.0.1:P`) to
 * the relay's vehicle port, and ground stations connect to the relay's client port, which listens on
 * loopback unless told otherwise. SITL then listens on no TCP port at all.
 *
 * Like SITL's own TCP port, the relay serves one client at a time: a second client stays connected
 * but hears nothing until the first one leaves. When SITL's connection ends (a reboot: SITL executes
 * itself again and connects anew) every client is dropped, as a reboot drops SITL's own TCP link.
 * Bytes from a client before SITL has connected are discarded. Link faults (loss, delay, duplicates,
 * reordering, link loss) apply to whole MAVLink frames in both directions, as in FaultProxy.
 */
import * as net from 'net';
import { MavlinkDecoder } from '../src/mavlink/codec';
import { FaultShaper, LinkFaults, NO_LINK_FAULTS } from './link';

export interface SitlRelayOptions {
  /** Address of the client port. Default '127.0.0.1'. */
  host?: string;
  /** Client port. Default 0 (a free port). */
  port?: number;
  /** Pseudo-random source for the faults. Default Math.random. */
  random?: () => number;
}

interface Client {
  sock: net.Socket;
  closed: boolean;
  toVehicle: MavlinkDecoder;
}

export class SitlRelay {
  readonly faults: LinkFaults = { ...NO_LINK_FAULTS };
  /** Port SITL connects to (127.0.0.1). */
  vehiclePort = 0;
  /** Port ground stations connect to. */
  port = 0;
  /** Connections SITL has made (1 after start, one more per reboot). */
  vehicleConnections = 0;
  private vehicleServer: net.Server | null = null;
  private clientServer: net.Server | null = null;
  private vehicle: net.Socket | null = null;
  private readonly clients: Client[] = [];
  private readonly vehicleWaiters: Array<() => void> = [];
  private toClient: FaultShaper;
  private toVehicle: FaultShaper;
  private fromVehicle = new MavlinkDecoder((f) => this.toClient.push(f.raw));
  private closing = false;

  constructor(private readonly opts: SitlRelayOptions = {}) {
    const random = opts.random ?? Math.random;
    this.toClient = new FaultShaper(() => this.faults, random, (b) => this.writeClient(b));
    this.toVehicle = new FaultShaper(() => this.faults, random, (b) => this.writeVehicle(b));
  }

  /** Listen on both ports; resolves with the client port. */
  async start(): Promise<number> {
    this.vehicleServer = net.createServer((s) => this.onVehicle(s));
    this.clientServer = net.createServer((s) => this.onClient(s));
    this.vehiclePort = await listen(this.vehicleServer, 0, '127.0.0.1');
    this.port = await listen(this.clientServer, this.opts.port ?? 0, this.opts.host ?? '127.0.0.1');
    return this.port;
  }

  /** True while SITL is connected. */
  get vehicleConnected(): boolean {
    return this.vehicle !== null;
  }

  /** Resolves once SITL is connected (false after timeoutMs). */
  waitVehicle(timeoutMs: number): Promise<boolean> {
    if (this.vehicle) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      t.unref?.();
      this.vehicleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  private onVehicle(s: net.Socket): void {
    s.setNoDelay(true);
    if (this.closing) {
      s.destroy();
      return;
    }
    // A new connection from SITL means it restarted: the old one is gone whatever the kernel says.
    if (this.vehicle) this.vehicleGone(this.vehicle);
    this.vehicle = s;
    this.vehicleConnections++;
    this.fromVehicle = new MavlinkDecoder((f) => this.toClient.push(f.raw));
    s.on('data', (b) => {
      if (this.vehicle === s) this.fromVehicle.push(b);
    });
    s.on('error', () => undefined);
    s.on('close', () => this.vehicleGone(s));
    for (const w of this.vehicleWaiters.splice(0)) w();
  }

  private vehicleGone(s: net.Socket): void {
    s.destroy();
    if (this.vehicle !== s) return;
    this.vehicle = null;
    // SITL's TCP link ends with it: every ground station connection drops, as on a reboot.
    for (const c of this.clients.splice(0)) this.closeClient(c);
  }

  private onClient(sock: net.Socket): void {
    sock.setNoDelay(true);
    if (this.closing) {
      sock.destroy();
      return;
    }
    const c: Client = {
      sock,
      closed: false,
      toVehicle: new MavlinkDecoder((f) => {
        if (this.clients[0] === c) this.toVehicle.push(f.raw);
      }),
    };
    this.clients.push(c);
    sock.on('data', (b) => {
      if (this.clients[0] === c && this.vehicle) c.toVehicle.push(b);
    });
    const gone = () => {
      if (c.closed) return;
      const i = this.clients.indexOf(c);
      if (i >= 0) this.clients.splice(i, 1);
      this.closeClient(c);
    };
    sock.on('close', gone);
    sock.on('error', gone);
  }

  private closeClient(c: Client): void {
    c.closed = true;
    c.sock.destroy();
  }

  private writeClient(b: Buffer): void {
    const c = this.clients[0];
    if (c && !c.closed && c.sock.writable) c.sock.write(b);
  }

  private writeVehicle(b: Buffer): void {
    const v = this.vehicle;
    if (v && !v.destroyed && v.writable) v.write(b);
  }

  /** Drop the current ground station connections (SITL stays connected). */
  dropClients(): void {
    for (const c of this.clients.splice(0)) this.closeClient(c);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.dropClients();
    this.vehicle?.destroy();
    this.vehicle = null;
    await Promise.all([this.vehicleServer, this.clientServer].map((s) => new Promise<void>((r) => (s ? s.close(() => r()) : r()))));
  }
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}
