/**
 * Route-based prediction and resolution for tactical separation (src/delivery/route-prediction.ts)
 * on synthetic geometry: a local frame in metres (x east, y north, z AMSL), 10 m/s cruise.
 *
 * - the remaining route of a delivery mission from its current item;
 * - head-on on one corridor: neither hold resolves, one climbs where it stands;
 * - crossing: the lower-priority one holds short;
 * - overtaking: the one whose route crosses the other's position holds, whatever the priorities;
 * - one holding in the other's path climbs out of it; two are never left holding for each other;
 * - property: whenever an action is said to resolve, both vehicles flown with it (0.05 s steps, the
 *   same kinematics) never come closer than the separation; and no decision holds one vehicle for
 *   another that is already giving way.
 */
import fc from 'fast-check';
import { Cmd, Frame, MissionType, type MissionItem } from '../../src/mavlink/mission-item';
import { comparePaths, decide, expectedMotion, missionRoute, stopPoint, trajectory, DEFAULT_MOTION, type FlightView, type Motion, type ResolveOptions } from '../../src/delivery/route-prediction';

const OPTS: ResolveOptions = { horizontalM: 30, verticalM: 10, horizonS: 60, stepS: 0.5, climbM: 15, divert: true };

function flight(id: string, pos: [number, number, number], to: Array<[number, number, number, number?]>, o: Partial<FlightView> = {}): FlightView {
  return {
    id,
    rank: [id === 'urgent' || id.startsWith('u') ? 0 : 2, id],
    pos: { x: pos[0], y: pos[1], z: pos[2] },
    groundSpeedMps: 10,
    route: to.map(([x, y, z, holdS]) => ({ x, y, z, holdS: holdS ?? 0 })),
    velocity: { vx: 0, vy: 0, vz: 0 },
    model: DEFAULT_MOTION,
    canPause: true,
    ceilingZ: 200,
    giving: null,
    ...o,
  };
}

function item(seq: number, command: number, lonLat: [number, number] | null, z: number, param1 = 0): MissionItem {
  return { seq, frame: lonLat ? Frame.GLOBAL_RELATIVE_ALT_INT : Frame.MISSION, command, current: 0, autocontinue: 1, param1, param2: 0, param3: 0, param4: 0, x: lonLat ? Math.round(lonLat[1] * 1e7) : 0, y: lonLat ? Math.round(lonLat[0] * 1e7) : 0, z, missionType: MissionType.MISSION };
}

describe('remaining route of a mission', () => {
  // 1e-4° of longitude / latitude from 1° E 1° N as 10 m in this test's projection
  const toXY = (ll: [number, number]): [number, number] => [(ll[0] - 1) * 1e5, (ll[1] - 1) * 1e5];
  const mission = [
    item(0, Cmd.NAV_WAYPOINT, [1, 1], 0),
    item(1, Cmd.NAV_TAKEOFF, [1, 1], 60),
    item(2, Cmd.NAV_WAYPOINT, [1.005, 1], 60),
    item(3, Cmd.NAV_WAYPOINT, [1.005, 1], 10, 5),
    item(4, Cmd.DO_GRIPPER, null, 0, 1),
    item(5, Cmd.NAV_LOITER_TIME, [1.005, 1], 10, 3),
    item(6, Cmd.NAV_WAYPOINT, [1.005, 1], 60),
    item(7, Cmd.NAV_LAND, [1, 1], 0),
  ];
  it('from the current item: cruise, descent with its hold, the settle, the climb, the way back and the landing at home altitude', () => {
    const r = missionRoute(mission, 2, 100, toXY, { x: 100, y: 0, z: 160 });
    expect(r.map((p) => [Math.round(p.x), Math.round(p.y), p.z, p.holdS])).toEqual([
      [500, 0, 160, 0],
      [500, 0, 110, 5],
      [500, 0, 110, 3],
      [500, 0, 160, 0],
      [0, 0, 160, 0],
      [0, 0, 100, 0],
    ]);
  });
  it('a takeoff climbs where the vehicle stands; items before the current one are flown already', () => {
    const r = missionRoute(mission, 1, 100, toXY, { x: 1, y: 2, z: 105 });
    expect(r[0]).toEqual({ x: 1, y: 2, z: 160, holdS: 0 });
    expect(missionRoute(mission, 7, 100, toXY, { x: 300, y: 0, z: 160 }).map((p) => Math.round(p.x))).toEqual([0, 0]);
  });
  it('flown at the plan speeds: 10 m/s along, climbs at 2.5 m/s, holds as long as the item says', () => {
    const mo: Motion = { kind: 'route', from: { x: 0, y: 0, z: 60 }, route: [{ x: 100, y: 0, z: 60, holdS: 4 }, { x: 100, y: 0, z: 85, holdS: 0 }], model: DEFAULT_MOTION };
    const t = trajectory(mo, 30, 1);
    expect(t[5]).toEqual({ x: 50, y: 0, z: 60 });
    expect(t[12]).toEqual({ x: 100, y: 0, z: 60 }); // 10 s flying + 4 s hold
    expect(t[19]).toEqual({ x: 100, y: 0, z: 72.5 });
    expect(t[30]).toEqual({ x: 100, y: 0, z: 85 });
  });
  it('a hold stops along the route after braking (10 m/s at 2.5 m/s² → 20 m), around the corner', () => {
    expect(stopPoint({ x: 0, y: 0, z: 60 }, [{ x: 100, y: 0, z: 60, holdS: 0 }], 10, DEFAULT_MOTION)).toEqual({ x: 20, y: 0, z: 60 });
    expect(stopPoint({ x: 0, y: 0, z: 60 }, [{ x: 5, y: 0, z: 60, holdS: 0 }, { x: 5, y: 100, z: 60, holdS: 0 }], 10, DEFAULT_MOTION)).toEqual({ x: 5, y: 15, z: 60 });
  });
});

