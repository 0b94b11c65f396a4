/**
 * udpin:HOST:PORT — listen; answer every remote that has spoken to us (a ground station serving
 * several vehicles or a SITL that sends first).
 * udpout:HOST:PORT — send to one address from an ephemeral port and receive its replies.
 */
import { EventEmitter } from 'events';
import * as dgram from 'dgram';
import * as net from 'net';
import { Link, LinkOptions, LinkStats, newStats } from './link';

export class UdpLink extends EventEmitter implements Link {
  readonly stats: LinkStats = newStats();
  up = false;
  local: { address: string; port: number } | null = null;
  /** udpin: remotes that spoke to us, by "addr:port", with the time last heard. */
  readonly remotes = new Map<string, { address: string; port: number; lastMs: number }>();
  private readonly sock: dgram.Socket;
  private closed = false;
  private readonly ttlMs: number;

  constructor(readonly uri: string, readonly kind: 'udpin' | 'udpout', private readonly host: string, private readonly port: number, opts: LinkOptions = {}) {
    super();
    this.ttlMs = opts.remoteTtlMs ?? 60000;
    const family = net.isIPv6(host) ? 'udp6' : 'udp4';
    this.sock = dgram.createSocket({ type: family, reuseAddr: kind === 'udpin' });
    this.sock.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    this.sock.on('message', (b, rinfo) => {
      if (kind === 'udpout' && (rinfo.port !== this.port)) return;
      if (kind === 'udpin') {
        const key = `${rinfo.address}:${rinfo.port}`;
        const known = this.remotes.get(key);
        if (known) known.lastMs = Date.now();
        else this.remotes.set(key, { address: rinfo.address, port: rinfo.port, lastMs: Date.now() });
      }
      this.stats.bytesIn += b.length;
      this.stats.packetsIn++;
      this.emit('data', b);
    });
    this.sock.on('listening', () => {
      const a = this.sock.address();
      this.local = { address: a.address, port: a.port };
      this.up = true;
      this.emit('up');
    });
    if (kind === 'udpin') this.sock.bind(port, host);
    else this.sock.bind(0);
  }

  write(bytes: Buffer): boolean {
    if (!this.up || this.closed) {
      this.stats.dropped++;
      return false;
    }
    if (this.kind === 'udpout') {
      this.sock.send(bytes, this.port, this.host);
    } else {
      const now = Date.now();
      let any = false;
      for (const [k, r] of this.remotes) {
        if (now - r.lastMs > this.ttlMs) {
          this.remotes.delete(k);
          continue;
        }
        this.sock.send(bytes, r.port, r.address);
        any = true;
      }
      if (!any) {
        this.stats.dropped++;
        return false;
      }
    }
    this.stats.bytesOut += bytes.length;
    this.stats.packetsOut++;
    return true;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.up) {
      this.up = false;
      this.emit('down');
    }
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
