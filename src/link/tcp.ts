/** tcp:HOST:PORT — a TCP client that reconnects with backoff. */
import * as net from 'net';
import { Link, LinkOptions, ReconnectingLink } from './link';

export class TcpLink extends ReconnectingLink implements Link {
  readonly kind = 'tcp' as const;
  local: { address: string; port: number } | null = null;
  private sock: net.Socket | undefined;

  constructor(readonly uri: string, private readonly host: string, private readonly port: number, opts: LinkOptions = {}) {
    super(opts);
    this.open();
  }

  protected open(): void {
    if (this.closed) return;
    const s = net.createConnection({ host: this.host, port: this.port });
    this.sock = s;
    s.setNoDelay(true);
    s.on('connect', () => {
      this.local = { address: s.localAddress ?? '', port: s.localPort ?? 0 };
      this.opened();
    });
    s.on('data', (b: Buffer) => this.received(b));
    s.on('error', (e) => this.reportError(e));
    s.on('close', () => {
      if (this.sock !== s) return;
      this.sock = undefined;
      this.lost();
      this.retry();
    });
  }

  protected send(bytes: Buffer): boolean {
    if (!this.sock) return false;
    this.sock.write(bytes);
    return true;
  }

  close(): Promise<void> {
    this.stopReconnecting();
    const s = this.sock;
    this.sock = undefined;
    this.lost();
    if (!s || s.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }
}