describe('comparing two paths', () => {
  it('between samples: two vehicles passing each other within one step are still seen', () => {
    const a = trajectory({ kind: 'velocity', from: { x: 0, y: 0, z: 50 }, vx: 20, vy: 0, vz: 0 }, 10, 2);
    const b = trajectory({ kind: 'velocity', from: { x: 50, y: 10, z: 50 }, vx: -20, vy: 0, vz: 0 }, 10, 2);
    const p = comparePaths(a, b, { horizontalM: 30, verticalM: 10 }, 2);
    expect(p.conflict).toBe(true);
    expect(p.minH).toBeCloseTo(10, 6);
  });
  it('vertically apart: never a conflict, however close horizontally', () => {
    const a = trajectory({ kind: 'still', at: { x: 0, y: 0, z: 75 } }, 10, 0.5);
    const b = trajectory({ kind: 'velocity', from: { x: -50, y: 0, z: 60 }, vx: 10, vy: 0, vz: 0 }, 10, 0.5);
    expect(comparePaths(a, b, { horizontalM: 30, verticalM: 10 }, 0.5)).toMatchObject({ conflict: false, minH: Infinity, minHAny: 0 });
  });
});

describe('resolution', () => {
  it('head-on on one corridor: holding either leaves it in the other\'s path; the lower-priority one climbs where it stands', () => {
    const urgent = flight('urgent', [0, 0, 60], [[1000, 0, 60]]);
    const normal = flight('normal', [400, 0, 60], [[-600, 0, 60]]);
    const d = decide(urgent, normal, OPTS);
    expect(d).toMatchObject({ resolves: true, action: { kind: 'climb', vehicle: 'normal', other: 'urgent', toZ: 75 } });
    // it stops 20 m on (towards the other), then climbs there
    expect(d.action!.at).toEqual({ x: 380, y: 0, z: 60 });
    // without vertical diverts nothing resolves it: an operator is needed, the best (the lower one holds) is still taken
    const d2 = decide(urgent, normal, { ...OPTS, divert: false });
    expect(d2).toMatchObject({ resolves: false, action: { kind: 'hold', vehicle: 'normal' } });
    // under the ceiling: the other climbs
    expect(decide(urgent, { ...normal, ceilingZ: 70 }, OPTS)).toMatchObject({ resolves: true, action: { kind: 'climb', vehicle: 'urgent', toZ: 75 } });
  });
  it('head-on where one turns off the corridor before they meet: holding the lower one short resolves it', () => {
    // the urgent one turns north 150 m on; the normal one holds 250 m short of that corner
    const urgent = flight('urgent', [0, 0, 60], [[150, 0, 60], [150, 800, 60]]);
    const normal = flight('normal', [420, 0, 60], [[-600, 0, 60]]);
    expect(decide(urgent, normal, OPTS)).toMatchObject({ resolves: true, action: { kind: 'hold', vehicle: 'normal', at: { x: 400, y: 0, z: 60 } } });
  });
  it('crossing: the lower-priority one holds short of the crossing', () => {
    const urgent = flight('urgent', [0, 0, 60], [[1000, 0, 60]]);
    const normal = flight('normal', [500, -500, 60], [[500, 500, 60]]);
    expect(decide(urgent, normal, OPTS)).toMatchObject({ resolves: true, action: { kind: 'hold', vehicle: 'normal', at: { x: 500, y: -480, z: 60 } } });
  });
  it('overtaking: the one behind (whose route crosses the other\'s position) holds, even when it has the higher priority', () => {
    const fast = { ...flight('urgent', [0, 0, 60], [[2000, 0, 60]]), model: { ...DEFAULT_MOTION, speedMps: 15 }, groundSpeedMps: 15 };
    const slow = { ...flight('normal', [120, 0, 60], [[2000, 0, 60]]), model: { ...DEFAULT_MOTION, speedMps: 5 }, groundSpeedMps: 5 };
    expect(decide(fast, slow, OPTS)).toMatchObject({ resolves: true, action: { kind: 'hold', vehicle: 'urgent' } });
    // the lower-priority one behind: it holds
    expect(decide({ ...fast, id: 'n2', rank: [2, 'z'] }, { ...slow, id: 'u2', rank: [0, 'a'] }, OPTS)).toMatchObject({ resolves: true, action: { kind: 'hold', vehicle: 'n2' } });
  });
  it('one holding in the other\'s path climbs out of it (the other is never made to hold as well)', () => {
    const holding = flight('urgent', [400, 0, 60], [[-600, 0, 60]], { giving: { how: 'hold', at: { x: 400, y: 0, z: 60 } } });
    const coming = flight('normal', [0, 0, 60], [[1000, 0, 60]]);
    const d = decide(coming, holding, OPTS);
    expect(d).toMatchObject({ resolves: true, action: { kind: 'climb', vehicle: 'urgent', toZ: 75, at: { x: 400, y: 0, z: 60 } } });
    // it may not climb (no divert): nothing the holder can do; the other is not held either
    expect(decide(coming, holding, { ...OPTS, divert: false }).action?.kind).not.toBe('hold');
    // once up, it is predicted from the altitude it reached, not from where it began to climb
    const up = { ...holding, pos: { x: 400, y: 0, z: 75 }, giving: { how: 'climb' as const, at: { x: 400, y: 0, z: 60 }, toZ: 75 } };
    expect(trajectory(expectedMotion(up), 5, 1).map((p) => p.z)).toEqual([75, 75, 75, 75, 75, 75]);
    expect(decide(coming, up, OPTS, 'urgent').action).toBeNull();
    expect(comparePaths(trajectory(expectedMotion(coming), 60, 0.5), trajectory(expectedMotion(up), 60, 0.5), OPTS, 0.5).conflict).toBe(false);
    // a climbed vehicle that still conflicts (the other climbs through it) cannot do more when it alone may act
    const climbed = { ...holding, giving: { how: 'climb' as const, at: holding.pos, toZ: 75 } };
    expect(decide(coming, climbed, OPTS, 'urgent').action).toBeNull();
  });
});

