/** Preflight checks and the role matrix as pure functions (the same code the service runs). */
import { stateChecks, paramChecks, gripperServo, farthestFromM } from '../../src/delivery/preflight';
import { DEFAULT_POLICY, PolicySchema, needsApproval } from '../../src/delivery/policy';
import { findReleaseSeqs, planForAutopilot } from '../../src/delivery';
import { authorize, ROLE_MATRIX } from '../../src/server/roles';
import { emptyState } from '../../src/fleet';
import type { VehicleState } from '../../src/fleet/types';
import { Cmd, Frame, type MissionItem } from '../../src/mavlink/mission-item';

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 100 };

function healthy(): VehicleState {
  const s = emptyState('sim0', 1, 1);
  return {
    ...s,
    connected: true,
    lastSeenMs: Date.now(),
    gps: { fixType: 3, satellites: 12, hdop: 0.8 },
    ekfFlags: 0x33f,
    sensorsHealth: 1 << 28,
    battery: { voltageV: 24.6, currentA: 0, remainingPct: 95, consumedMah: 0 },
    home: HOME,
    position: { lat: HOME.lat, lon: HOME.lon, altAmslM: 100, altRelM: 0 },
  };
}

const item = (seq: number, command: number, lat: number, lon: number, z = 30): MissionItem => ({ seq, frame: Frame.GLOBAL_RELATIVE_ALT_INT, command, param1: 0, param2: 0, param3: 0, param4: 0, x: Math.round(lat * 1e7), y: Math.round(lon * 1e7), z });

// 1 km north of home and back.
const mission: MissionItem[] = [
  item(0, Cmd.NAV_WAYPOINT, HOME.lat, HOME.lon, 0),
  item(1, Cmd.NAV_TAKEOFF, HOME.lat, HOME.lon),
  item(2, Cmd.NAV_WAYPOINT, HOME.lat + 0.009, HOME.lon),
  item(3, Cmd.NAV_WAYPOINT, HOME.lat + 0.009, HOME.lon, 10),
  { ...item(4, Cmd.DO_GRIPPER, 0, 0, 0), frame: Frame.MISSION, param1: 1 },
  item(5, Cmd.NAV_LOITER_TIME, HOME.lat + 0.009, HOME.lon, 10),
  item(6, Cmd.NAV_LAND, HOME.lat, HOME.lon, 0),
];
const plan = { ok: true as const, mission, fence: [], rally: [], energyWh: 40, reserveWh: 100, request: { profile: { batteryWh: 444 } } };
const goodParams = {
  FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5, FS_OPTIONS: 8, BATT_FS_LOW_ACT: 2, BATT_FS_CRT_ACT: 1, FS_EKF_ACTION: 1,
  FENCE_ENABLE: 1, FENCE_ACTION: 1, FENCE_TYPE: 5, FENCE_RADIUS: 150, GRIP_ENABLE: 1, GRIP_TYPE: 1, SERVO9_FUNCTION: 28,
  // The profile's 6S 20 Ah pack (444 Wh).
  BATT_CAPACITY: 20000, MOT_BAT_VOLT_MAX: 25.2, BATT_ARM_VOLT: 0, BATT_LOW_VOLT: 21, BATT_CRT_VOLT: 19.8, BATT_LOW_MAH: 0, BATT_CRT_MAH: 0,
};
/** PX4 1.18 names for the same profile (as the launcher's PX4_PROJECT_PARAMS set them). */
const goodPx4Params = {
  NAV_DLL_ACT: 2, COM_DL_LOSS_T: 10, COM_LOW_BAT_ACT: 3, GF_ACTION: 3, GF_MAX_HOR_DIST: 0, GF_MAX_VER_DIST: 120, PD_GRIPPER_TYPE: 0, PWM_MAIN_FUNC5: 430,
  BAT1_N_CELLS: 6, BAT1_CAPACITY: 20000, BAT_CRIT_THR: 0.07, BAT_LOW_THR: 0.15,
};
const px4 = (): VehicleState => ({ ...healthy(), autopilot: 'px4' });

