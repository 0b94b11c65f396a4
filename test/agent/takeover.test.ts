/**
 * Two service nodes on one PostgreSQL (a fresh schema) and NATS JetStream, the built-in simulator
 * behind a link agent, every one its own process. Node A dispatches a delivery through the agent; once
 * the job is in flight A is killed with SIGKILL; node B takes the job's lease within 5 s, resumes
 * following the flight from the vehicle's stream, and the delivery completes. The vehicle keeps the
 * default GCS failsafe (FS_GCS_TIMEOUT 5 s) and never reports "GCS Failsafe". A console on B follows
 * A's job live until A dies. Then a third node C flies a job from start to end while the console on B
 * follows it: every state in order, every alert of the job once, and C's acknowledgement of one.
 * Last, the vehicle's battery drops: B and C both hear it, and its fleet alerts (battery low, the
 * vehicle's own STATUSTEXT) are stored once and shown once on B's console.
 */
import type { ChildProcess } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { decodeAll, type Frame } from '../../src/mavlink/codec';
import { openBus, Subjects, type Bus } from '../../src/bus';
import { DELIVERY_READY_SIM_PARAMS } from '../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { natsSuite, natsTestRoot } from '../support/nats';
import { freshSchema, pgAvailable, type TestSchema } from '../support/postgres';
import { Client, waitFor, vehicleReady } from '../service/support/client';
import { kill9, serviceLine, spawnChild } from './support/processes';
import { liveViewer, FLOWN } from './support/continuity-rig';

jest.setTimeout(300_000);

const SPEEDUP = 10;
const SITE = 'field';
const TOKEN = 'radio-1';
const VID = `${SITE}.${TOKEN}/1`;
const DROP: [number, number] = [114.3935, 34.0515];

const suite = pgAvailable() ? natsSuite : (name: string, _fn: (url: string) => void) => describe.skip(name, () => it('needs PostgreSQL', () => undefined));

