import * as fs from 'fs';
import * as path from 'path';
import { Cmd } from '../../src/mavlink/mission-item';
import { planDelivery } from '../../planner';
import { exportQgcPlan, importQgcPlan, qgcPlanToString } from '../../planner/qgc-plan';
import { DEMO_DROPS, demoZones } from './helpers';

/** Read from ../shared/fixtures/qgc when present (files QGroundControl wrote), else the copies in test/planner/in. */
function fixture(name: string): string {
  for (const dir of [path.join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'qgc'), '/work/shared/fixtures/qgc', path.join(__dirname, 'in')]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return fs.readFileSync(p, 'utf8');
  }
  throw new Error(`fixture ${name} not found`);
}

const close = (a: unknown, b: unknown) => {
  if (a === null || b === null) return expect(a).toBe(b);
  expect(Math.abs((a as number) - (b as number))).toBeLessThanOrEqual(1e-7);
};

describe('QGroundControl .plan', () => {
  test('ArduPilotSITL-ArduCopter.plan: mixed frames, null params; round trip keeps everything', () => {
    const text = fixture('ArduPilotSITL-ArduCopter.plan');
    const orig = JSON.parse(text);
    const r = importQgcPlan(text);
    if (!r.ok) throw new Error(r.error.message);
    const p = r.plan;
    expect(p.mission).toHaveLength(orig.mission.items.length + 1);
    expect(p.mission[0].x).toBe(Math.round(orig.mission.plannedHomePosition[0] * 1e7));
    expect(p.mission[1]).toMatchObject({ command: 22, frame: 3, z: 30 });
    expect(Number.isNaN(p.mission[1].param4)).toBe(true); // null param
    expect(p.mission.map((m) => m.frame)).toEqual([0, ...orig.mission.items.map((i: any) => i.frame)]);
    expect(Number.isNaN(p.mission[6].z)).toBe(true); // null altitude in a frame-0 item
    expect(p.fence).toEqual([]);
    expect(p.rally).toEqual([]);
    expect(p.warnings).toEqual([]);
    const back = exportQgcPlan(p) as any;
    expect(back.mission.items).toHaveLength(orig.mission.items.length);
    orig.mission.items.forEach((it: any, i: number) => {
      const b = back.mission.items[i];
      expect(b.command).toBe(it.command);
      expect(b.frame).toBe(it.frame);
      expect(b.autoContinue).toBe(it.autoContinue);
      expect(b.AltitudeMode).toBe(it.AltitudeMode);
      expect(b.doJumpId).toBe(it.doJumpId);
      it.params.forEach((v: unknown, k: number) => close(b.params[k], v));
    });
    orig.mission.plannedHomePosition.forEach((v: number, k: number) => close(back.mission.plannedHomePosition[k], v));
    // a second round trip is exact
    const again = importQgcPlan(qgcPlanToString(back));
    if (!again.ok) throw new Error(again.error.message);
    expect(JSON.stringify(exportQgcPlan(again.plan))).toBe(JSON.stringify(back));
  });

  test('ce_geofence_home_base.plan: a fence-only plan with [lat, lon] vertices', () => {
    const text = fixture('ce_geofence_home_base.plan');
    const orig = JSON.parse(text);
    const r = importQgcPlan(text);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.plan.mission).toHaveLength(1);
    expect(r.plan.fence).toHaveLength(8);
    expect(r.plan.fence.slice(0, 4).every((f) => f.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION && f.param1 === 4)).toBe(true);
    expect(r.plan.fence.slice(4).every((f) => f.command === Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION && f.param1 === 4)).toBe(true);
    expect(r.plan.fence[0].x).toBe(Math.round(38.7507608625056 * 1e7)); // latitude first
    expect(r.plan.fence[0].y).toBe(Math.round(-77.49735908548331 * 1e7));
    const back = exportQgcPlan(r.plan) as any;
    expect(back.geoFence.polygons).toHaveLength(2);
    orig.geoFence.polygons.forEach((poly: any, k: number) => {
      expect(back.geoFence.polygons[k].inclusion).toBe(poly.inclusion);
      poly.polygon.forEach((v: number[], i: number) => { close(back.geoFence.polygons[k].polygon[i][0], v[0]); close(back.geoFence.polygons[k].polygon[i][1], v[1]); });
    });
    expect(back.mission.items).toEqual([]);
  });

  test('a Dropline plan exports to .plan and imports back unchanged', () => {
    const plan = planDelivery(demoZones(), { drop: DEMO_DROPS.riverside });
    if (!plan.ok) throw new Error(plan.error.message);
    const doc = exportQgcPlan({ mission: plan.mission, fence: plan.fence, rally: plan.rally });
    const r = importQgcPlan(qgcPlanToString(doc));
    if (!r.ok) throw new Error(r.error.message);
    const strip = (items: any[]) => items.map(({ seq, frame, command, param1, param2, param3, param4, x, y, z }) => ({ seq, frame, command, param1, param2, param3, param4, x, y, z }));
    expect(strip(r.plan.mission)).toEqual(strip(plan.mission));
    expect(strip(r.plan.fence)).toEqual(strip(plan.fence));
    expect(r.plan.rally.map((i) => [i.x, i.y, i.z])).toEqual(plan.rally.map((i) => [i.x, i.y, i.z]));
  });

  test('bad files are refused with a code, complex items are reported', () => {
    expect(importQgcPlan('{')).toMatchObject({ ok: false, error: { code: 'INVALID_QGC_PLAN' } });
    expect(importQgcPlan({ fileType: 'Plan', mission: { items: [{ type: 'SimpleItem', command: 16, frame: 3, params: [0] }] } })).toMatchObject({ ok: false, error: { code: 'INVALID_QGC_PLAN' } });
    const r = importQgcPlan({ fileType: 'Plan', mission: { items: [{ type: 'ComplexItem', complexItemType: 'survey' }], plannedHomePosition: [1, 2, 3] } });
    expect(r.ok && r.plan.warnings.map((w) => w.code)).toEqual(['UNSUPPORTED_ITEM']);
    if (r.ok) expect((exportQgcPlan(r.plan) as any).mission.items[0]).toMatchObject({ type: 'ComplexItem', complexItemType: 'survey' });
  });
});
