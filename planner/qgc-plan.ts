/**
 * QGroundControl `.plan` files (JSON, fileType "Plan"): import into MissionItem lists (mission,
 * fence, rally) and export back. QGroundControl writes positions as [lat, lon(, alt)], a `null`
 * param for NaN ("unchanged"), and keeps the planned home outside the item list; here the
 * mission's item 0 is that home (as ArduPilot numbers it). QGroundControl's per-item metadata
 * (Altitude, AltitudeMode, AMSLAltAboveTerrain, doJumpId) is kept in `itemExtras` and written
 * back; ComplexItems (surveys, ...) cannot be represented and are reported, kept raw, and
 * re-inserted on export.
 */
import { Cmd, Frame, MissionType, type MissionItem } from '../src/mavlink/mission-item';
import type { Warning } from './errors';

export interface QgcPlanMeta {
  cruiseSpeed: number;
  hoverSpeed: number;
  firmwareType: number;
  vehicleType: number;
  globalPlanAltitudeMode?: number;
  groundStation: string;
}

export interface QgcPlanContent {
  /** Item 0 = planned home (frame GLOBAL, z = altitude AMSL), then the file's SimpleItems. */
  mission: MissionItem[];
  fence: MissionItem[];
  rally: MissionItem[];
  meta: QgcPlanMeta;
  /** Per mission item (same index), QGroundControl fields that MissionItem has no place for. */
  itemExtras: (Record<string, unknown> | null)[];
  /** Items that cannot be represented, with their position in the file's item list. */
  unsupported: { fileIndex: number; item: unknown }[];
  /**
   * Fields of the file that MissionItem lists have no place for (format versions, unknown keys,
   * per-polygon/circle fields, rally altitudes' source values), kept so that export writes them back.
   */
  preserved?: QgcPreserved;
  warnings: Warning[];
}

export interface QgcPreserved {
  doc: Record<string, unknown>;
  mission: Record<string, unknown>;
  geoFence: Record<string, unknown>;
  rallyPoints: Record<string, unknown>;
  /** Per fence polygon / circle (file order): fields besides the geometry and `inclusion`. */
  polygons: Record<string, unknown>[];
  circles: Record<string, unknown>[];
}

/** Keys each part of a .plan file has that the importer turns into items or meta. */
const KNOWN = {
  doc: ['fileType', 'geoFence', 'groundStation', 'mission', 'rallyPoints'],
  mission: ['cruiseSpeed', 'firmwareType', 'globalPlanAltitudeMode', 'hoverSpeed', 'items', 'plannedHomePosition', 'vehicleType'],
  geoFence: ['circles', 'polygons'],
  rallyPoints: ['points'],
  polygon: ['inclusion', 'polygon'],
  circle: ['inclusion', 'circle'],
};

function rest(o: Record<string, unknown>, known: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!known.includes(k)) out[k] = v;
  return out;
}

export type QgcImportResult = { ok: true; plan: QgcPlanContent } | { ok: false; error: { code: 'INVALID_QGC_PLAN'; message: string } };

export const DEFAULT_QGC_META: QgcPlanMeta = { cruiseSpeed: 10, hoverSpeed: 5, firmwareType: 3, vehicleType: 2, globalPlanAltitudeMode: 1, groundStation: 'Dropline' };

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (v === null || v === undefined ? NaN : Number(v));
const e7 = (deg: number) => (Number.isFinite(deg) ? Math.round(deg * 1e7) : NaN);

function bad(message: string): QgcImportResult {
  return { ok: false, error: { code: 'INVALID_QGC_PLAN', message } };
}

