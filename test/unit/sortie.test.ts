/**
 * The sortie rules that need no vehicle: which jobs may fly together, each job's release from the
 * sortie plan's drops, and the promise rule (flying together may not make late a job that flown
 * alone would be on time).
 */
import { aloneToDropS, isRider, promisesBroken, riderIds, sortieExecutions, sortieRefusal, sortieRequest } from '../../src/delivery/sortie';
import type { Delivery } from '../../src/delivery/types';

const T0 = Date.parse('2026-12-07T10:00:00Z');
function job(id: string, over: Partial<Delivery> = {}): Delivery {
  return {
    id, state: 'planned', priority: 'urgent', drop: [114.4, 34.06], launch: null, payload: { description: 'insulin', massKg: 0.4 }, requester: { name: 'r' },
    createdAt: new Date(T0).toISOString(), updatedAt: new Date(T0).toISOString(), promiseBy: new Date(T0 + 15 * 60_000).toISOString(), timeline: [], ...over,
  };
}
const vehicle = { id: 'v1', autopilot: 'ardupilot', parcelOutputs: [10, 11, 12] };
const never = () => false;

describe('which jobs may fly together', () => {
  test('dispatchable jobs of the same kind on a vehicle with a bay for each: no refusal', () => {
    expect(sortieRefusal(job('A'), [job('B'), job('C', { state: 'approved' })], ['B', 'C'], vehicle, never)).toBeNull();
  });
  test('each refusal names its reason with a stable code', () => {
    const A = job('A');
    expect(sortieRefusal(A, [A], ['A'], vehicle, never)).toMatchObject({ code: 'SORTIE_INVALID', status: 400 });
    expect(sortieRefusal(A, [job('B'), job('B')], ['B', 'B'], vehicle, never)).toMatchObject({ code: 'SORTIE_INVALID' });
    expect(sortieRefusal(A, [job('B'), job('C'), job('D'), job('E')], ['B', 'C', 'D', 'E'], vehicle, never)).toMatchObject({ code: 'SORTIE_INVALID', message: expect.stringContaining('at most 4') });
    expect(sortieRefusal(A, [undefined], ['B'], vehicle, never)).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(sortieRefusal(A, [job('B', { state: 'in-flight' })], ['B'], vehicle, never)).toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('B is in-flight') });
    expect(sortieRefusal(A, [job('B')], ['B'], vehicle, (d) => d.id === 'B')).toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('approval') });
    expect(sortieRefusal(A, [job('B', { waiting: { vehicleId: 'v2', checks: ['ekf'], message: '', since: '', until: '' } })], ['B'], vehicle, never)).toMatchObject({ code: 'CONFLICT' });
    expect(sortieRefusal(A, [job('B', { training: true })], ['B'], vehicle, never)).toMatchObject({ code: 'SORTIE_INVALID', message: expect.stringContaining('training') });
  });
  test('a vehicle without a bay per parcel, or a PX4 (no DO_SET_SERVO), cannot drop them one at a time', () => {
    expect(sortieRefusal(job('A'), [job('B'), job('C')], ['B', 'C'], { ...vehicle, parcelOutputs: [10, 11] }, never)).toMatchObject({ code: 'MULTI_DROP_UNSUPPORTED', details: { parcels: 3, parcelOutputs: [10, 11] } });
    expect(sortieRefusal(job('A'), [job('B')], ['B'], { ...vehicle, autopilot: 'px4' }, never)).toMatchObject({ code: 'MULTI_DROP_UNSUPPORTED', message: expect.stringContaining('PX4') });
  });
});

test("the sortie's request: the lead's request with the riders as stops, servo release on the bays, shortest order", () => {
  const A = job('A', { planRequest: { drop: [1, 2], profile: { cruiseAltM: 50 }, wind: { speedMps: 3 }, options: { corridorMarginM: 80 } }, payload: { description: 'x', massKg: 0.7 } });
  const r = sortieRequest(A, [job('B', { drop: [3, 4] })], [10, 11, 12]);
  expect(r).toEqual({
    drop: A.drop, wind: { speedMps: 3 }, stops: [{ drop: [3, 4], massKg: 0.4, ref: 'B' }], payload: { massKg: 0.7, release: 'servo' },
    profile: { cruiseAltM: 50, releaseServos: [10, 11] }, options: { corridorMarginM: 80, orderStops: 'shortest' },
  });
});

test("each job's release from the plan's drops (in flight order), and the bays the crew loads", () => {
  const plan = { dropOrder: [1, 0], drops: [{ index: 1, ref: 'B', releaseSeq: 7, holdSeq: 6, servo: 11, etaS: 90 }, { index: 0, releaseSeq: 12, holdSeq: 11, servo: 10, etaS: 160 }] };
  const r = sortieExecutions(plan, ['A', 'B'])!;
  expect(r.execs.get('A')).toEqual({ releaseSeq: 12, dropSeq: 11, gripperServo: 10 });
  expect(r.execs.get('B')).toEqual({ releaseSeq: 7, dropSeq: 6, gripperServo: 11 });
  expect(r.sortie).toEqual({ lead: 'A', jobs: ['A', 'B'], bays: [{ deliveryId: 'A', output: 10, bay: 1, dropOrder: 2 }, { deliveryId: 'B', output: 11, bay: 2, dropOrder: 1 }] });
  // a plan that does not name every job (or names another job) is not flown
  expect(sortieExecutions({ drops: [plan.drops[1]] }, ['A', 'B'])).toBeNull();
  expect(sortieExecutions(plan, ['A', 'C'])).toBeNull();
  expect(riderIds({ id: 'A', sortie: r.sortie })).toEqual(['B']);
  expect(riderIds({ id: 'B', sortie: r.sortie })).toEqual([]);
  expect([isRider({ id: 'A', sortie: r.sortie }), isRider({ id: 'B', sortie: r.sortie }), isRider({ id: 'C' })]).toEqual([false, true, false]);
});

describe('the promise: flying together may not make late a job that alone would be on time', () => {
  const A = job('A'); // promise at T0 + 15 min
  test('late together but on time alone: broken, with how late', () => {
    const r = promisesBroken([A], new Map([['A', 17 * 60]]), new Map([['A', 10 * 60]]), T0);
    expect(r).toEqual([{ deliveryId: 'A', promiseBy: A.promiseBy, lateByS: 120 }]);
  });
  test('late either way, or on time together: not broken by the sortie', () => {
    expect(promisesBroken([A], new Map([['A', 20 * 60]]), new Map([['A', 16 * 60]]), T0)).toEqual([]);
    expect(promisesBroken([A], new Map([['A', 14 * 60]]), new Map([['A', 5 * 60]]), T0)).toEqual([]);
  });
  test("the vehicle's clock rate turns planned seconds into wall time (simulators flying faster)", () => {
    expect(promisesBroken([A], new Map([['A', 17 * 60]]), new Map([['A', 10 * 60]]), T0, 10)).toEqual([]);
  });
  test("alone: half the job's own planned flight", () => {
    expect(aloneToDropS({ durationS: 600 })).toBe(300);
    expect(aloneToDropS(undefined)).toBe(0);
  });
});