test('a healthy, well-configured vehicle passes every check', () => {
  const all = { ...stateChecks(healthy(), DEFAULT_POLICY), ...paramChecks(goodParams, plan, healthy(), DEFAULT_POLICY) };
  for (const c of Object.values(all)) expect([c!.name, c!.ok, c!.detail]).toEqual([c!.name, true, c!.detail]);
});

test('health checks fail by name: GPS fix, EKF flags, battery, prearm bit, missing home, already armed', () => {
  const s = healthy();
  s.gps = { fixType: 2, satellites: 5, hdop: 3 };
  s.ekfFlags = 0x33f | 0x8000;
  s.battery = { ...s.battery!, remainingPct: 40 };
  s.sensorsHealth = 0;
  s.home = null;
  s.armed = true;
  const c = stateChecks(s, DEFAULT_POLICY);
  expect(Object.values(c).filter((x) => !x!.ok).map((x) => x!.name).sort()).toEqual(['battery', 'disarmed', 'ekf', 'gps_fix', 'home', 'prearm']);
  expect(c.ekf!.detail).toMatch(/forbidden 0x8000/);
  s.ekfFlags = 0x1f;
  expect(stateChecks(s, DEFAULT_POLICY).ekf!.detail).toMatch(/missing 0x320/);
});

test('failsafe parameters: FS_GCS_ENABLE 0, BATT_FS_LOW_ACT 0, FENCE_ENABLE 0, FENCE_ACTION 0 all refused; an unread one is named', () => {
  const c = paramChecks({ ...goodParams, FS_GCS_ENABLE: 0, BATT_FS_LOW_ACT: 0, FENCE_ENABLE: 0, FENCE_ACTION: 0 }, plan, healthy(), DEFAULT_POLICY);
  expect([c.fs_gcs_enable!.ok, c.batt_fs_low_act!.ok, c.fence_enable!.ok, c.fence_action!.ok]).toEqual([false, false, false, false]);
  const u = paramChecks({ ...goodParams, FS_GCS_ENABLE: 'TIMEOUT: no answer for FS_GCS_ENABLE' }, plan, healthy(), DEFAULT_POLICY);
  expect(u.fs_gcs_enable).toMatchObject({ ok: false, detail: expect.stringMatching(/FS_GCS_ENABLE not read/) });
});

test('circle fence: only when FENCE_TYPE has bit 2, and its radius must cover the farthest point from home plus margin', () => {
  const far = farthestFromM(mission, HOME.lat, HOME.lon);
  expect(far).toBeGreaterThan(990);
  expect(far).toBeLessThan(1010);
  expect(paramChecks({ ...goodParams, FENCE_TYPE: 5, FENCE_RADIUS: 150 }, plan, healthy(), DEFAULT_POLICY).circle_fence_radius!.ok).toBe(true);
  expect(paramChecks({ ...goodParams, FENCE_TYPE: 7, FENCE_RADIUS: 150 }, plan, healthy(), DEFAULT_POLICY).circle_fence_radius!.ok).toBe(false);
  expect(paramChecks({ ...goodParams, FENCE_TYPE: 2, FENCE_RADIUS: far + 10 }, plan, healthy(), DEFAULT_POLICY).circle_fence_radius!.ok).toBe(false); // margin 20 m
  expect(paramChecks({ ...goodParams, FENCE_TYPE: 2, FENCE_RADIUS: far + 25 }, plan, healthy(), DEFAULT_POLICY).circle_fence_radius!.ok).toBe(true);
});

test('release mechanism: GRIP_ENABLE 1 and a servo with function 28', () => {
  expect(gripperServo({ SERVO9_FUNCTION: 0, SERVO11_FUNCTION: 28 })).toBe(11);
  expect(paramChecks({ ...goodParams, GRIP_ENABLE: 0 }, plan, healthy(), DEFAULT_POLICY).release_mechanism!.ok).toBe(false);
  expect(paramChecks({ ...goodParams, SERVO9_FUNCTION: 0 }, plan, healthy(), DEFAULT_POLICY).release_mechanism).toMatchObject({ ok: false, detail: expect.stringMatching(/no SERVOn_FUNCTION = 28/) });
});

