/**
 * kill -9 of the node running a job at each risky moment, with the vehicle at the default GCS
 * failsafe (FS_GCS_ENABLE 1, FS_GCS_TIMEOUT 5 s). Every part is its own process: the built-in
 * simulators (one per moment), one link agent holding their links, node B (the survivor) and, per
 * moment, a node A that dispatches the job and is killed; PostgreSQL (a fresh schema) and NATS
 * JetStream between them.
 *
 * The moments, and what the vehicle and the store hold at each:
 *
 * 1. mid-upload: A froze (DL_PAUSE_AT=upload-mission) with half the mission's items sent.
 *    Store: job `uploading`, fence-uploaded and rally-uploaded entries, no flight row.
 *    Vehicle: disarmed on the ground; fence and rally complete; the mission written item by item up
 *    to where the transfer stopped (a mixed mission), the transfer still open until the vehicle
 *    gives it up (8 s of its time).
 *    B must: hear the vehicle, record the gap, run preflight again, download fence, rally and mission
 *    and compare with the plan (never assume an upload finished), upload what differs (the mission)
 *    and read it back, then launch; the delivery completes.
 *
 * 2. between arm and the flight row: A froze (DL_PAUSE_AT=armed) once the arming was confirmed.
 *    Store: job `ready` (uploads verified), no `armed` entry, no flight row.
 *    Vehicle: armed in GUIDED on the ground, no MISSION_START; it disarms itself after DISARM_DELAY.
 *    B must: find it on the ground (disarming it if it is still armed), run preflight again, verify
 *    by download what it holds, then arm and launch; the delivery completes.
 *
 * 3. between release and `delivered`: A froze (DL_PAUSE_AT=released) after seeing the vehicle pass
 *    the release item, before writing `delivered`.
 *    Store: job `in-flight`, flight row active. Vehicle: payload released, flying on to its next item.
 *    B must: follow the flight from the vehicle's actual state (mission current past the release
 *    item), record the release late with a note saying so, then `returning` and `completed`.
 *
 * 4. during an operator RTL: RTL commanded through A's API (audited, the job aborted with who did
 *    it), then A killed while the vehicle flies home.
 *    Store: job `aborted` (by operator), flight row active. Vehicle: in RTL, armed.
 *    B must: keep following the flight until the vehicle lands at home and end the flight row; the
 *    job stays aborted with who did it.
 *
 * In every moment: B takes the job over within 5 s of the kill, records the gap (`link-lost` …
 * `link-regained`), loses no committed timeline entry, audits every command it sends before it
 * leaves, and the vehicle never reports "GCS Failsafe".
 */
import type { ChildProcess } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import readline from 'readline';
import { decodeAll, type Frame } from '../../src/mavlink/codec';
import { openBus, Subjects, type Bus } from '../../src/bus';
import { DELIVERY_READY_SIM_PARAMS } from '../../src/service';
import { greatCircleDistanceM } from '../../planner/geo';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { natsSuite, natsTestRoot } from '../support/nats';
import { freshSchema, pgAvailable, type TestSchema } from '../support/postgres';
import { Client, waitFor, vehicleReady } from '../service/support/client';
import { kill9, serviceLine, spawnChild } from './support/processes';

jest.setTimeout(420_000);

const SPEEDUP = 10;
const SITE = 'field';
const MOMENTS = ['mid-upload', 'armed', 'released', 'rtl'] as const;
type Moment = (typeof MOMENTS)[number];
const LINK = (i: number) => `m${i + 1}`;
const VID = (i: number) => `${SITE}.${LINK(i)}-${i + 1}/${i + 1}`;
const HOMES = MOMENTS.map((_m, i) => ({ lat: 34.06, lon: 114.39 + i * 0.0003, altAmslM: 100 }));
const DROP: [number, number] = [114.3935, 34.0515];
const FLOWN = ['requested', 'planned', 'uploading', 'ready', 'in-flight', 'delivered', 'returning', 'completed'];

const suite = pgAvailable() ? natsSuite : (name: string, _fn: (url: string) => void) => describe.skip(name, () => it('needs PostgreSQL', () => undefined));

/** Resolves with the first stdout line of `child` that `pred` accepts. */
function nextLine<T>(child: ChildProcess, pred: (line: string) => T | null): Promise<T> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      const r = pred(l);
      if (r) {
        rl.close();
        resolve(r);
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`node exited (${code ?? signal}) before the line`)));
  });
}

