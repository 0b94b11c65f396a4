/**
 * Pure parts of the console under pressure: what a drone is doing and whether a command can apply,
 * since when, which vehicle a new job should get, and where a job stands against its promise.
 */
import { activeJobOf, commandBlocker, flightStatus, isAirborne, lastHoldCommand, StatusBook, statusSinceHint } from '../../web/src/vehicle-status';
import { rankVehicles } from '../../web/src/recommend';
import { outlook, promiseView, timeToDropS, DISPATCH_OVERHEAD_S } from '../../web/src/promise';
import { commandableIds } from '../../web/src/panels/command-bar';
import type { Delivery, TelemetryFrame } from '../../web/src/types';

function frame(over: Partial<TelemetryFrame> = {}): TelemetryFrame {
  return {
    v: 1, id: 'sim0/1', t: 1_000, seq: 1, lat: 34.06, lon: 114.39, altRelM: 0, altAmslM: 100, headingDeg: 0, groundSpeedMps: 0, climbMps: 0, rollDeg: 0, pitchDeg: 0,
    mode: 'GUIDED', armed: false, landed: 1, batteryPct: 100, voltageV: 16.4, gpsFix: 3, satellites: 12, mission: { current: 0, total: 0 }, link: { lossPct: 0, rttMs: null },
    stale: false, ageMs: 0, autopilot: 'ardupilot', ...over,
  } as TelemetryFrame;
}
const flying = (over: Partial<TelemetryFrame> = {}) => frame({ armed: true, landed: 2, altRelM: 60, mode: 'AUTO', groundSpeedMps: 10, ...over });

function job(over: Partial<Delivery> = {}): Delivery {
  return { id: 'D00001', state: 'in-flight', priority: 'normal', drop: [114.38, 34.065], createdAt: '2026-01-01T00:00:00.000Z', promiseBy: '2026-01-01T00:15:00.000Z', vehicleId: 'sim0/1', timeline: [], ...over } as Delivery;
}
const holdAt = (at: string, action = 'hold', result = 'ACCEPTED') => ({ at, event: 'operator-command', detail: { action, by: 'operator', ack: { result } } });

describe('flight status', () => {
  it('says what the drone does: LINK LOST, RTL, LANDING, HOLDING (a mode, or a paused mission), flying, on the ground', () => {
    expect(flightStatus(flying(), true)).toBe('link-lost');
    expect(flightStatus(flying({ mode: 'RTL' }), false)).toBe('rtl');
    expect(flightStatus(flying({ mode: 'SMART_RTL' }), false)).toBe('rtl');
    expect(flightStatus(flying({ mode: 'LAND' }), false)).toBe('landing');
    expect(flightStatus(flying({ landed: 4 }), false)).toBe('landing');
    expect(flightStatus(flying({ mode: 'BRAKE' }), false)).toBe('holding');
    expect(flightStatus(flying({ mode: 'AUTO.LOITER' }), false)).toBe('holding');
    // Modes that fly the pilot's sticks are not a hold: with nobody at the sticks ArduCopter's LOITER
    // descends and lands (test/sims/firmware-facts.test.ts, on SITL too).
    for (const mode of ['LOITER', 'POSHOLD', 'ALT_HOLD', 'STABILIZE', 'POSCTL', 'ALTCTL']) expect(flightStatus(flying({ mode }), false)).toBe('pilot-mode');
    expect(flightStatus(frame({ mode: 'LOITER' }), false)).toBe('on-ground');
    // HOLD during a mission pauses it in AUTO: only the job's timeline knows.
    expect(flightStatus(flying(), false, job({ timeline: [holdAt('2026-01-01T00:05:00.000Z')] }))).toBe('holding');
    expect(flightStatus(flying(), false, job({ timeline: [holdAt('2026-01-01T00:05:00.000Z'), holdAt('2026-01-01T00:06:00.000Z', 'continue')] }))).toBe('flying');
    expect(flightStatus(flying(), false, job({ timeline: [holdAt('2026-01-01T00:05:00.000Z', 'hold', 'DENIED')] }))).toBe('flying');
    // Landed after an RTL: ArduPilot stays in RTL, the drone is on the ground.
    expect(flightStatus(frame({ mode: 'RTL' }), false)).toBe('on-ground');
    expect(flightStatus(frame({ replay: true }), false)).toBe('replay');
    expect(isAirborne(frame({ armed: true, landed: 0, altRelM: 3 }))).toBe(true);
    expect(isAirborne(frame({ armed: true, landed: 1, altRelM: 3 }))).toBe(false);
  });

  it('keeps since when: the hold command, the last message for a lost link, else when first seen', () => {
    let now = 10_000;
    const book = new StatusBook(() => now);
    const j = job({ timeline: [holdAt('1970-01-01T00:00:08.000Z')] });
    expect(book.update('sim0/1', 'holding', statusSinceHint('holding', frame(), j)).sinceMs).toBe(8_000);
    now = 20_000;
    expect(book.update('sim0/1', 'holding').sinceMs).toBe(8_000);
    expect(book.update('sim0/1', 'link-lost', statusSinceHint('link-lost', frame({ t: 19_500 }))).sinceMs).toBe(19_500);
    expect(book.update('sim0/1', 'rtl').sinceMs).toBe(20_000);
    expect(lastHoldCommand(j)?.by).toBe('operator');
  });
});

