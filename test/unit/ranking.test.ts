/**
 * Assisted dispatch ranking (src/delivery/ranking.ts): predicted drop time against the promise,
 * readiness (warming up, busy, battery below the launch threshold), energy margin, one vehicle per
 * job in dispatch order, reasons.
 */
import { planDelivery } from '../../planner';
import { rankQueue, rankJobOf, type RankVehicle } from '../../src/delivery/ranking';
import { demoZones, DEMO_DROPS } from '../planner/helpers';

const NOW = 1_800_000_000;
const PP1: [number, number] = [114.39, 34.06];
const FS2: [number, number] = [114.4041121, 34.0501075];
const plan = planDelivery(demoZones(), { drop: DEMO_DROPS.xinhua }) as any; // from Police Post 1
const job = (id: string, priority: 'urgent' | 'normal', ageS: number) =>
  rankJobOf({ id, priority, createdAt: new Date((NOW - ageS) * 1000).toISOString(), promiseBy: new Date((NOW - ageS + 900) * 1000).toISOString(), drop: DEMO_DROPS.xinhua, plan })!;
const veh = (id: string, at: [number, number], o: Partial<RankVehicle> = {}): RankVehicle => ({ id, at, waitingFor: [], busyUntilS: null, batteryPct: 100, batteryWh: 444, connected: true, ...o });

test('the nearest ready vehicle first; reasons say ready and on time; a far one is slower', () => {
  expect(plan.ok).toBe(true);
  const [r] = rankQueue([job('D1', 'urgent', 0)], [veh('pp1', PP1), veh('fs2', FS2)], NOW);
  // Xinhua Block is nearer to the fire station than to the police post
  expect(r.recommended).toBe('fs2');
  expect(r.candidates[0].vehicleId).toBe('fs2');
  expect(r.candidates[0].dropAtS).toBeLessThan(r.candidates[1].dropAtS);
  expect(r.candidates[0].reasons.map((x) => x.code)).toEqual(['ready', 'on_time']);
});

test('a vehicle below the launch threshold is not ready until its battery is swapped; warming up waits; busy waits for its flight', () => {
  const [r] = rankQueue([job('D1', 'urgent', 0)], [veh('low', FS2, { batteryPct: 40 }), veh('warm', PP1, { waitingFor: ['ekf'] }), veh('busy', FS2, { busyUntilS: NOW + 600 })], NOW);
  const by = Object.fromEntries(r.candidates.map((c) => [c.vehicleId, c]));
  expect(by.low.reasons[0]).toEqual({ code: 'battery_swap', params: { batteryPct: 40, needPct: 60 } });
  expect(by.low.launchAtS).toBe(NOW + 300);
  expect(by.warm.reasons[0]).toMatchObject({ code: 'warming_up', params: { checks: 'ekf' } });
  expect(by.busy.reasons[0]).toMatchObject({ code: 'busy', params: { freeInS: 600 } });
  expect(by.busy.launchAtS).toBe(NOW + 600 + 120 + 300);
  expect(r.recommended).toBe('warm');
});

test('late against the promise: the reason says by how much; energy short and offline are not eligible', () => {
  const [r] = rankQueue([job('D1', 'normal', 880)], [veh('pp1', PP1), veh('tiny', FS2, { batteryWh: 50 }), veh('gone', FS2, { connected: false })], NOW);
  const by = Object.fromEntries(r.candidates.map((c) => [c.vehicleId, c]));
  expect(by.pp1.reasons.find((x) => x.code === 'late')).toBeTruthy();
  expect(by.pp1.lateByS).toBeGreaterThan(0);
  expect(by.tiny.eligible).toBe(false);
  expect(by.tiny.reasons.map((x) => x.code)).toContain('energy_short');
  expect(by.gone.eligible).toBe(false);
  expect(r.recommended).toBe('pp1');
});

test('the queue in dispatch order, one vehicle per job: the urgent job takes the best vehicle even when requested later', () => {
  const r = rankQueue([job('old', 'normal', 600), job('new', 'urgent', 10)], [veh('pp1', PP1), veh('fs2', FS2)], NOW);
  expect(r.map((x) => [x.jobId, x.recommended])).toEqual([['new', 'fs2'], ['old', 'pp1']]);
});