test('failsafe details name what is wrong: a GCS timeout too long, no critical-battery action, EKF failsafe off, a fence without the polygon', () => {
  const c = paramChecks({ ...goodParams, FS_GCS_TIMEOUT: 60, BATT_FS_CRT_ACT: 0, FS_EKF_ACTION: 0, FENCE_TYPE: 3 }, plan, healthy(), DEFAULT_POLICY);
  expect(c.fs_gcs_enable).toMatchObject({ ok: false, detail: expect.stringMatching(/FS_GCS_TIMEOUT = 60 \(want > 0 and ≤ 30 s\)/) });
  expect(c.batt_fs_low_act).toMatchObject({ ok: false, detail: expect.stringMatching(/BATT_FS_CRT_ACT = 0/) });
  expect(c.fs_ekf_action!.ok).toBe(false);
  expect(c.fence_enable).toMatchObject({ ok: false, detail: expect.stringMatching(/FENCE_TYPE = 3 \(want polygon/) });
  expect(paramChecks({ ...goodParams, GRIP_TYPE: 0 }, plan, healthy(), DEFAULT_POLICY).release_mechanism!.ok).toBe(false);
});

test("ArduCopter's default FS_OPTIONS 16 fails the GCS failsafe check: a vehicle held in BRAKE would hover on GCS loss instead of returning", () => {
  for (const opts of [16, 2, 18, 24]) {
    expect(paramChecks({ ...goodParams, FS_OPTIONS: opts }, plan, healthy(), DEFAULT_POLICY).fs_gcs_enable).toMatchObject({ ok: false, detail: expect.stringMatching(new RegExp(`FS_OPTIONS = ${opts} \\(want bits 2 \\(continue in AUTO\\) and 16`)) });
  }
  for (const opts of [0, 8, 1, 4, 9]) expect(paramChecks({ ...goodParams, FS_OPTIONS: opts }, plan, healthy(), DEFAULT_POLICY).fs_gcs_enable!.ok).toBe(true);
});

test('a PX4 vehicle is judged in PX4 names: NAV_DLL_ACT, COM_DL_LOSS_T, COM_LOW_BAT_ACT, GF_ACTION, GF_MAX_HOR_DIST, PD_GRIPPER_TYPE, PWM_MAIN_FUNCn', () => {
  const all = paramChecks(goodPx4Params, plan, px4(), DEFAULT_POLICY);
  for (const c of Object.values(all)) expect([c!.name, c!.ok, c!.detail]).toEqual([c!.name, true, c!.detail]);
  expect(all.fs_ekf_action!.detail).toMatch(/PX4: no parameter/);
  expect(all.circle_fence_radius!.detail).toMatch(/GF_MAX_HOR_DIST = 0/);
  const bad = paramChecks({ ...goodPx4Params, NAV_DLL_ACT: 0, COM_LOW_BAT_ACT: 0, GF_ACTION: 1, GF_MAX_HOR_DIST: 500, PWM_MAIN_FUNC5: 0 }, plan, px4(), DEFAULT_POLICY);
  expect(Object.values(bad).filter((c) => !c!.ok).map((c) => c!.name).sort()).toEqual(['batt_fs_low_act', 'circle_fence_radius', 'fence_action', 'fs_gcs_enable', 'release_mechanism']);
  expect(bad.fs_gcs_enable!.detail).toMatch(/NAV_DLL_ACT = 0/);
  expect(bad.circle_fence_radius!.detail).toMatch(/GF_MAX_HOR_DIST 500 m vs route's farthest point/);
  // The gripper may sit on any output.
  expect(paramChecks({ ...goodPx4Params, PWM_MAIN_FUNC5: 0, PWM_MAIN_FUNC7: 430 }, plan, px4(), DEFAULT_POLICY).release_mechanism!.ok).toBe(true);
  // ArduPilot names never enter a PX4 judgement.
  expect(JSON.stringify(all)).not.toMatch(/FS_GCS_ENABLE|BATT_FS|FENCE_|GRIP_|SERVO/);
});

test("energy: the vehicle's pack and state of charge with the plan's reserve, not the planner's 444 Wh", () => {
  // 6S 20 Ah = 444 Wh; the plan needs 40 Wh + 25 % of the vehicle's pack (111 Wh) = 151 Wh.
  const low = healthy();
  low.battery = { ...low.battery!, remainingPct: 30 }; // 133 Wh
  const refused = paramChecks(goodParams, plan, low, DEFAULT_POLICY).energy_reserve!;
  expect(refused).toMatchObject({ ok: false, detail: 'needs 40.0 Wh + reserve 111.0 Wh, available 133.2 Wh (30% of 444.0 Wh)' });
  expect(paramChecks(goodParams, plan, healthy(), DEFAULT_POLICY).energy_reserve!.ok).toBe(true);
  // Consumed mAh counts too: 95 % by the gauge but 14000 mAh used leaves 6000 mAh (133 Wh).
  const used = healthy();
  used.battery = { ...used.battery!, consumedMah: 14000 };
  expect(paramChecks(goodParams, plan, used, DEFAULT_POLICY).energy_reserve!).toMatchObject({ ok: false, detail: expect.stringMatching(/available 133\.2 Wh \(30% of 444\.0 Wh\)$/) });
  // A vehicle that does not say how big its pack is does not fly.
  const { BATT_CAPACITY: _c, ...noCap } = goodParams;
  expect(paramChecks({ ...noCap, BATT_CAPACITY: 'TIMEOUT: no answer' }, plan, healthy(), DEFAULT_POLICY).energy_reserve!).toMatchObject({ ok: false, detail: expect.stringMatching(/^vehicle battery unknown: BATT_CAPACITY not read/) });
  expect(paramChecks({ ...goodParams, BATT_CAPACITY: 0 }, plan, healthy(), DEFAULT_POLICY).energy_reserve!.ok).toBe(false);
});

test('stock ArduCopter battery (3S 3300 mAh, BATT_LOW_VOLT 10.5) against the 6S 20 Ah profile: battery_match fails by name, energy is the 37 Wh pack', () => {
  // The demo's Jianshe Road deliveries: 68.2 Wh planned; preflight once said "available 444.0 Wh".
  const stock = { ...goodParams, BATT_CAPACITY: 3300, MOT_BAT_VOLT_MAX: 0, BATT_LOW_VOLT: 10.5, BATT_CRT_VOLT: 0 };
  const s = healthy();
  s.battery = { voltageV: 12.6, currentA: 0, remainingPct: 100, consumedMah: 0 };
  const c = paramChecks(stock, { ...plan, energyWh: 68.2 }, s, DEFAULT_POLICY);
  expect(c.battery_match!.ok).toBe(false);
  expect(c.battery_match!.detail).toMatch(/BATT_CAPACITY = 3300 \(want 20000 mAh ± 10%/);
  expect(c.battery_match!.detail).toMatch(/MOT_BAT_VOLT_MAX = 0 \(want 25\.2 V/);
  expect(c.battery_match!.detail).toMatch(/BATT_LOW_VOLT = 10\.5 \(want 20\.4–21\.6 V/);
  expect(c.battery_match!.detail).toMatch(/the pack reads 12\.60 V: not 6 cells$/);
  // REAL32 values as people read them (ArduPilot answers 25.200000762939453 for 25.2).
  expect(paramChecks({ ...goodParams, MOT_BAT_VOLT_MAX: Math.fround(25.2) }, plan, healthy(), DEFAULT_POLICY).battery_match!.detail).toMatch(/MOT_BAT_VOLT_MAX = 25\.2,/);
  // Cells from the pack's voltage (12.6 V cannot be 6 cells): 3.3 Ah × 3 × 3.7 V.
  expect(c.energy_reserve).toMatchObject({ ok: false, detail: 'needs 68.2 Wh + reserve 9.2 Wh, available 36.6 Wh (100% of 36.6 Wh)' });
  // A capacity failsafe above the reserve would cut a delivery that keeps it: 25 % of 20000 mAh = 5000.
  expect(paramChecks({ ...goodParams, BATT_LOW_MAH: 6000 }, plan, healthy(), DEFAULT_POLICY).battery_match!.ok).toBe(false);
  expect(paramChecks({ ...goodParams, BATT_LOW_MAH: 4000, BATT_CRT_MAH: 2000 }, plan, healthy(), DEFAULT_POLICY).battery_match!.ok).toBe(true);
  // PX4: cells and capacity in its names.
  const px = paramChecks({ ...goodPx4Params, BAT1_N_CELLS: 4, BAT1_CAPACITY: 5000 }, { ...plan, energyWh: 68.2 }, px4(), DEFAULT_POLICY);
  expect(px.battery_match).toMatchObject({ ok: false, detail: expect.stringMatching(/BAT1_N_CELLS = 4 \(want 6 .*BAT1_CAPACITY = 5000/) });
  expect(px.energy_reserve).toMatchObject({ ok: false, detail: expect.stringMatching(/of 74\.0 Wh\)$/) });
});

test('policy: defaults, strict validation, approval exemption for urgent jobs', () => {
  expect(DEFAULT_POLICY).toMatchObject({ requireApproval: false, minGpsFix: 3, promiseMin: 15 });
  expect(PolicySchema.safeParse({ bogus: 1 }).success).toBe(false);
  const p = PolicySchema.parse({ requireApproval: true });
  expect(needsApproval(p, 'normal')).toBe(true);
  expect(needsApproval(p, 'urgent')).toBe(false);
});

test('release item and drop waypoint found in the mission', () => {
  expect(findReleaseSeqs(mission, [HOME.lon, HOME.lat + 0.009])).toEqual({ releaseSeq: 4, dropSeq: 3 });
});

test('PX4 flies the mission without the home placeholder (takeoff first, renumbered); ArduPilot gets the plan as planned', () => {
  const p = { ...plan, mission };
  expect(planForAutopilot(p, 'ardupilot')).toBe(p);
  const px4 = planForAutopilot(p, 'px4');
  expect(px4.mission.map((m) => [m.seq, m.command])).toEqual(mission.slice(1).map((m, i) => [i, m.command]));
  expect(px4.mission[0].command).toBe(Cmd.NAV_TAKEOFF);
  expect(p.mission).toBe(mission); // the input is not changed
  expect(findReleaseSeqs(px4.mission, [HOME.lon, HOME.lat + 0.009])).toEqual({ releaseSeq: 3, dropSeq: 2 });
  // A mission without the placeholder is left alone.
  expect(planForAutopilot(px4, 'px4')).toBe(px4);
});

test('role matrix: supervisors never command; trainers command simulated vehicles only; admin everything', () => {
  for (const p of ['vehicle.command', 'delivery.dispatch', 'delivery.abort'] as const) {
    expect(authorize('supervisor', p).ok).toBe(false);
    expect(authorize('operator', p, { vehicleSimulated: false }).ok).toBe(true);
    expect(authorize('trainer', p, { vehicleSimulated: true }).ok).toBe(true);
    expect(authorize('trainer', p, { vehicleSimulated: false }).ok).toBe(false);
  }
  for (const p of Object.keys(ROLE_MATRIX) as Array<keyof typeof ROLE_MATRIX>) expect(authorize('admin', p, { vehicleSimulated: false }).ok).toBe(true);
  expect(authorize('supervisor', 'delivery.approve').ok).toBe(true);
  expect(authorize('operator', 'delivery.approve').ok).toBe(false);
  expect(authorize('operator', 'audit.read')).toMatchObject({ ok: false, code: 'FORBIDDEN' });
});