export function importQgcPlan(input: string | unknown): QgcImportResult {
  let doc: unknown = input;
  if (typeof input === 'string') {
    try { doc = JSON.parse(input); } catch (e) { return bad(`not JSON: ${(e as Error).message}`); }
  }
  if (!isObj(doc) || doc.fileType !== 'Plan') return bad('fileType must be "Plan"');
  const m = doc.mission;
  if (!isObj(m) || !Array.isArray(m.items)) return bad('mission.items must be an array');
  const warnings: Warning[] = [];
  const mission: MissionItem[] = [];
  const itemExtras: (Record<string, unknown> | null)[] = [];
  const unsupported: { fileIndex: number; item: unknown }[] = [];
  const home = Array.isArray(m.plannedHomePosition) ? m.plannedHomePosition : null;
  if (!home) warnings.push({ code: 'NO_PLANNED_HOME', message: 'the plan has no plannedHomePosition; item 0 is a zero home' });
  mission.push({ seq: 0, frame: Frame.GLOBAL, command: Cmd.NAV_WAYPOINT, current: 0, autocontinue: 1, param1: 0, param2: 0, param3: 0, param4: 0,
    x: home ? e7(num(home[0])) : 0, y: home ? e7(num(home[1])) : 0, z: home ? num(home[2]) : 0, missionType: MissionType.MISSION });
  itemExtras.push(null);
  for (let i = 0; i < m.items.length; i++) {
    const it = m.items[i];
    if (!isObj(it)) return bad(`mission item ${i} is not an object`);
    if (it.type !== 'SimpleItem') {
      unsupported.push({ fileIndex: i, item: it });
      warnings.push({ code: 'UNSUPPORTED_ITEM', message: `mission item ${i} is a ${String(it.type)} (${String(it.complexItemType ?? '')}) and cannot be represented as mission items; it is kept for export only`, details: { fileIndex: i } });
      continue;
    }
    if (!Array.isArray(it.params) || it.params.length !== 7) return bad(`mission item ${i}: params must hold 7 values`);
    if (typeof it.command !== 'number' || typeof it.frame !== 'number') return bad(`mission item ${i}: command and frame must be numbers`);
    const p = it.params.map(num);
    mission.push({ seq: mission.length, frame: it.frame, command: it.command, current: 0, autocontinue: it.autoContinue === false ? 0 : 1,
      param1: p[0], param2: p[1], param3: p[2], param4: p[3], x: e7(p[4]), y: e7(p[5]), z: p[6], missionType: MissionType.MISSION });
    const { type: _t, params: _p, command: _c, frame: _f, autoContinue: _a, ...rest } = it;
    itemExtras.push(Object.keys(rest).length ? rest : null);
  }
  const fence: MissionItem[] = [];
  const gf = doc.geoFence;
  if (isObj(gf)) {
    for (const [k, poly] of (Array.isArray(gf.polygons) ? gf.polygons : []).entries()) {
      if (!isObj(poly) || !Array.isArray(poly.polygon) || poly.polygon.length < 3) return bad(`geoFence polygon ${k} needs at least 3 vertices`);
      const n = poly.polygon.length;
      for (const v of poly.polygon) {
        if (!Array.isArray(v) || !Number.isFinite(v[0]) || !Number.isFinite(v[1])) return bad(`geoFence polygon ${k}: a vertex is not [lat, lon]`);
        fence.push({ seq: fence.length, frame: Frame.GLOBAL, command: poly.inclusion === false ? Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION : Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
          current: 0, autocontinue: 1, param1: n, param2: 0, param3: 0, param4: 0, x: e7(v[0]), y: e7(v[1]), z: 0, missionType: MissionType.FENCE });
      }
    }
    for (const [k, c] of (Array.isArray(gf.circles) ? gf.circles : []).entries()) {
      const circle = isObj(c) && isObj(c.circle) ? c.circle : null;
      if (!circle || !Array.isArray(circle.center) || !Number.isFinite(circle.radius)) return bad(`geoFence circle ${k} needs center [lat, lon] and radius`);
      fence.push({ seq: fence.length, frame: Frame.GLOBAL, command: c.inclusion === false ? Cmd.NAV_FENCE_CIRCLE_EXCLUSION : Cmd.NAV_FENCE_CIRCLE_INCLUSION,
        current: 0, autocontinue: 1, param1: circle.radius, param2: 0, param3: 0, param4: 0, x: e7(circle.center[0]), y: e7(circle.center[1]), z: 0, missionType: MissionType.FENCE });
    }
  }
  const rally: MissionItem[] = [];
  const rp = doc.rallyPoints;
  if (isObj(rp) && Array.isArray(rp.points)) {
    for (const [k, v] of rp.points.entries()) {
      if (!Array.isArray(v) || !Number.isFinite(v[0]) || !Number.isFinite(v[1])) return bad(`rally point ${k} is not [lat, lon, alt]`);
      rally.push({ seq: rally.length, frame: Frame.GLOBAL_RELATIVE_ALT, command: Cmd.NAV_RALLY_POINT, current: 0, autocontinue: 1, param1: 0, param2: 0, param3: 0, param4: 0,
        x: e7(v[0]), y: e7(v[1]), z: num(v[2] ?? 0), missionType: MissionType.RALLY });
    }
  }
  const preserved: QgcPreserved = {
    doc: rest(doc, KNOWN.doc), mission: rest(m, KNOWN.mission),
    geoFence: isObj(gf) ? rest(gf, KNOWN.geoFence) : {}, rallyPoints: isObj(rp) ? rest(rp, KNOWN.rallyPoints) : {},
    polygons: isObj(gf) && Array.isArray(gf.polygons) ? gf.polygons.map((p: Record<string, unknown>) => rest(p, KNOWN.polygon)) : [],
    circles: isObj(gf) && Array.isArray(gf.circles) ? gf.circles.map((c: Record<string, unknown>) => rest(c, KNOWN.circle)) : [],
  };
  const unknownKeys = [
    ...Object.keys(preserved.doc).filter((k) => k !== 'version').map((k) => k),
    ...Object.keys(preserved.mission).filter((k) => k !== 'version').map((k) => `mission.${k}`),
    ...Object.keys(preserved.geoFence).filter((k) => k !== 'version').map((k) => `geoFence.${k}`),
    ...Object.keys(preserved.rallyPoints).filter((k) => k !== 'version').map((k) => `rallyPoints.${k}`),
  ];
  if (unknownKeys.length > 0) warnings.push({ code: 'UNKNOWN_FIELDS_KEPT', message: `fields ${unknownKeys.join(', ')} have no MissionItem equivalent; they are kept and written back on export`, details: { fields: unknownKeys } });
  if (!isObj(gf) && doc.geoFence !== undefined) warnings.push({ code: 'GEOFENCE_IGNORED', message: 'geoFence is not an object and was ignored' });
  // MissionItem positions are ×1e7 integers: report finer coordinates
  const fine = (deg: unknown) => typeof deg === 'number' && Number.isFinite(deg) && Math.abs(Math.round(deg * 1e7) / 1e7 - deg) > 1e-12;
  let reduced = 0;
  for (const it of m.items) if (isObj(it) && it.type === 'SimpleItem' && Array.isArray(it.params) && (fine(it.params[4]) || fine(it.params[5]))) reduced++;
  if (home && (fine(home[0]) || fine(home[1]))) reduced++;
  if (isObj(gf) && Array.isArray(gf.polygons)) for (const p of gf.polygons) for (const v of p.polygon) if (fine(v[0]) || fine(v[1])) reduced++;
  if (isObj(gf) && Array.isArray(gf.circles)) for (const c of gf.circles) if (fine(c.circle.center[0]) || fine(c.circle.center[1])) reduced++;
  if (isObj(rp) && Array.isArray(rp.points)) for (const v of rp.points) if (fine(v[0]) || fine(v[1])) reduced++;
  if (reduced > 0) warnings.push({ code: 'PRECISION_REDUCED', message: `${reduced} position(s) are finer than 1e-7° (about 1 cm) and were rounded to MAVLink's ×1e7 integers`, details: { positions: reduced } });
  const meta: QgcPlanMeta = {
    cruiseSpeed: Number.isFinite(m.cruiseSpeed) ? m.cruiseSpeed : DEFAULT_QGC_META.cruiseSpeed,
    hoverSpeed: Number.isFinite(m.hoverSpeed) ? m.hoverSpeed : DEFAULT_QGC_META.hoverSpeed,
    firmwareType: Number.isFinite(m.firmwareType) ? m.firmwareType : DEFAULT_QGC_META.firmwareType,
    vehicleType: Number.isFinite(m.vehicleType) ? m.vehicleType : DEFAULT_QGC_META.vehicleType,
    ...(Number.isFinite(m.globalPlanAltitudeMode) ? { globalPlanAltitudeMode: m.globalPlanAltitudeMode } : {}),
    groundStation: typeof doc.groundStation === 'string' ? doc.groundStation : DEFAULT_QGC_META.groundStation,
  };
  return { ok: true, plan: { mission, fence, rally, meta, itemExtras, unsupported, preserved, warnings } };
}

