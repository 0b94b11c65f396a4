/**
 * Sorties over the API, against the built-in simulator (or ArduCopter SITL when ARDUPILOT_SITL
 * names the binary): two queued jobs dispatched as one flight, each parcel in its own bay (a
 * release output driven by DO_SET_SERVO), each dropped at its own point with its own proof of drop;
 * the rider follows the lead until its own drop and completes when the vehicle is down. Refusals
 * come before anything is sent: a vehicle without enough bays (MULTI_DROP_UNSUPPORTED), a job named
 * twice, a job not dispatchable. An abort of a rider in flight brings the whole flight home.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, DELIVERY_READY_SIM_PARAMS, type Service } from '../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import type { SimFleet } from '../../sims';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { ll, pointFeature, polygonFeature, square } from '../planner/helpers';
import { greatCircleDistanceM } from '../../planner/geo';

jest.setTimeout(300_000);

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 100 }; // ll(0, 0): the depot
const V = 'link0/1';
const VID = encodeURIComponent(V);
const BAYS = [10, 11];
let dir: string;
let svc: Service;
let vehicles: SimFleet & { kind: 'builtin' | 'sitl' };
let op: Client;
let sup: Client;

/** A 2 km area, a walled compound between the depot and two neighbouring drops. */
function zones(): any {
  return {
    type: 'FeatureCollection',
    features: [
      polygonFeature({ kind: 'operating-area', name: 'district' }, square(0, 0, 1000)),
      polygonFeature({ kind: 'no-fly', name: 'clinic compound' }, square(260, 160, 60)),
      polygonFeature({ kind: 'sealed-zone', name: 'Garden compound' }, square(450, 300, 120)),
      pointFeature({ kind: 'launch-site', name: 'Depot' }, 0, 0),
    ],
  };
}
const DROP_A = ll(420, 360);
const DROP_B = ll(500, 240);