suite('job take-over between two nodes on PostgreSQL and NATS', (url) => {
  const root = natsTestRoot();
  const subjects = new Subjects(root);
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  let schema: TestSchema;
  let sims: Awaited<ReturnType<typeof startTestVehicles>>;
  let bus: Bus;
  const texts: Array<{ t: number; text: string }> = [];
  const viewers: Array<{ stop(): void }> = [];
  let b: { child: ChildProcess; url: string };

  const startNode = async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-node-'));
    dirs.push(dir);
    const env = { DL_DATA_DIR: dir, DL_STORE: schema.url, DL_BUS: url, DL_BUS_PREFIX: root, DL_LOG_LEVEL: 'warn' };
    const r = await spawnChild(children, 'test/agent/support/service-main.ts', [], env, serviceLine);
    return { child: r.child, url: r.line.url };
  };

  beforeAll(async () => {
    schema = freshSchema();
    sims = await startTestVehicles({
      instances: 1,
      speedup: SPEEDUP,
      homes: [{ lat: 34.06, lon: 114.39, altAmslM: 100 }],
      params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5 },
    });
    bus = await openBus(url);
    bus.subscribe(subjects.vehicle(SITE, TOKEN, 'rx'), (m) => {
      for (const f of decodeAll(Buffer.from(m.data)) as Frame[])
        if (f.name === 'STATUSTEXT') texts.push({ t: Date.now(), text: String((f.data as unknown as { text: string }).text) });
    });
    const uri = `${sims.instances[0].uri}?id=radio`;
    await spawnChild(children, 'test/agent/support/agent-main.ts', ['--link', uri, '--bus', url, '--site', SITE, '--bus-prefix', root, '--heartbeat-hz', String(gcsHeartbeatHzFor(SPEEDUP)), '--log-level', 'warn'], {}, (l) =>
      l.startsWith('dropline agent:'),
    );
  }, 180_000);

  afterAll(async () => {
    for (const v of viewers) v.stop();
    for (const c of children) await kill9(c).catch(() => undefined);
    await bus?.removeRecording(subjects.tlogStream).catch(() => undefined);
    await bus?.close();
    await sims?.stop();
    await schema?.drop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('node A dispatches, dies in flight; node B takes the job over within 5 s and the delivery completes', async () => {
    const a = await startNode();
    b = await startNode();
    const opA = await new Client(a.url).login('operator');
    const supB = await new Client(b.url).login('supervisor');
    const viewB = await liveViewer(b.url, supB);
    viewers.push(viewB);
    await waitFor(async () => vehicleReady((await opA.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body), 120_000, 'vehicle ready on A');
    await waitFor(async () => (await supB.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body?.connected === true, 30_000, 'vehicle seen on B');

    const created = await opA.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin', massKg: 0.4 } });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const disp = await opA.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID });
    expect([disp.status, disp.body.state]).toEqual([202, 'uploading']);
    // Dispatching it again on B is refused.
    const opB = await new Client(b.url).login('operator');
    expect((await opB.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID })).status).toBe(409);

    await waitFor(async () => (await supB.get(`/api/deliveries/${id}`)).body.state === 'in-flight', 120_000, 'in flight');
    // The console on B saw A's job move, live (A runs it: B refused to).
    await waitFor(() => viewB.statesOf(id).includes('in-flight'), 10_000, "A's job in flight on B's console");
    expect(viewB.statesOf(id)).toEqual(['planned', 'uploading', 'ready', 'in-flight']);
    const tKill = Date.now();
    await kill9(a.child);

    const resumed = await waitFor(async () => (await supB.get(`/api/deliveries/${id}`)).body.timeline.find((e: any) => e.event === 'tracking-resumed'), 20_000, 'B resumes the job');
    const takeoverMs = Date.parse(resumed.at) - tKill;
    // eslint-disable-next-line no-console
    console.log(`take-over ${takeoverMs} ms after kill -9 of node A`);
    expect(takeoverMs).toBeLessThan(5000);

    const done = await waitFor(async () => {
      const d = (await supB.get(`/api/deliveries/${id}`)).body;
      return ['completed', 'failed', 'aborted'].includes(d.state) ? d : null;
    }, 180_000, 'delivery to finish', 250);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('completed');
    expect(done.timeline.filter((e: any) => e.state).map((e: any) => e.state)).toEqual(['requested', 'planned', 'uploading', 'ready', 'in-flight', 'delivered', 'returning', 'completed']);
    expect(done.proofOfDrop.distanceToDropM).toBeLessThan(5);
    expect((await supB.get(`/api/flights/${done.flightId}`)).body).toMatchObject({ state: 'ended', deliveryId: id });
    expect(texts.filter((x) => x.t >= tKill && /^GCS Failsafe( - .*)?$/.test(x.text))).toEqual([]);
    expect(sims.instances[0].truth().payloadAttached).toBe(false);
  });

  test("a console on B follows the job node C flies: every state in order, the job's alerts once, C's acknowledgement", async () => {
    const c = await startNode();
    const opC = await new Client(c.url).login('operator');
    const supB = await new Client(b.url).login('supervisor');
    const viewB = await liveViewer(b.url, supB);
    viewers.push(viewB);
    await waitFor(async () => vehicleReady((await opC.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body), 120_000, 'vehicle ready on C');
    const created = await opC.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'plasma', massKg: 0.4 } });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const disp = await opC.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID });
    expect([disp.status, disp.body.state]).toEqual([202, 'uploading']);

    // The job's end, as B's console hears it (B never runs it).
    await waitFor(() => ['completed', 'failed', 'aborted'].includes(viewB.statesOf(id).at(-1) ?? ''), 180_000, "C's job finished on B's console", 250);
    const stored = (await supB.get(`/api/deliveries/${id}`)).body;
    expect(stored.state).toBe('completed');
    expect(stored.timeline.some((e: any) => e.event === 'tracking-resumed')).toBe(false);
    expect(viewB.statesOf(id)).toEqual(FLOWN.slice(1)); // 'requested' is the answer to the POST, never an update
    // The updates of a flying job carry its progress (C's, through the bus).
    expect(viewB.updates.some((u) => u.type === 'delivery' && u.delivery.id === id && u.delivery.state === 'in-flight' && u.delivery.progress)).toBe(true);
    // The last update B's console holds is the stored job.
    const last = viewB.updates.filter((u) => u.type === 'delivery' && u.delivery.id === id).at(-1)!.delivery;
    expect(last.timeline.length).toBe(stored.timeline.length);

    // Every alert C stored for the job reached B's console, once.
    const done = await waitFor(async () => {
      const list = (await supB.get('/api/alerts?limit=500')).body;
      return Array.isArray(list) ? list.find((x: any) => x.deliveryId === id && /completed/.test(x.text)) : null;
    }, 20_000, "the job's completion alert stored");
    await waitFor(() => viewB.updates.some((u) => u.type === 'alert' && u.alert.id === done.id), 10_000, "the completion alert on B's console");
    const jobAlerts = ((await supB.get('/api/alerts?limit=500')).body as any[]).filter((x) => x.deliveryId === id);
    const seenOnB = viewB.updates.filter((u) => u.type === 'alert' && u.alert.deliveryId === id);
    expect(seenOnB.map((u) => u.alert.id).sort()).toEqual(jobAlerts.map((x) => x.id).sort());
    expect(new Set(seenOnB.map((u) => u.alert.id)).size).toBe(seenOnB.length);
    expect(jobAlerts.filter((x) => x.id === done.id)).toHaveLength(1);

    // Acknowledged on C: B's console learns who and when.
    const ack = await opC.post(`/api/alerts/${done.id}/ack`, {});
    expect(ack.status).toBe(200);
    const acked = await waitFor(() => viewB.updates.find((u) => u.type === 'alert' && u.alert.id === done.id && u.alert.ackedAt), 10_000, "the acknowledgement on B's console");
    expect([acked.alert.ackedBy, acked.alert.ackedAt]).toEqual(['operator', ack.body.ackedAt]);
    await new Promise((r) => setTimeout(r, 500));
    expect(viewB.updates.filter((u) => u.type === 'alert' && u.alert.id === done.id)).toHaveLength(2);

    // A fleet alert: every node hears the vehicle, one raises and stores it (its alert owner, B or C).
    const tLow = new Date().toISOString();
    sims.instances[0].inject({ kind: 'battery-set', pct: 20 });
    const fleetAlerts = async () => ((await supB.get('/api/alerts?limit=500')).body as any[]).filter((x) => x.vehicleId === VID && !x.deliveryId && x.at >= tLow);
    await waitFor(async () => (await fleetAlerts()).some((x) => x.code === 'vehicle.batteryLow'), 20_000, 'the battery-low alert stored');
    await new Promise((r) => setTimeout(r, 3000)); // another node's copy would be stored by now
    const fleetStored = await fleetAlerts();
    expect(fleetStored.filter((x) => x.code === 'vehicle.batteryLow')).toHaveLength(1);
    expect(new Set(fleetStored.map((x) => x.text)).size).toBe(fleetStored.length);
    const fleetShown = viewB.updates.filter((u) => u.type === 'alert' && fleetStored.some((x) => x.id === u.alert.id));
    expect(fleetShown.map((u) => u.alert.id).sort()).toEqual(fleetStored.map((x) => x.id).sort());
    // eslint-disable-next-line no-console
    console.log(`fleet alerts after the battery drop: ${fleetStored.map((x) => `${x.code} ${JSON.stringify(x.text)}`).join(', ')}`);
  });
});
