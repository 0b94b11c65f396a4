/** The trainer's fault menu in PX4's terms (pure): what the PX4 SITL instance sends for each fault. */
import { px4ClearActions, px4InjectActions } from '../../sims/px4-faults';

test("gps-loss is SIH's simulated GPS without satellites (SIM_GPS_USED 0), cleared with the count it had", () => {
  const r = px4InjectActions({ kind: 'gps-loss' }, (n) => (n === 'SIM_GPS_USED' ? 12 : undefined));
  expect(r).toEqual({ actions: [{ param: 'SIM_GPS_USED', value: 0 }], restore: { SIM_GPS_USED: 12 } });
  expect(px4ClearActions('gps-loss', r.restore!)).toEqual([{ param: 'SIM_GPS_USED', value: 12 }]);
  expect(px4ClearActions('gps-loss', {})).toEqual([{ param: 'SIM_GPS_USED', value: 10 }]);
});

test('battery-set lowers the battery simulator to the percentage and puts the old floor back', () => {
  const r = px4InjectActions({ kind: 'battery-set', pct: 30 }, (n) => (n === 'SIM_BAT_MIN_PCT' ? 45 : undefined));
  expect(r).toEqual({ actions: [{ param: 'SIM_BAT_MIN_PCT', value: 30 }], restore: { SIM_BAT_MIN_PCT: 45 } });
  expect(px4ClearActions('battery-set', r.restore!)).toEqual([{ param: 'SIM_BAT_MIN_PCT', value: 45 }]);
  // Unknown before: PX4's default floor.
  expect(px4InjectActions({ kind: 'battery-set', pct: 30 }, () => undefined).restore).toEqual({ SIM_BAT_MIN_PCT: 50 });
  expect(() => px4InjectActions({ kind: 'battery-set', pct: 130 }, () => undefined)).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
});

test('faults PX4 SIH has nothing for are refused by name', () => {
  for (const f of [{ kind: 'wind', speedMps: 5, fromDeg: 0 }, { kind: 'battery-sag', pct: 10 }, { kind: 'release-failure' }] as const)
    expect(() => px4InjectActions(f, () => undefined)).toThrow(expect.objectContaining({ code: 'SIM_UNKNOWN_FAULT' }));
  expect(() => px4ClearActions('wind', {})).toThrow(expect.objectContaining({ code: 'SIM_UNKNOWN_FAULT' }));
});