const job = async (id: string) => (await op.get(`/api/deliveries/${id}`)).body;
async function create(drop: [number, number], what: string): Promise<string> {
  const r = await op.post('/api/deliveries', { drop, priority: 'urgent', payload: { description: what, massKg: 0.5 } });
  expect(r.status).toBe(201);
  expect(r.body.state).toBe('planned');
  return r.body.id;
}
async function setBays(bays: number[]) {
  const { policy } = (await sup.get('/api/policy')).body;
  expect((await sup.put('/api/policy', { ...policy, vehicle: { ...policy.vehicle, parcelOutputsArdupilot: bays } })).status).toBe(200);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-sortie-'));
  vehicles = await startTestVehicles({ instances: 1, speedup: 10, homes: [HOME], params: DELIVERY_READY_SIM_PARAMS });
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: [vehicles.instances[0].uri], heartbeatHz: gcsHeartbeatHzFor(10), logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  sup = await new Client(svc.url).login('supervisor');
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${VID}`)).body), 120_000, 'vehicle ready');
  expect((await sup.put('/api/zones', zones())).status).toBe(200);
});

afterAll(async () => {
  await svc?.close();
  await vehicles?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('refused before anything is sent: no parcel bays on the vehicle, a job named twice, a job not dispatchable', async () => {
  await setBays([]);
  const a = await create(DROP_A, 'insulin');
  const b = await create(DROP_B, 'inhaler');
  try {
    const none = await op.post(`/api/deliveries/${a}/dispatch`, { vehicleId: V, with: [b] });
    expect(none.status).toBe(409);
    expect(none.body.error).toMatchObject({ code: 'MULTI_DROP_UNSUPPORTED', details: { parcels: 2, parcelOutputs: [] } });
    expect(none.body.error.message).toContain('parcelOutputsArdupilot');

    await setBays(BAYS);
    const self = await op.post(`/api/deliveries/${a}/dispatch`, { vehicleId: V, with: [a] });
    expect(self.status).toBe(400);
    expect(self.body.error.code).toBe('SORTIE_INVALID');
    const twice = await op.post(`/api/deliveries/${a}/dispatch`, { vehicleId: V, with: [b, b] });
    expect(twice.body.error.code).toBe('SORTIE_INVALID');
    const unknown = await op.post(`/api/deliveries/${a}/dispatch`, { vehicleId: V, with: ['D99999'] });
    expect(unknown.status).toBe(404);
    const tooMany = await op.post(`/api/deliveries/${a}/dispatch`, { vehicleId: V, with: [b, b, b, b] });
    expect(tooMany.status).toBe(400); // the body's bound (3 more jobs at most)
    expect(tooMany.body.error.code).toBe('INVALID_BODY');

    // a job already ended cannot ride
    const c = await create(DROP_B, 'bandages');
    await op.post(`/api/deliveries/${c}/abort`, { reason: 'cancelled by the resident' });
    const ended = await op.post(`/api/deliveries/${a}/dispatch`, { vehicleId: V, with: [c] });
    expect(ended.status).toBe(409);
    expect(ended.body.error).toMatchObject({ code: 'INVALID_STATE' });
    expect(ended.body.error.message).toContain(`${c} is aborted`);

    for (const id of [a, b]) expect((await job(id)).state).toBe('planned');
    expect(svc.fleet.get(V)!.state.armed).toBe(false);
  } finally {
    await op.post(`/api/deliveries/${a}/abort`, { reason: 'test over' });
    await op.post(`/api/deliveries/${b}/abort`, { reason: 'test over' });
  }
});

test('two jobs in one flight: one plan through both drops, each parcel released from its own bay at its own point, both completed', async () => {
  await setBays(BAYS);
  const a = await create(DROP_A, 'insulin');
  const b = await create(DROP_B, 'inhaler');
  // the crew loads a parcel into each bay (the built-in simulator keeps them; SITL only moves its outputs)
  const sim = vehicles.kind === 'builtin' ? (vehicles.instances[0] as any).vehicle : null;
  sim?.loadParcels(BAYS);
  const disp = await op.post(`/api/deliveries/${a}/dispatch`, { vehicleId: V, with: [b] });
  expect(disp.status).toBe(202);
  expect(disp.body.sortie).toMatchObject({ lead: a, jobs: [a, b] });
  // the crew is told which parcel goes in which bay
  expect(disp.body.sortie.bays.map((x: any) => [x.deliveryId, x.output, x.bay])).toEqual([[a, 10, 1], [b, 11, 2]]);
  const rider = await job(b);
  expect(rider).toMatchObject({ state: 'uploading', vehicleId: V, sortie: { lead: a } });
  expect(rider.plan.drops.map((x: any) => x.index).sort()).toEqual([0, 1]);

  const done = await waitFor(async () => {
    const [x, y] = [await job(a), await job(b)];
    return [x, y].every((d) => ['completed', 'failed', 'aborted'].includes(d.state)) ? [x, y] : null;
  }, 240_000, 'both jobs ended', 500);
  const [la, lb] = done;
  expect([la.state, la.failure, lb.state, lb.failure]).toEqual(['completed', undefined, 'completed', undefined]);
  expect(lb.flightId).toBe(la.flightId);

  for (const [d, drop, output] of [[la, DROP_A, 10], [lb, DROP_B, 11]] as const) {
    const p = d.proofOfDrop;
    expect(p.servo).toBe(output);
    expect(p.ack).toMatchObject({ source: 'mission-item', seq: d.execution.releaseSeq });
    const item = la.plan.mission.find((m: any) => m.seq === d.execution.releaseSeq);
    expect([item.command, item.param1, item.param2]).toEqual([183, output, 1100]); // DO_SET_SERVO on its own bay
    expect(p.servoPwm).toBe(1100);
    expect(p.distanceToDropM).toBeLessThan(3);
    expect(greatCircleDistanceM([p.lon, p.lat], drop)).toBeLessThan(3);
    const states = d.timeline.filter((e: any) => e.state).map((e: any) => e.state);
    expect(states).toEqual(['requested', 'planned', 'uploading', 'ready', 'in-flight', 'delivered', 'returning', 'completed']);
    expect(d.timeline.some((e: any) => e.event === 'sortie-formed' && e.detail.lead === a)).toBe(true);
  }
  if (process.env.SORTIE_FIGURES) process.stdout.write(`sortie on ${vehicles.kind}: drops ${[la, lb].map((d) => `${d.id} servo ${d.proofOfDrop.servo} pwm ${d.proofOfDrop.servoPwm} ${d.proofOfDrop.distanceToDropM.toFixed(2)} m`).join(', ')}; ${la.plan.distanceM.toFixed(0)} m flown\n`);
  // the drops were released in flight order, each at its own time
  const order = la.plan.dropOrder as number[];
  const [first, second] = order[0] === 0 ? [la, lb] : [lb, la];
  expect(Date.parse(first.proofOfDrop.at)).toBeLessThan(Date.parse(second.proofOfDrop.at));

  if (sim) {
    // the simulator's own record: two parcels, each released over its own drop from its own bay
    const t = sim.truth();
    expect(t.parcelsAboard).toEqual([]);
    expect(t.releases.map((r: any) => r.output)).toEqual(order.map((k) => BAYS[k]));
    for (const r of t.releases) expect(greatCircleDistanceM([r.lon, r.lat], r.output === 10 ? DROP_A : DROP_B)).toBeLessThan(3);
  }
});

test('an abort of the rider in flight brings the whole flight home: the lead is aborted with it, the vehicle told RTL once', async () => {
  await setBays(BAYS);
  const a = await create(DROP_A, 'insulin');
  const b = await create(DROP_B, 'inhaler');
  expect((await op.post(`/api/deliveries/${a}/dispatch`, { vehicleId: V, with: [b] })).status).toBe(202);
  await waitFor(async () => ((await job(b)).state === 'in-flight' ? true : null), 120_000, 'the rider in flight', 250);
  const ab = await op.post(`/api/deliveries/${b}/abort`, { reason: 'resident collected it at the gate' });
  expect(ab.status).toBe(200);
  const lead = await waitFor(async () => {
    const d = await job(a);
    return d.state === 'aborted' ? d : null;
  }, 10_000, 'the lead aborted');
  expect(lead.abortReason).toContain(`flown with ${b}`);
  expect((await job(b)).timeline.filter((e: any) => e.event === 'rtl-commanded')).toHaveLength(1);
  expect(lead.timeline.some((e: any) => e.event === 'rtl-commanded')).toBe(false);
  await waitFor(async () => (svc.fleet.get(V)!.state.mode === 'RTL' ? true : null), 10_000, 'RTL');
  // landed and disarmed: the flight ends, nothing delivered
  await waitFor(async () => (!svc.fleet.get(V)!.state.armed && !svc.deliveries.isTracked(V) ? true : null), 180_000, 'landed', 500);
  for (const id of [a, b]) expect((await job(id)).proofOfDrop).toBeUndefined();
});