describe('command availability', () => {
  const op = { role: 'operator' as const, simulated: false, stale: false };
  it('nothing to hold, return or land on the ground; nothing offline or on a replay; continue and release need the job', () => {
    expect(commandBlocker('hold', frame(), op)).toBe('cmd.why.onGround');
    expect(commandBlocker('rtl', flying(), { ...op, stale: true })).toBe('cmd.why.offline');
    expect(commandBlocker('land', flying({ replay: true }), op)).toBe('cmd.why.replay');
    expect(commandBlocker('hold', flying(), op)).toBeNull();
    // A drone in a pilot's mode is not holding: HOLD is offered (it brakes), CONTINUE is not.
    expect(commandBlocker('hold', flying({ mode: 'LOITER' }), op)).toBeNull();
    expect(commandBlocker('continue', flying({ mode: 'LOITER' }), { ...op, job: job() })).toBe('cmd.why.notHolding');
    expect(commandBlocker('release', flying(), op)).toBe('cmd.why.noJob');
    expect(commandBlocker('release', flying(), { ...op, job: job() })).toBeNull();
    expect(commandBlocker('release', flying(), { ...op, job: job({ state: 'returning' }) })).toBe('cmd.why.releaseInFlight');
    expect(commandBlocker('continue', flying(), { ...op, job: job() })).toBe('cmd.why.notHolding');
    const held = job({ timeline: [holdAt('2026-01-01T00:05:00.000Z')] });
    expect(commandBlocker('continue', flying(), { ...op, job: held })).toBeNull();
    expect(commandBlocker('hold', flying(), { ...op, job: held })).toBe('cmd.why.already');
    expect(commandBlocker('rtl', flying({ mode: 'RTL' }), op)).toBe('cmd.why.already');
  });
  it('roles: a supervisor never commands; a trainer commands simulated vehicles only', () => {
    expect(commandBlocker('hold', flying(), { ...op, role: 'supervisor' })).toBe('cmd.why.readOnly');
    expect(commandBlocker('hold', flying(), { ...op, role: 'trainer' })).toBe('cmd.why.simOnly');
    expect(commandBlocker('hold', flying(), { ...op, role: 'trainer', simulated: true })).toBeNull();
  });
  it('the command bar lists no replay and no vehicle the service no longer has', () => {
    expect(commandableIds(['replay-abc/1', 'sim0/1', 'sim1/2', 'sim9/1'], new Set(['sim0/1', 'sim1/2', 'replay-abc/1']), () => false)).toEqual(['sim0/1', 'sim1/2']);
    expect(commandableIds(['x/1', 'y/1'], null, (id) => id === 'y/1')).toEqual(['x/1']);
  });
  it('finds the job a vehicle flies', () => {
    const list = [job({ id: 'D1', state: 'completed' }), job({ id: 'D2', state: 'returning' }), job({ id: 'D3', vehicleId: 'sim1/2' })];
    expect(activeJobOf(list, 'sim0/1')?.id).toBe('D2');
    expect(activeJobOf(list, 'sim5/1')).toBeUndefined();
  });
});

