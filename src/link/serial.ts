/** serial:PATH:BAUD — a serial port (serialport), reopened with backoff when it disappears. */
import { EventEmitter } from 'events';
import type { SerialPort as SerialPortType } from 'serialport';
import { Backoff, Link, LinkOptions, LinkStats, newStats } from './link';

export class SerialLink extends EventEmitter implements Link {
  readonly kind = 'serial' as const;
  readonly stats: LinkStats = newStats();
  readonly local = null;
  up = false;
  private port: SerialPortType | undefined;
  private closed = false;
  private everUp = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;

  constructor(readonly uri: string, private readonly path: string, private readonly baudRate: number, opts: LinkOptions = {}) {
    super();
    this.backoff = new Backoff(opts.reconnectMinMs ?? 250, opts.reconnectMaxMs ?? 5000);
    this.open();
  }

  private retry(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => this.open(), this.backoff.delay());
    this.timer.unref();
  }

  private open(): void {
    if (this.closed) return;
    // Loaded on first use, so processes without serial links never load the native binding.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SerialPort } = require('serialport') as typeof import('serialport');
    const p = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
    this.port = p;
    p.on('data', (b: Buffer) => {
      this.stats.bytesIn += b.length;
      this.stats.packetsIn++;
      this.emit('data', b);
    });
    p.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    p.on('close', () => {
      if (this.port !== p) return;
      this.port = undefined;
      if (this.up) {
        this.up = false;
        this.emit('down');
      }
      this.retry();
    });
    p.open((err) => {
      if (err) {
        if (this.port === p) this.port = undefined;
        if (this.listenerCount('error') > 0) this.emit('error', err);
        this.retry();
        return;
      }
      this.backoff.reset();
      this.up = true;
      if (this.everUp) this.stats.reconnects++;
      this.everUp = true;
      this.emit('up');
    });
  }

  write(bytes: Buffer): boolean {
    if (!this.up || !this.port) {
      this.stats.dropped++;
      return false;
    }
    this.port.write(bytes);
    this.stats.bytesOut += bytes.length;
    this.stats.packetsOut++;
    return true;
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const p = this.port;
    this.port = undefined;
    if (this.up) {
      this.up = false;
      this.emit('down');
    }
    if (!p || !p.isOpen) return Promise.resolve();
    return new Promise((resolve) => p.close(() => resolve()));
  }
}
