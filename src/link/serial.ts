/** serial:PATH:BAUD — a serial port (serialport), reopened with backoff when it disappears. */
import type { SerialPort as SerialPortType } from 'serialport';
import { Link, LinkOptions, ReconnectingLink } from './link';

export class SerialLink extends ReconnectingLink implements Link {
  readonly kind = 'serial' as const;
  readonly local = null;
  private port: SerialPortType | undefined;

  constructor(readonly uri: string, private readonly path: string, private readonly baudRate: number, opts: LinkOptions = {}) {
    super(opts);
    this.open();
  }

  protected open(): void {
    if (this.closed) return;
    // Loaded on first use, so processes without serial links never load the native binding.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SerialPort } = require('serialport') as typeof import('serialport');
    const p = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
    this.port = p;
    p.on('data', (b: Buffer) => this.received(b));
    p.on('error', (e) => this.reportError(e));
    p.on('close', () => {
      if (this.port !== p) return;
      this.port = undefined;
      this.lost();
      this.retry();
    });
    p.open((err) => {
      if (err) {
        if (this.port === p) this.port = undefined;
        this.reportError(err);
        this.retry();
        return;
      }
      this.opened();
    });
  }

  protected send(bytes: Buffer): boolean {
    if (!this.port) return false;
    this.port.write(bytes);
    return true;
  }

  close(): Promise<void> {
    this.stopReconnecting();
    const p = this.port;
    this.port = undefined;
    this.lost();
    if (!p || !p.isOpen) return Promise.resolve();
    return new Promise((resolve) => p.close(() => resolve()));
  }
}