const out = (v: number) => (Number.isFinite(v) ? v : null);

/** Writes a QGroundControl `.plan` document (an object; JSON.stringify it with 4 spaces as QGroundControl does). */
export function exportQgcPlan(input: { mission: MissionItem[]; fence?: MissionItem[]; rally?: MissionItem[]; meta?: Partial<QgcPlanMeta>; itemExtras?: (Record<string, unknown> | null)[]; unsupported?: { fileIndex: number; item: unknown }[]; preserved?: QgcPreserved }): Record<string, unknown> {
  const pre = input.preserved;
  const meta = { ...DEFAULT_QGC_META, ...(input.meta ?? {}) };
  const [home, ...rest] = input.mission;
  const items: unknown[] = rest.map((it, k) => {
    const extras = input.itemExtras?.[k + 1] ?? { doJumpId: k + 1 };
    return {
      ...extras,
      autoContinue: it.autocontinue !== 0,
      command: it.command,
      frame: it.frame,
      params: [out(it.param1), out(it.param2), out(it.param3), out(it.param4), out(it.x / 1e7), out(it.y / 1e7), out(it.z)],
      type: 'SimpleItem',
    };
  });
  for (const u of [...(input.unsupported ?? [])].sort((a, b) => a.fileIndex - b.fileIndex)) items.splice(u.fileIndex, 0, u.item);
  const polygons: unknown[] = [];
  const circles: unknown[] = [];
  const fence = input.fence ?? [];
  for (let i = 0; i < fence.length;) {
    const f = fence[i];
    if (f.command === Cmd.NAV_FENCE_CIRCLE_INCLUSION || f.command === Cmd.NAV_FENCE_CIRCLE_EXCLUSION) {
      circles.push({ circle: { center: [f.x / 1e7, f.y / 1e7], radius: f.param1 }, inclusion: f.command === Cmd.NAV_FENCE_CIRCLE_INCLUSION, version: 1, ...(pre?.circles[circles.length] ?? {}) });
      i++;
      continue;
    }
    const n = Math.max(1, f.param1);
    polygons.push({ inclusion: f.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, polygon: fence.slice(i, i + n).map((v) => [v.x / 1e7, v.y / 1e7]), version: 1, ...(pre?.polygons[polygons.length] ?? {}) });
    i += n;
  }
  return {
    fileType: 'Plan',
    geoFence: { circles, polygons, version: 2, ...(pre?.geoFence ?? {}) },
    groundStation: meta.groundStation,
    mission: {
      cruiseSpeed: meta.cruiseSpeed,
      firmwareType: meta.firmwareType,
      ...(meta.globalPlanAltitudeMode !== undefined ? { globalPlanAltitudeMode: meta.globalPlanAltitudeMode } : {}),
      hoverSpeed: meta.hoverSpeed,
      items,
      plannedHomePosition: home ? [home.x / 1e7, home.y / 1e7, out(home.z)] : [0, 0, 0],
      vehicleType: meta.vehicleType,
      version: 2,
      ...(pre?.mission ?? {}),
    },
    rallyPoints: { points: (input.rally ?? []).map((r) => [r.x / 1e7, r.y / 1e7, r.z]), version: 2, ...(pre?.rallyPoints ?? {}) },
    version: 1,
    ...(pre?.doc ?? {}),
  };
}

export function qgcPlanToString(doc: Record<string, unknown>): string {
  return JSON.stringify(doc, null, 4) + '\n';
}
