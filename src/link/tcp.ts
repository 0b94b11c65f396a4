/** tcp:HOST:PORT — a TCP client that reconnects with backoff. */
import { EventEmitter } from 'events';
import * as net from 'net';
import { Backoff, Link, LinkOptions, LinkStats, newStats } from './link';

export class TcpLink extends EventEmitter implements Link {
  readonly kind = 'tcp' as const;
  readonly stats: LinkStats = newStats();
  up = false;
  local: { address: string; port: number } | null = null;
  private sock: net.Socket | undefined;
  private closed = false;
  private everUp = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;

  constructor(readonly uri: string, private readonly host: string, private readonly port: number, opts: LinkOptions = {}) {
    super();
    this.backoff = new Backoff(opts.reconnectMinMs ?? 250, opts.reconnectMaxMs ?? 5000);
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const s = net.createConnection({ host: this.host, port: this.port });
    this.sock = s;
    s.setNoDelay(true);
    s.on('connect', () => {
      this.backoff.reset();
      this.up = true;
      this.local = { address: s.localAddress ?? '', port: s.localPort ?? 0 };
      if (this.everUp) this.stats.reconnects++;
      this.everUp = true;
      this.emit('up');
    });
    s.on('data', (b: Buffer) => {
      this.stats.bytesIn += b.length;
      this.stats.packetsIn++;
      this.emit('data', b);
    });
    s.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    s.on('close', () => {
      if (this.sock !== s) return;
      this.sock = undefined;
      if (this.up) {
        this.up = false;
        this.emit('down');
      }
      if (!this.closed) {
        this.timer = setTimeout(() => this.connect(), this.backoff.delay());
        this.timer.unref();
      }
    });
  }

  write(bytes: Buffer): boolean {
    if (!this.up || !this.sock) {
      this.stats.dropped++;
      return false;
    }
    this.sock.write(bytes);
    this.stats.bytesOut += bytes.length;
    this.stats.packetsOut++;
    return true;
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const s = this.sock;
    this.sock = undefined;
    if (this.up) {
      this.up = false;
      this.emit('down');
    }
    if (!s || s.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }
}
