/**
 * A vehicle that records when the ground station's heartbeats arrive: a TCP server (point the
 * service at `uri`) in a worker thread of its own, so its clock and socket keep running whatever the
 * service's event loop does. It announces itself as an ArduCopter (HEARTBEAT at `vehicleHz`, sysid
 * 1) so the service sees a connected vehicle, and timestamps every HEARTBEAT from sysid 255 on
 * arrival (epoch ms, sub-millisecond: performance.timeOrigin + performance.now()).
 */
import { Worker } from 'worker_threads';
import { minimal } from 'mavlink-mappings';
import { MavlinkEncoder } from '../../src/mavlink/codec';
import { msg } from '../../src/mavlink/registry';

export interface HeartbeatRecorder {
  /** e.g. 'tcp:127.0.0.1:40123' */
  uri: string;
  port: number;
  /** Arrival times of GCS heartbeats so far (epoch ms). */
  arrivals(): Promise<number[]>;
  close(): Promise<void>;
}

/** Now on the recorder's time base (epoch ms, sub-millisecond). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

const WORKER_SOURCE = `
const { parentPort, workerData } = require('worker_threads');
const net = require('net');
const frames = workerData.frames.map((f) => Buffer.from(f));
const arrivals = [];
const sockets = new Set();
let seq = 0;
const server = net.createServer((sock) => {
  sockets.add(sock);
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  const send = () => { if (!sock.destroyed) sock.write(frames[seq++ % frames.length]); };
  send();
  const beat = setInterval(send, workerData.periodMs);
  sock.on('data', (d) => {
    const t = performance.timeOrigin + performance.now();
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      const i = buf.indexOf(0xfd);
      if (i < 0) { buf = Buffer.alloc(0); break; }
      if (i > 0) buf = buf.subarray(i);
      if (buf.length < 10) break;
      const total = 12 + buf[1] + (buf[2] & 1 ? 13 : 0);
      if (buf.length < total) break;
      const sysid = buf[5], msgid = buf[7] | (buf[8] << 8) | (buf[9] << 16);
      if (msgid === 0 && sysid === 255) arrivals.push(t);
      buf = buf.subarray(total);
    }
  });
  sock.on('error', () => undefined);
  sock.on('close', () => { clearInterval(beat); sockets.delete(sock); });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ type: 'listening', port: server.address().port }));
parentPort.on('message', (m) => {
  if (m.type === 'arrivals') parentPort.postMessage({ type: 'arrivals', id: m.id, arrivals });
  if (m.type === 'close') {
    for (const s of sockets) s.destroy();
    server.close(() => parentPort.postMessage({ type: 'closed' }));
  }
});
`;

export async function startHeartbeatRecorder(opts: { vehicleHz?: number } = {}): Promise<HeartbeatRecorder> {
  // The vehicle's own heartbeats, encoded here with the project's codec (sequence 0..255).
  const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
  const hb = msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: 81, customMode: 0, systemStatus: 3 });
  const frames = Array.from({ length: 256 }, () => Uint8Array.from(enc.encode(hb)));
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { frames, periodMs: 1000 / (opts.vehicleHz ?? 1) } });
  worker.unref();
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', function onMsg(m) {
      if (m.type === 'listening') {
        worker.off('message', onMsg);
        resolve(m.port);
      }
    });
  });
  let nextId = 0;
  return {
    uri: `tcp:127.0.0.1:${port}`,
    port,
    arrivals: () =>
      new Promise<number[]>((resolve) => {
        const id = nextId++;
        const onMsg = (m: { type: string; id?: number; arrivals?: number[] }) => {
          if (m.type === 'arrivals' && m.id === id) {
            worker.off('message', onMsg);
            resolve(m.arrivals!);
          }
        };
        worker.on('message', onMsg);
        worker.postMessage({ type: 'arrivals', id });
      }),
    close: async () => {
      const done = new Promise<void>((resolve) => worker.on('message', (m) => m.type === 'closed' && resolve()));
      worker.postMessage({ type: 'close' });
      await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
      await worker.terminate();
    },
  };
}

/** Intervals (ms) between consecutive arrivals that fall in [fromMs, toMs]. */
export function intervalsBetween(arrivals: number[], fromMs: number, toMs: number): number[] {
  const a = arrivals.filter((t) => t >= fromMs && t <= toMs);
  return a.slice(1).map((t, i) => t - a[i]);
}

/** The p-th percentile (0..100, nearest rank) of xs; NaN when empty. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
