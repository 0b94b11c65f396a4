/**
 * The rig of the continuity tests: a NATS server and a PostgreSQL cluster of the test's own (so they
 * can be crashed, support/restartable.ts), built-in simulators at ×10 with the default GCS failsafe
 * (FS_GCS_ENABLE 1, FS_GCS_TIMEOUT 5 s), one link agent holding their links and one service node on
 * that PostgreSQL and NATS (or several: `new Rig(vehicles, { nodes })`, started one after the other),
 * each its own process. An observer client on the bus keeps what the vehicles say (STATUSTEXT) and
 * the commands sent to them (COMMAND_LONG on `.tx`). `liveViewer` opens a node's `/ws` as the
 * console does.
 */
import type { ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import WebSocket from 'ws';
import { decodeAll, type Frame } from '../../../src/mavlink/codec';
import { openBus, Subjects, type Bus } from '../../../src/bus';
import { DELIVERY_READY_SIM_PARAMS } from '../../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../../support/vehicles';
import { Client, waitFor, vehicleReady } from '../../service/support/client';
import { LiveLink, type SocketLike } from '../../../web/src/live-link';
import { kill9, serviceLine, spawnChild } from './processes';
import { missingBinaries, OwnNats, OwnPostgres } from './restartable';

export const SPEEDUP = 10;
export const SITE = 'field';
export const DROP: [number, number] = [114.3935, 34.0515];
export const FLOWN = ['requested', 'planned', 'uploading', 'ready', 'in-flight', 'delivered', 'returning', 'completed'];
const LINK = (i: number) => `c${i + 1}`;
export const VID = (i: number) => `${SITE}.${LINK(i)}-${i + 1}/${i + 1}`;

/** `describe` for suites that start their own NATS and PostgreSQL: skipped with the reason printed, or failing under CI=true. */
export function ownServersSuite(name: string, fn: () => void): void {
  const why = missingBinaries();
  if (why === null) return void describe(name, fn);
  if (process.env.CI === 'true') {
    describe(name, () => it('needs nats-server and the PostgreSQL programs', () => {
      throw new Error(`continuity tests cannot run in CI: missing ${why}`);
    }));
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`SKIPPED continuity tests "${name}": missing ${why}`);
  describe.skip(name, () => it('needs nats-server and the PostgreSQL programs', () => undefined));
}

export interface RigNode {
  child: ChildProcess;
  url: string;
  /** Its name in the agents' leases and on the job entries it writes (src/bus/attach.ts). */
  node: string;
}

export interface Said {
  t: number;
  vehicle: number;
  text: string;
}
export interface Sent {
  t: number;
  vehicle: number;
  command: number;
}

export class Rig {
  nats!: OwnNats;
  pg!: OwnPostgres;
  sims!: Awaited<ReturnType<typeof startTestVehicles>>;
  bus!: Bus;
  agent!: ChildProcess;
  /** The service nodes, in the order they started. */
  readonly nodes: RigNode[] = [];
  readonly root = `dlcont${randomBytes(4).toString('hex')}`;
  readonly subjects = new Subjects(this.root);
  readonly metricsToken = randomBytes(16).toString('hex');
  readonly texts: Said[] = [];
  readonly sent: Sent[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly dirs: string[] = [];

  /** `count` vehicles; `nodes` service nodes (default 1). */
  constructor(
    readonly count: number,
    private readonly opts: { nodes?: number } = {},
  ) {}

  /** The first node. */
  get node(): RigNode {
    return this.nodes[0];
  }

  async start(): Promise<void> {
    this.nats = await OwnNats.create();
    this.pg = await OwnPostgres.create();
    this.sims = await startTestVehicles({
      instances: this.count,
      speedup: SPEEDUP,
      homes: Array.from({ length: this.count }, (_x, i) => ({ lat: 34.06, lon: 114.39 + i * 0.0003, altAmslM: 100 })),
      // The failsafe as shipped: on, 5 s, RTL in every mode (FS_OPTIONS 0, as test/agent/agent-nats.test.ts explains).
      params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5, FS_OPTIONS: 0 },
    });
    this.bus = await openBus(this.nats.url);
    for (let i = 0; i < this.count; i++) {
      const token = `${LINK(i)}-${i + 1}`;
      this.bus.subscribe(this.subjects.vehicle(SITE, token, 'rx'), (m) => {
        for (const f of decodeAll(Buffer.from(m.data)) as Frame[])
          if (f.name === 'STATUSTEXT') this.texts.push({ t: Date.now(), vehicle: i, text: String((f.data as unknown as { text: string }).text) });
      });
      this.bus.subscribe(this.subjects.vehicle(SITE, token, 'tx'), (m) => {
        for (const f of decodeAll(Buffer.from(m.data)) as Frame[])
          if (f.name === 'COMMAND_LONG') this.sent.push({ t: Date.now(), vehicle: i, command: (f.data as unknown as { command: number }).command });
      });
    }
    await this.startAgent();
    // One after the other: each seeds the test users in the shared store.
    for (let k = 0; k < (this.opts.nodes ?? 1); k++) await this.startNode();
  }

  async startAgent(): Promise<void> {
    const links = this.sims.instances.flatMap((s, i) => ['--link', `${s.uri}?id=${LINK(i)}`]);
    const r = await spawnChild(
      this.children,
      'test/agent/support/agent-main.ts',
      [...links, '--bus', this.nats.url, '--site', SITE, '--bus-prefix', this.root, '--heartbeat-hz', String(gcsHeartbeatHzFor(SPEEDUP)), '--log-level', 'warn'],
      {},
      (l) => l.startsWith('dropline agent:'),
    );
    this.agent = r.child;
  }

  async killAgent(): Promise<void> {
    await kill9(this.agent);
  }

  async startNode(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-node-'));
    this.dirs.push(dir);
    const r = await spawnChild(
      this.children,
      'test/agent/support/service-main.ts',
      [],
      { DL_DATA_DIR: dir, DL_STORE: this.pg.url, DL_BUS: this.nats.url, DL_BUS_PREFIX: this.root, DL_LOG_LEVEL: 'warn', DROPLINE_METRICS_TOKEN: this.metricsToken },
      serviceLine,
    );
    this.nodes.push({ child: r.child, url: r.line.url, node: r.line.node! });
  }

  /** Node k's detailed health, read with the metrics token (no session: it answers while the store is down). */
  async health(nodeIndex = 0): Promise<any> {
    try {
      const r = await new Client(this.nodes[nodeIndex].url).req('GET', '/api/health', undefined, { token: this.metricsToken });
      return r.status === 200 ? r.body : null;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    for (const o of [...observers]) await o.stop();
    for (const v of [...viewers]) v.stop();
    for (const c of this.children) await kill9(c).catch(() => undefined);
    await this.bus?.removeRecording(this.subjects.tlogStream).catch(() => undefined);
    await this.bus?.close().catch(() => undefined);
    await this.sims?.stop();
    await this.nats?.stop();
    await this.pg?.stop();
    for (const d of this.dirs) fs.rmSync(d, { recursive: true, force: true });
  }

  /** A job created and dispatched to vehicle i by `op` once the vehicle is ready; its id. */
  async dispatch(op: Client, i: number): Promise<string> {
    await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${encodeURIComponent(VID(i))}`)).body), 180_000, `vehicle ${i} ready`, 250);
    const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin', massKg: 0.4 } });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID(i) });
    expect([disp.status, disp.body.state]).toEqual([202, 'uploading']);
    return id;
  }

  /** Waits for the job to fly towards the drop (in flight, past its first mission items). */
  async onItsWay(c: Client, id: string): Promise<void> {
    await waitFor(async () => {
      const d = (await c.get(`/api/deliveries/${id}`)).body;
      return d.state === 'in-flight' && (d.progress?.missionCurrent ?? 0) >= 2;
    }, 180_000, 'in flight, on its way', 250);
  }

  async finished(c: Client, id: string): Promise<any> {
    return waitFor(
      async () => {
        const r = await c.get(`/api/deliveries/${id}`).catch(() => null);
        return r?.status === 200 && ['completed', 'failed', 'aborted'].includes(r.body.state) ? r.body : null;
      },
      240_000,
      `delivery ${id} to finish`,
      250,
    );
  }
}

/** A timeline entry or an audit row as compared before and after: what the store committed. */
export const entryKey = (e: any) => JSON.stringify([e.at, e.state ?? null, e.event ?? null]);
export const auditKey = (r: any) => JSON.stringify([r.id, r.at, r.action, r.username]);

/**
 * Reads the job's timeline and its audit rows (by job and by vehicle) every 250 ms while a scenario
 * runs, keeping everything ever seen; reads that fail (the store is down) are skipped.
 */
const observers = new Set<{ stop(): Promise<void> }>();

export function observe(c: Client, id: string, vehicleId: string) {
  const entries = new Map<string, any>();
  const audit = new Map<string, any>();
  const states: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const d = await c.get(`/api/deliveries/${id}`);
        if (d.status === 200) {
          for (const e of d.body.timeline) entries.set(entryKey(e), e);
          if (states[states.length - 1] !== d.body.state) states.push(d.body.state);
        }
        for (const q of [`deliveryId=${id}`, `vehicleId=${encodeURIComponent(vehicleId)}`]) {
          const a = await c.get(`/api/audit?${q}&limit=500`);
          if (a.status === 200 && Array.isArray(a.body)) for (const r of a.body) audit.set(auditKey(r), r);
        }
      } catch {
        /* the node or the store is unreachable: nothing seen this round */
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const o = {
    entries,
    audit,
    states,
    async stop() {
      stopped = true;
      observers.delete(o);
      await loop;
    },
  };
  observers.add(o);
  return o;
}

/** Every audit row of the job and its vehicle, as the store holds them now. */
export async function auditRows(c: Client, id: string, vehicleId: string): Promise<Map<string, any>> {
  const out = new Map<string, any>();
  for (const q of [`deliveryId=${id}`, `vehicleId=${encodeURIComponent(vehicleId)}`]) {
    const a = await c.get(`/api/audit?${q}&limit=500`);
    expect(a.status).toBe(200);
    for (const r of a.body) out.set(auditKey(r), r);
  }
  return out;
}

const viewers = new Set<{ stop(): void }>();

/**
 * A live viewer on a node's `/ws`, as the console opens it (web/src/app.ts): the session cookie of
 * `user`, the console's own Origin, the console's LiveLink (subscribes after each hello, reconnects
 * with its backoff unless /api/me answers 401), everything subscribed. Keeps every frame received
 * (`at`: when it arrived; `socket`: which socket brought it, counted from 1), every job update and
 * alert received (`updates`: the `{type:'delivery'}` and `{type:'alert'}` messages) and every socket
 * closed.
 */
export async function liveViewer(nodeUrl: string, user: Client) {
  const frames: Array<{ at: number; socket: number; frame: any }> = [];
  const updates: Array<{ at: number; socket: number; type: 'delivery' | 'alert'; delivery?: any; alert?: any }> = [];
  const closes: Array<{ at: number; socket: number; code: number; reason: string }> = [];
  const opened: Array<{ at: number; socket: number }> = [];
  let sockets = 0;
  const link = new LiveLink({
    url: nodeUrl.replace(/^http/, 'ws') + '/ws',
    subscribe: { type: 'subscribe', vehicles: 'all', deliveries: true, alerts: true, rateHz: 10 },
    createSocket: (url) => {
      const n = ++sockets;
      const ws = new WebSocket(url, { headers: { cookie: `dropline_session=${user.token}`, origin: new URL(nodeUrl).origin } });
      ws.on('open', () => opened.push({ at: Date.now(), socket: n }));
      ws.on('message', (d) => {
        try {
          const m = JSON.parse(String(d));
          if (m.type === 'frames') for (const f of m.frames) frames.push({ at: Date.now(), socket: n, frame: f });
          else if (m.type === 'delivery') updates.push({ at: Date.now(), socket: n, type: 'delivery', delivery: m.delivery });
          else if (m.type === 'alert') updates.push({ at: Date.now(), socket: n, type: 'alert', alert: m.alert });
        } catch {
          /* LiveLink ignores it too */
        }
      });
      ws.on('close', (code, reason) => closes.push({ at: Date.now(), socket: n, code, reason: String(reason) }));
      ws.on('error', () => undefined); // a refused upgrade; the close follows
      return ws as unknown as SocketLike;
    },
    onClosed: async () => (await user.get('/api/me').catch(() => null))?.status !== 401,
  });
  const v = {
    frames,
    updates,
    closes,
    opened,
    link,
    /** Frames of `vehicleId` that arrived after `sinceMs`, live (not stale) and with a position the node heard after `sinceMs`. */
    freshSince(vehicleId: string, sinceMs: number) {
      return frames.filter((x) => x.at > sinceMs && x.frame.id === vehicleId && !x.frame.stale && x.frame.t > sinceMs && x.frame.lat !== null && x.frame.lon !== null);
    },
    /** The states of job `id` as its updates brought them, each change once, in order. */
    statesOf(id: string) {
      const out: string[] = [];
      for (const u of updates) if (u.type === 'delivery' && u.delivery?.id === id && out[out.length - 1] !== u.delivery.state) out.push(u.delivery.state);
      return out;
    },
    stop() {
      link.stop();
      viewers.delete(v);
    },
  };
  viewers.add(v);
  link.start();
  await waitFor(() => link.state.connections > 0, 20_000, `the live viewer on ${nodeUrl} connected`);
  return v;
}

/** Distinct positions among frames (lat, lon, altitude): more than one means the vehicle was seen moving. */
export const positions = (xs: Array<{ frame: any }>) => new Set(xs.map((x) => `${x.frame.lat},${x.frame.lon},${x.frame.altRelM}`)).size;
