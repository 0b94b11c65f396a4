/**
 * A tap on a vehicle's TCP link, in a worker thread of its own (its clock and sockets keep running
 * whatever the bench's event loop does): a relay on a loopback port that passes bytes both ways
 * between whoever connects (the ground side: the service, or a link agent) and the vehicle, and
 * records on arrival (epoch ms, sub-millisecond: performance.timeOrigin + performance.now())
 *   - every HEARTBEAT from a ground station (sysid 255) on its way to the vehicle, and
 *   - every STATUSTEXT the vehicle sends (its failsafe messages).
 *
 * The tap starts closed: connections are accepted and held silent (the ground side sees no vehicle)
 * until `open()`, which connects each of them to the vehicle. A ground connection that closes takes
 * its vehicle connection with it; a new one gets a new vehicle connection.
 */
import { Worker } from 'worker_threads';

export interface HeartbeatTap {
  /** e.g. 'tcp:127.0.0.1:40123' */
  uri: string;
  port: number;
  open(): Promise<void>;
  /** Arrival times of ground heartbeats so far (epoch ms). */
  heartbeats(): Promise<number[]>;
  /** STATUSTEXTs from the vehicle so far, with their arrival times. */
  texts(): Promise<Array<{ t: number; text: string }>>;
  close(): Promise<void>;
}

/** Now on the tap's time base (epoch ms, sub-millisecond). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

const WORKER_SOURCE = `
const { parentPort, workerData } = require('worker_threads');
const net = require('net');
const heartbeats = [];
const texts = [];
const pairs = new Set();
let isOpen = false;
const now = () => performance.timeOrigin + performance.now();

/** Calls onFrame(buf, start, total) for each whole MAVLink 2 frame; returns the unparsed rest. */
function frames(buf, onFrame) {
  let off = 0;
  for (;;) {
    const i = buf.indexOf(0xfd, off);
    if (i < 0) return Buffer.alloc(0);
    if (buf.length - i < 10) return buf.subarray(i);
    const total = 12 + buf[i + 1] + (buf[i + 2] & 1 ? 13 : 0);
    if (buf.length - i < total) return buf.subarray(i);
    onFrame(buf, i, total);
    off = i + total;
  }
}

function connectUp(pair) {
  if (pair.up || pair.ground.destroyed) return;
  const up = net.connect(workerData.port, workerData.host);
  pair.up = up;
  up.setNoDelay(true);
  let rest = Buffer.alloc(0);
  up.on('data', (d) => {
    const t = now();
    const buf = rest.length ? Buffer.concat([rest, d]) : d;
    rest = Buffer.from(frames(buf, (b, i, total) => {
      const msgid = b[i + 7] | (b[i + 8] << 8) | (b[i + 9] << 16);
      if (msgid === 253) {
        const p = b.subarray(i + 10, i + 10 + b[i + 1]);
        const raw = p.subarray(1, 51);
        const z = raw.indexOf(0);
        texts.push({ t, text: raw.subarray(0, z < 0 ? raw.length : z).toString('latin1') });
      }
    }));
    pair.ground.write(d);
  });
  const end = () => { pair.ground.destroy(); up.destroy(); pairs.delete(pair); };
  up.on('error', end);
  up.on('close', end);
}

const server = net.createServer((ground) => {
  ground.setNoDelay(true);
  const pair = { ground, up: null };
  pairs.add(pair);
  let rest = Buffer.alloc(0);
  ground.on('data', (d) => {
    const t = now();
    const buf = rest.length ? Buffer.concat([rest, d]) : d;
    rest = Buffer.from(frames(buf, (b, i) => {
      const msgid = b[i + 7] | (b[i + 8] << 8) | (b[i + 9] << 16);
      if (msgid === 0 && b[i + 5] === 255) heartbeats.push(t);
    }));
    if (pair.up) pair.up.write(d);
  });
  const end = () => { ground.destroy(); if (pair.up) pair.up.destroy(); pairs.delete(pair); };
  ground.on('error', end);
  ground.on('close', end);
  if (isOpen) connectUp(pair);
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ type: 'listening', port: server.address().port }));
parentPort.on('message', (m) => {
  if (m.type === 'open') { isOpen = true; for (const p of pairs) connectUp(p); parentPort.postMessage({ type: 'open', id: m.id }); }
  if (m.type === 'heartbeats') parentPort.postMessage({ type: 'heartbeats', id: m.id, heartbeats });
  if (m.type === 'texts') parentPort.postMessage({ type: 'texts', id: m.id, texts });
  if (m.type === 'close') {
    for (const p of pairs) { p.ground.destroy(); if (p.up) p.up.destroy(); }
    server.close(() => parentPort.postMessage({ type: 'closed' }));
  }
});
`;

/** A closed tap in front of the vehicle at `uri` (tcp:HOST:PORT). */
export async function startHeartbeatTap(uri: string): Promise<HeartbeatTap> {
  const m = /^tcp:([^:]+):(\d+)$/.exec(uri);
  if (!m) throw new Error(`the heartbeat tap needs a tcp: URI, got ${uri}`);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { host: m[1], port: Number(m[2]) } });
  worker.unref();
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', function onListening(x: { type: string; port: number }) {
      if (x.type !== 'listening') return;
      worker.off('message', onListening);
      resolve(x.port);
    });
  });
  let seq = 0;
  const ask = <T>(type: string, key: string): Promise<T> => {
    const id = ++seq;
    return new Promise((resolve) => {
      const h = (x: { type: string; id: number } & Record<string, unknown>) => {
        if (x.type === type && x.id === id) {
          worker.off('message', h);
          resolve(x[key] as T);
        }
      };
      worker.on('message', h);
      worker.postMessage({ type, id });
    });
  };
  let closed = false;
  return {
    uri: `tcp:127.0.0.1:${port}`,
    port,
    open: () => ask('open', 'id').then(() => undefined),
    heartbeats: () => ask('heartbeats', 'heartbeats'),
    texts: () => ask('texts', 'texts'),
    close: async () => {
      if (closed) return;
      closed = true;
      const closedMsg = new Promise<void>((resolve) => worker.on('message', (x: { type: string }) => x.type === 'closed' && resolve()));
      worker.postMessage({ type: 'close' });
      await Promise.race([closedMsg, new Promise((r) => setTimeout(r, 2000))]);
      await worker.terminate();
    },
  };
}