const pausedLine = (l: string): { paused: string; deliveryId: string } | null => {
  try {
    const m = JSON.parse(l);
    return typeof m.paused === 'string' ? m : null;
  } catch {
    return null;
  }
};

suite('take-over matrix: kill -9 of the node running a job at each risky moment', (url) => {
  const root = natsTestRoot();
  const subjects = new Subjects(root);
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  let schema: TestSchema;
  let sims: Awaited<ReturnType<typeof startTestVehicles>>;
  let bus: Bus;
  let b: { child: ChildProcess; url: string };
  const texts: Array<{ t: number; vehicle: number; text: string }> = [];
  const takeovers: Record<string, number> = {};

  const startNode = async (env: Record<string, string> = {}) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-node-'));
    dirs.push(dir);
    const r = await spawnChild(children, 'test/agent/support/service-main.ts', [], { DL_DATA_DIR: dir, DL_STORE: schema.url, DL_BUS: url, DL_BUS_PREFIX: root, DL_LOG_LEVEL: 'warn', ...env }, serviceLine);
    return { child: r.child, url: r.line.url };
  };

  beforeAll(async () => {
    schema = freshSchema();
    sims = await startTestVehicles({
      instances: MOMENTS.length,
      speedup: SPEEDUP,
      homes: HOMES,
      params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5 },
    });
    bus = await openBus(url);
    MOMENTS.forEach((_m, i) =>
      bus.subscribe(subjects.vehicle(SITE, `${LINK(i)}-${i + 1}`, 'rx'), (m) => {
        for (const f of decodeAll(Buffer.from(m.data)) as Frame[])
          if (f.name === 'STATUSTEXT') texts.push({ t: Date.now(), vehicle: i, text: String((f.data as unknown as { text: string }).text) });
      }),
    );
    const links = sims.instances.flatMap((s, i) => ['--link', `${s.uri}?id=${LINK(i)}`]);
    await spawnChild(children, 'test/agent/support/agent-main.ts', [...links, '--bus', url, '--site', SITE, '--bus-prefix', root, '--heartbeat-hz', String(gcsHeartbeatHzFor(SPEEDUP)), '--log-level', 'warn'], {}, (l) =>
      l.startsWith('dropline agent:'),
    );
    b = await startNode();
  }, 240_000);

  afterAll(async () => {
    for (const c of children) await kill9(c).catch(() => undefined);
    await bus?.removeRecording(subjects.tlogStream).catch(() => undefined);
    await bus?.close();
    await sims?.stop();
    await schema?.drop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    // eslint-disable-next-line no-console
    console.log(`take-over after kill -9: ${MOMENTS.map((m) => `${m} ${takeovers[m] ?? '-'} ms`).join(', ')}`);
  });

  /** Node A (frozen at `pause`, when given), the job dispatched on it to vehicle i; B's view of the job, and the vehicle, as clients. */
  async function dispatchOnA(i: number, pause?: string) {
    const a = await startNode(pause ? { DL_PAUSE_AT: pause } : {});
    const opA = await new Client(a.url).login('operator');
    const supB = await new Client(b.url).login('supervisor');
    await waitFor(async () => vehicleReady((await opA.get(`/api/vehicles/${encodeURIComponent(VID(i))}`)).body), 180_000, `vehicle ${i} ready on A`);
    await waitFor(async () => (await supB.get(`/api/vehicles/${encodeURIComponent(VID(i))}`)).body?.connected === true, 30_000, `vehicle ${i} seen on B`);
    const paused = pause ? nextLine(a.child, pausedLine) : null;
    paused?.catch(() => undefined);
    const created = await opA.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin', massKg: 0.4 } });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const disp = await opA.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID(i) });
    expect([disp.status, disp.body.state]).toEqual([202, 'uploading']);
    return { a, opA, supB, id, paused };
  }

  /** Kill A; the job as B sees it just before (what was committed), and the moment of the kill. */
  async function killA(a: { child: ChildProcess }, supB: Client, id: string) {
    const before = (await supB.get(`/api/deliveries/${id}`)).body;
    const tKill = Date.now();
    await kill9(a.child);
    return { before, tKill };
  }

  /** B's first entry on the job after the kill, its time from the kill recorded for the report. */
  async function takenOver(m: Moment, supB: Client, id: string, tKill: number, event: string) {
    const e = await waitFor(async () => (await supB.get(`/api/deliveries/${id}`)).body.timeline.find((x: any) => x.event === event && Date.parse(x.at) >= tKill - 50), 30_000, `B takes ${id} over`);
    takeovers[m] = Date.parse(e.at) - tKill;
    // eslint-disable-next-line no-console
    console.log(`${m}: take-over ${takeovers[m]} ms after kill -9 of node A`);
    expect(takeovers[m]).toBeLessThan(5000);
  }

  async function finished(supB: Client, id: string) {
    return waitFor(
      async () => {
        const d = (await supB.get(`/api/deliveries/${id}`)).body;
        return ['completed', 'failed', 'aborted'].includes(d.state) ? d : null;
      },
      240_000,
      `delivery ${id} to finish`,
      250,
    );
  }

  /** What B (and the kill) must leave true whatever the moment. */
  async function commonChecks(i: number, supB: Client, before: any, done: any, tKill: number) {
    // eslint-disable-next-line no-console
    console.log(`${MOMENTS[i]}: after the kill ${done.timeline.filter((e: any) => Date.parse(e.at) >= tKill).map((e: any) => e.state ?? e.event).join(' → ')}`);
    // Nothing committed lost: every entry written before the kill is still there, in order.
    const key = (e: any) => JSON.stringify([e.at, e.state ?? null, e.event ?? null]);
    expect(done.timeline.slice(0, before.timeline.length).map(key)).toEqual(before.timeline.map(key));
    // The gap is recorded, from the last committed entry, and closed with the vehicle's state.
    const lost = done.timeline.find((e: any) => e.event === 'link-lost' && e.detail?.reason === 'service-restarted');
    const regained = done.timeline.find((e: any) => e.event === 'link-regained' && e.detail?.reason === 'service-restarted');
    expect(Date.parse(lost?.detail.from)).toBeGreaterThanOrEqual(Date.parse(before.timeline[before.timeline.length - 1].at));
    expect(Date.parse(lost.detail.from)).toBeLessThanOrEqual(tKill);
    expect(regained?.detail).toMatchObject({ vehicleId: VID(i), from: lost.detail.from, state: { mode: expect.any(String), armed: expect.any(Boolean) } });
    // Every command B sent was audited before it left, and its answer recorded.
    const audit: any[] = (await supB.get(`/api/audit?deliveryId=${done.id}&limit=500`)).body;
    const mine = audit.filter((r) => r.action.startsWith('takeover.'));
    for (const r of mine) {
      expect(r.username).toBe('takeover');
      expect(r.pending).toBe(false);
    }
    // The vehicle never lost its GCS: no "GCS Failsafe" from it after the kill.
    expect(texts.filter((x) => x.vehicle === i && x.t >= tKill && /^GCS Failsafe( - .*)?$/.test(x.text))).toEqual([]);
    // B leaves no flight of this job open.
    await waitFor(async () => ((await supB.get('/api/health')).body.trackedFlights as string[]).includes(VID(i)) === false, 120_000, 'B stops following the flight');
    return mine;
  }

  const auditedBefore = (mine: any[], action: string, entryAt: string | undefined) => {
    const r = mine.find((x) => x.action === action);
    expect(r).toBeDefined();
    expect(entryAt).toBeDefined();
    expect(Date.parse(r.at)).toBeLessThanOrEqual(Date.parse(entryAt!));
  };

  test('mid-upload: B verifies what the vehicle holds by download, uploads the mission again and the delivery completes', async () => {
    const i = 0;
    const { a, supB, id, paused } = await dispatchOnA(i, 'upload-mission');
    expect(await paused).toMatchObject({ paused: 'upload-mission', deliveryId: id });
    const { before, tKill } = await killA(a, supB, id);
    expect(before.state).toBe('uploading');
    expect(before.timeline.some((e: any) => e.event === 'mission-uploaded')).toBe(false);
    await takenOver('mid-upload', supB, id, tKill, 'dispatch-resumed');

    const done = await finished(supB, id);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('completed');
    expect(done.timeline.filter((e: any) => e.state).map((e: any) => e.state)).toEqual(FLOWN);
    const ev = (name: string) => done.timeline.filter((e: any) => e.event === name && Date.parse(e.at) >= tKill);
    // The interrupted mission was found different and sent again (read back); fence and rally were verified by download.
    expect(ev('mission-uploaded')).toEqual([expect.objectContaining({ detail: expect.objectContaining({ takeover: true, verified: true }) })]);
    expect(ev('fence-verified').length + ev('fence-uploaded').length).toBe(1);
    expect(ev('rally-verified').length + ev('rally-uploaded').length).toBe(1);
    expect(ev('preflight-passed')).toHaveLength(1);
    expect(done.proofOfDrop.distanceToDropM).toBeLessThan(5);
    expect((await supB.get(`/api/flights/${done.flightId}`)).body).toMatchObject({ state: 'ended', deliveryId: id });
    const mine = await commonChecks(i, supB, before, done, tKill);
    auditedBefore(mine, 'takeover.upload', ev('mission-uploaded')[0]?.at);
    auditedBefore(mine, 'takeover.arm', ev('armed')[0]?.at);
    auditedBefore(mine, 'takeover.mission-start', ev('mission-start')[0]?.at);
    expect(sims.instances[i].truth().payloadAttached).toBe(false);
  });

  test('between arm and the flight row: B finds the vehicle on the ground, verifies it by download, launches again and the delivery completes', async () => {
    const i = 1;
    const { a, supB, id, paused } = await dispatchOnA(i, 'armed');
    expect(await paused).toMatchObject({ paused: 'armed', deliveryId: id });
    const { before, tKill } = await killA(a, supB, id);
    expect(before.state).toBe('ready');
    expect(before.flightId ?? null).toBeNull();
    expect(before.timeline.some((e: any) => e.event === 'armed')).toBe(false);
    await takenOver('armed', supB, id, tKill, 'dispatch-resumed');

    const done = await finished(supB, id);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('completed');
    expect(done.timeline.filter((e: any) => e.state).map((e: any) => e.state)).toEqual(FLOWN);
    const ev = (name: string) => done.timeline.filter((e: any) => e.event === name && Date.parse(e.at) >= tKill);
    // Everything A uploaded and verified is still on the vehicle: verified by download, nothing uploaded again.
    expect(['fence', 'rally', 'mission'].map((n) => ev(`${n}-verified`).length)).toEqual([1, 1, 1]);
    expect(ev('mission-uploaded')).toEqual([]);
    expect(ev('armed')).toHaveLength(1);
    expect(done.proofOfDrop.distanceToDropM).toBeLessThan(5);
    expect((await supB.get(`/api/flights/${done.flightId}`)).body).toMatchObject({ state: 'ended', deliveryId: id });
    const mine = await commonChecks(i, supB, before, done, tKill);
    auditedBefore(mine, 'takeover.arm', ev('armed')[0]?.at);
    auditedBefore(mine, 'takeover.mission-start', ev('mission-start')[0]?.at);
    const disarm = ev('disarm-commanded')[0];
    if (disarm) auditedBefore(mine, 'takeover.disarm', disarm.at);
    expect(sims.instances[i].truth().payloadAttached).toBe(false);
  });

  test('between release and delivered: B follows the flight from the vehicle, records the release late and the delivery completes', async () => {
    const i = 2;
    const { a, supB, id, paused } = await dispatchOnA(i, 'released');
    expect(await paused).toMatchObject({ paused: 'released', deliveryId: id });
    const { before, tKill } = await killA(a, supB, id);
    expect(before.state).toBe('in-flight');
    expect(sims.instances[i].truth().payloadAttached).toBe(false);
    await takenOver('released', supB, id, tKill, 'tracking-resumed');

    const done = await finished(supB, id);
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('completed');
    expect(done.timeline.filter((e: any) => e.state).map((e: any) => e.state)).toEqual(FLOWN);
    // The release happened while nobody wrote it: recorded as such, at the time and place the vehicle
    // reported then, read back from the agent's recorded stream (not where it was when B heard it).
    expect(done.proofOfDrop.note).toMatch(/while the service was down.*recorded stream/);
    expect(done.proofOfDrop.ack).toMatchObject({ source: 'mission-item' });
    const truth = sims.instances[i].truth();
    expect(greatCircleDistanceM([truth.releasedAt!.lon, truth.releasedAt!.lat], DROP)).toBeLessThan(5);
    expect(greatCircleDistanceM([done.proofOfDrop.lon, done.proofOfDrop.lat], [truth.releasedAt!.lon, truth.releasedAt!.lat])).toBeLessThan(3);
    expect(done.proofOfDrop.distanceToDropM).toBeLessThan(5);
    expect(Date.parse(done.proofOfDrop.at)).toBeLessThan(tKill); // released before A was killed
    const regained = done.timeline.find((e: any) => e.event === 'link-regained');
    expect(regained.detail.recorded).toMatchObject({ recorded: true, release: { at: done.proofOfDrop.at } });
    expect(regained.detail.recorded.frames).toBeGreaterThan(0);
    expect((await supB.get(`/api/flights/${done.flightId}`)).body).toMatchObject({ state: 'ended', deliveryId: id });
    const mine = await commonChecks(i, supB, before, done, tKill);
    expect(mine).toEqual([]); // B followed; it commanded nothing
  });

  test('during an operator RTL: the job stays aborted with who did it, B follows the vehicle home and ends the flight', async () => {
    const i = 3;
    const { a, opA, supB, id } = await dispatchOnA(i);
    // Progress is kept by the node following the flight: A.
    // On its way and still well short of the drop (about 950 m out; 100 m of wall time a second at
    // ×10): the RTL must reach the vehicle before it gets there on a loaded machine too.
    await waitFor(async () => {
      const d = (await opA.get(`/api/deliveries/${id}`)).body;
      if (d.state !== 'in-flight' && d.state !== 'ready' && d.state !== 'uploading') throw new Error(`the job went ${d.state} before the RTL`);
      return d.state === 'in-flight' && (d.progress?.missionCurrent ?? 0) >= 2 && (d.progress?.distanceToDropM ?? 0) > 600;
    }, 180_000, 'in flight, on its way', 50);
    const rtl = await opA.post(`/api/vehicles/${encodeURIComponent(VID(i))}/commands`, { action: 'rtl' });
    expect(rtl.status).toBe(200);
    await waitFor(async () => {
      const d = (await supB.get(`/api/deliveries/${id}`)).body;
      if (d.state === 'delivered' || d.state === 'returning' || d.state === 'completed') throw new Error(`the vehicle reached the drop before the RTL (${d.state}); ack ${JSON.stringify(rtl.body).slice(0, 200)}`);
      // an operator's RTL is never recorded as the vehicle's own failsafe, whichever comes first: its mode change or its ACK
      if (d.state === 'failed') throw new Error(`the job failed instead of being aborted by the operator: ${JSON.stringify(d.failure).slice(0, 300)}`);
      return d.state === 'aborted';
    }, 30_000, 'aborted by the RTL');
    await waitFor(() => sims.instances[i].truth().mode === 'RTL', 30_000, 'vehicle in RTL');
    const { before, tKill } = await killA(a, supB, id);
    expect(sims.instances[i].truth()).toMatchObject({ armed: true, mode: 'RTL', landed: false });
    await takenOver('rtl', supB, id, tKill, 'tracking-resumed');

    await waitFor(async () => (await supB.get(`/api/flights/${before.flightId}`)).body.state === 'ended', 240_000, 'B ends the flight once the vehicle landed', 250);
    // The job's own record of the landing is written beside the flight's end, not before it.
    const done = await waitFor(async () => {
      const d = (await supB.get(`/api/deliveries/${id}`)).body;
      return d.timeline.some((e: any) => e.event === 'landed') ? d : null;
    }, 30_000, "the landing in the job's timeline", 250);
    expect(done.state).toBe('aborted');
    expect(done.abortReason).toBe('RTL commanded by operator');
    expect(done.timeline.find((e: any) => e.state === 'aborted').detail).toMatchObject({ by: 'operator', action: 'RTL' });
    expect(done.timeline.filter((e: any) => e.event === 'landed')).toHaveLength(1);
    const truth = sims.instances[i].truth();
    expect(truth).toMatchObject({ armed: false, landed: true, payloadAttached: true });
    expect(greatCircleDistanceM([truth.lon, truth.lat], [HOMES[i].lon, HOMES[i].lat])).toBeLessThan(5);
    const audit: any[] = (await supB.get(`/api/audit?vehicleId=${encodeURIComponent(VID(i))}&limit=500`)).body;
    expect(audit.find((r) => r.username === 'operator' && r.pending === false && JSON.stringify(r.params).includes('rtl'))).toBeDefined();
    const mine = await commonChecks(i, supB, before, done, tKill);
    expect(mine).toEqual([]);
  });
});
