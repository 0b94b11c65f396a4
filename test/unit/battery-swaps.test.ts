/**
 * The battery-swap rule on its own: readings of one vehicle in order, the launch threshold given,
 * and which records a swap seen in telemetry or an operator's record finds before it.
 */
import { BatterySwapDetector, alreadyRecorded, confirmedSwap, isFreshPack, readingOf } from '../../src/fleet/battery-swaps';

const at = (min: number) => new Date(Date.UTC(2026, 2, 10, 8, 0) + min * 60_000).toISOString();
const ms = (min: number) => Date.parse(at(min));

test('a fresh pack: a rise of 30 points or more, or from below the launch threshold to 90 % or more', () => {
  expect(isFreshPack(40, 70, 60)).toBe(true); // +30
  expect(isFreshPack(40, 69, 60)).toBe(false); // +29, and 69 < 90
  expect(isFreshPack(55, 80, 60)).toBe(false); // +25 from below the threshold, not to 90
  expect(isFreshPack(75, 95, 80)).toBe(true); // +20, from below 80 to ≥ 90
  expect(isFreshPack(75, 95, 60)).toBe(false); // +20, and 75 was above the threshold
  expect(isFreshPack(59, 90, 60)).toBe(true);
});

test('the detector records a rise once, only while disarmed, and never on the first reading', () => {
  const d = new BatterySwapDetector();
  const r = (pct: number | null, armed = false, t = 0) => d.observe({ vehicleId: 'v', armed, pct, atMs: t }, 60);
  expect(r(100)).toBeNull(); // first reading: nothing to compare with
  expect(r(80, true)).toBeNull(); // flying: discharging
  expect(r(35, true)).toBeNull();
  expect(r(34)).toBeNull(); // landed, disarmed
  expect(r(null)).toBeNull(); // no measured pack: not a reading
  expect(r(100, false, 5)).toEqual({ vehicleId: 'v', fromPct: 34, toPct: 100, atMs: 5 });
  expect(r(100)).toBeNull(); // the same pack: once
  expect(r(99)).toBeNull();
  // a rise while armed (a sensor jump in flight) is not a swap
  expect(r(40, true)).toBeNull();
  expect(r(95, true)).toBeNull();
  // vehicles are compared with their own readings
  expect(d.observe({ vehicleId: 'w', armed: false, pct: 20, atMs: 0 }, 60)).toBeNull();
  expect(r(30)).toBeNull(); // v: 95 → 30, a fall
  expect(d.observe({ vehicleId: 'w', armed: false, pct: 45, atMs: 0 }, 60)).toBeNull(); // w: 20 → 45
  expect(d.observe({ vehicleId: 'w', armed: false, pct: 92, atMs: 0 }, 60)).toMatchObject({ fromPct: 45, toPct: 92 });
});

test("a state's reading: the remaining charge of a measured pack", () => {
  expect(readingOf({ id: 'v', armed: false, battery: { voltageV: 25.1, currentA: 0, remainingPct: 80, consumedMah: 0 } }, 1).pct).toBe(80);
  expect(readingOf({ id: 'v', armed: false, battery: null }, 1).pct).toBeNull();
  // a SYS_STATUS without a voltage and without a remaining charge leaves the defaults: not a reading
  expect(readingOf({ id: 'v', armed: false, battery: { voltageV: 0, currentA: 0, remainingPct: 0, consumedMah: 0 } }, 1).pct).toBeNull();
});

test('a swap seen in telemetry is not recorded after an operator recorded one in the 10 minutes before, nor twice within a minute', () => {
  const op = (min: number, id = 1) => ({ id, source: 'operator' as const, at: at(min), confirmsId: null });
  const tel = (min: number, id = 2) => ({ id, source: 'telemetry' as const, at: at(min), confirmsId: null });
  expect(alreadyRecorded([], ms(0))).toBe(false);
  expect(alreadyRecorded([op(0)], ms(9))).toBe(true);
  expect(alreadyRecorded([op(0)], ms(10))).toBe(true);
  expect(alreadyRecorded([op(0)], ms(10.5))).toBe(false);
  expect(alreadyRecorded([tel(0)], ms(0.5))).toBe(true); // another node saw the same reading
  expect(alreadyRecorded([tel(0)], ms(2))).toBe(false); // a second pack two minutes later
});

test("an operator's record confirms the newest swap telemetry saw in the 10 minutes before that nothing confirms yet", () => {
  const tel = (id: number, min: number) => ({ id, source: 'telemetry' as const, at: at(min), confirmsId: null });
  const op = (id: number, min: number, confirmsId: number | null) => ({ id, source: 'operator' as const, at: at(min), confirmsId });
  expect(confirmedSwap([], ms(0))).toBeNull();
  expect(confirmedSwap([tel(1, 0)], ms(3))).toBe(1);
  expect(confirmedSwap([tel(1, 0)], ms(11))).toBeNull(); // too long ago: a swap of its own
  expect(confirmedSwap([tel(2, 5), tel(1, 0)], ms(6))).toBe(2);
  expect(confirmedSwap([op(3, 6, 2), tel(2, 5), tel(1, 0)], ms(7))).toBe(1); // 2 is confirmed already
  expect(confirmedSwap([op(2, 1, 1), tel(1, 0)], ms(2))).toBeNull();
});