describe('property: what is said to resolve does', () => {
  const fine = 0.05;
  /** Both flown with the action at 0.05 s steps: the least horizontal distance while within the vertical separation. */
  function flown(d: ReturnType<typeof decide>, a: FlightView, b: FlightView): number {
    const act = d.action!;
    const [g, k] = act.vehicle === a.id ? [a, b] : [b, a];
    const mg: Motion = act.kind === 'hold' ? { kind: 'still', at: act.at } : { kind: 'vertical', at: act.at, toZ: act.toZ, model: g.model };
    const mk: Motion = k.route && k.route.length ? { kind: 'route', from: k.pos, route: k.route, model: k.model } : { kind: 'still', at: k.pos };
    const pa = trajectory(mg, OPTS.horizonS, fine), pb = trajectory(mk, OPTS.horizonS, fine);
    let min = Infinity;
    for (let i = 0; i < pa.length; i++) if (Math.abs(pa[i].z - pb[i].z) < OPTS.verticalM) min = Math.min(min, Math.hypot(pa[i].x - pb[i].x, pa[i].y - pb[i].y));
    return min;
  }
  const pt = fc.record({ x: fc.integer({ min: -800, max: 800 }), y: fc.integer({ min: -800, max: 800 }) });
  const layer = fc.constantFrom(45, 60, 75);
  it('for random pairs of routes (up to three legs, three layers), a resolving action keeps the separation when flown', () => {
    fc.assert(
      fc.property(pt, fc.array(pt, { minLength: 1, maxLength: 3 }), layer, pt, fc.array(pt, { minLength: 1, maxLength: 3 }), layer, fc.boolean(), (a0, ar, az, b0, br, bz, aHolds) => {
        const a = flight('ua', [a0.x, a0.y, az], ar.map((p) => [p.x, p.y, az] as [number, number, number]));
        const b = flight('nb', [b0.x, b0.y, bz], br.map((p) => [p.x, p.y, bz] as [number, number, number]));
        const A: FlightView = aHolds ? { ...a, giving: { how: 'hold', at: a.pos } } : a;
        const d = decide(A, b, OPTS);
        if (d.action && A.giving) expect(d.action.kind === 'hold' && d.action.vehicle === b.id).toBe(false);
        if (!d.action || !d.resolves) return;
        // starting closer than the separation is not something an action can undo
        const startH = Math.hypot(a0.x - b0.x, a0.y - b0.y);
        if (startH < OPTS.horizontalM && Math.abs(az - bz) < OPTS.verticalM) return;
        expect(flown(d, A, b)).toBeGreaterThanOrEqual(OPTS.horizontalM - 0.5);
      }),
      { numRuns: 400, seed: 15 },
    );
  });
});