describe('recommended vehicle', () => {
  const drop: [number, number] = [114.38, 34.065];
  const policy = { minBatteryPct: 60, minGpsFix: 3, simulatedOnly: false };
  it('ready ones first, nearest first; each other with the reason it cannot go', () => {
    const r = rankVehicles([
      { id: 'far/1', frame: frame({ id: 'far/1', lat: 34.05, lon: 114.41 }), stale: false, simulated: true },
      { id: 'near/1', frame: frame({ id: 'near/1', lat: 34.064, lon: 114.381 }), stale: false, simulated: true },
      { id: 'weak/1', frame: frame({ id: 'weak/1', lat: 34.065, lon: 114.38, batteryPct: 45 }), stale: false, simulated: true },
      { id: 'busy/1', frame: flying({ id: 'busy/1' }), stale: false, busyWith: 'D9', simulated: true },
      { id: 'gone/1', frame: frame({ id: 'gone/1' }), stale: true, simulated: true },
      { id: 'replay-x/1', frame: frame({ id: 'replay-x/1', replay: true }), stale: false, simulated: true },
    ], drop, policy);
    expect(r.map((x) => x.id)).toEqual(['near/1', 'far/1', 'weak/1', 'busy/1', 'gone/1']);
    expect(r.map((x) => x.ready)).toEqual([true, true, false, false, false]);
    expect(r[2].why).toEqual({ key: 'ready.battery', params: { pct: 45, min: 60 } });
    expect(r[3].why).toEqual({ key: 'ready.busy', params: { id: 'D9' } });
    expect(r[4].why?.key).toBe('ready.offline');
    expect(rankVehicles([{ id: 'real/1', frame: frame(), stale: false, simulated: false }], drop, { ...policy, simulatedOnly: true })[0].why?.key).toBe('ready.simOnly');
  });
});

describe('the promise', () => {
  const plan = { ok: true, durationS: 600, legs: [{ kind: 'takeoff', cumDurationS: 20 }, { kind: 'cruise', cumDurationS: 250 }, { kind: 'release', cumDurationS: 280 }, { kind: 'land', cumDurationS: 600 }] };
  it('time to the drop is the outbound legs (the release), not the round trip', () => {
    expect(timeToDropS(plan as never)).toBe(280);
    expect(timeToDropS({ durationS: 600 } as never)).toBe(300);
  });
  it('at risk once the time needed takes more than 80 % of the time left, late when it exceeds it', () => {
    expect(outlook(100, 900)).toBe('on-time');
    expect(outlook(750, 900)).toBe('at-risk');
    expect(outlook(901, 900)).toBe('late');
    expect(outlook(null, 60)).toBe('at-risk');
    expect(outlook(10, -1)).toBe('late');
  });
  it('a waiting job counts its flight and the dispatch; a flying one its ETA; a delivered one is judged at its release and stops', () => {
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    const waiting = job({ state: 'planned', plan: plan as never });
    expect(promiseView(waiting, t0 + 60_000)).toMatchObject({ outlook: 'on-time', leftS: 840, neededS: 280 + DISPATCH_OVERHEAD_S });
    // 11 minutes in, the same waiting job needs 310 s with 240 s left: late, before any vehicle left.
    expect(promiseView(waiting, t0 + 11 * 60_000).outlook).toBe('late');
    expect(promiseView(job({ state: 'planned', plan: plan as never, promiseBy: '2026-01-01T00:06:00.000Z' }), t0).outlook).toBe('at-risk');
    expect(promiseView(job({ progress: { etaS: 120 } }), t0 + 12 * 60_000)).toMatchObject({ outlook: 'on-time', neededS: 120 });
    expect(promiseView(job({ progress: { etaS: 120 } }), t0 + 13 * 60_000)).toMatchObject({ outlook: 'at-risk', leftS: 120 });
    const delivered = job({ state: 'returning', proofOfDrop: { at: '2026-01-01T00:14:00.000Z', lat: 0, lon: 0, altRelM: 10 } });
    expect(promiseView(delivered, t0 + 60 * 60_000)).toMatchObject({ outlook: 'on-time', final: true, leftS: 60 });
  });
});

describe('winding', () => {
  it('stores outer rings anticlockwise and holes clockwise (RFC 7946), as copies', async () => {
    const { rewind, ringArea2 } = await import('../../web/src/geo');
    const ccw = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]];
    const cw = [...ccw].reverse();
    expect(ringArea2(ccw)).toBeGreaterThan(0);
    expect(ringArea2(cw)).toBeLessThan(0);
    const poly = { type: 'Polygon' as const, coordinates: [cw, ccw] };
    const fixed = rewind(poly);
    expect(fixed.coordinates).toEqual([ccw, cw]);
    expect(poly.coordinates[0]).toBe(cw); // not mutated
    expect(rewind({ type: 'MultiPolygon', coordinates: [[cw]] }).coordinates).toEqual([[ccw]]);
    expect(rewind({ type: 'Point', coordinates: [1, 2] })).toEqual({ type: 'Point', coordinates: [1, 2] });
  });
});
