/**
 * Mission Planner / QGroundControl `.waypoints` text files (QGC WPL 110): import into MissionItem
 * lists and export back. One item per line, tab-separated:
 *   INDEX CURRENT FRAME COMMAND PARAM1 PARAM2 PARAM3 PARAM4 LAT LON ALT AUTOCONTINUE
 * Line 0 is the home position, as ArduPilot numbers it. Fence (5001–5004) and rally (5100) files
 * use the same format. Numbers are written at full precision (latitude/longitude with 7
 * decimals, exactly the ×1e7 integers); NaN ("unchanged") params are written as `NaN`.
 */
import { Cmd, MissionType, type MissionItem, type MissionTypeValue } from '../src/mavlink/mission-item';
import type { Warning } from './errors';

export const WPL_HEADER = 'QGC WPL 110';

export type WaypointsImportResult =
  | { ok: true; items: MissionItem[]; missionType: MissionTypeValue; warnings: Warning[] }
  | { ok: false; error: { code: 'INVALID_WAYPOINTS'; message: string; details?: { line: number } } };

const FENCE_CMDS = new Set<number>([Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION, Cmd.NAV_FENCE_RETURN_POINT]);

/** The list a set of items belongs to, judged by its commands. */
export function guessMissionType(items: MissionItem[]): MissionTypeValue {
  const body = items.filter((it) => it.seq !== 0 || items.length === 1);
  if (body.length > 0 && body.every((it) => FENCE_CMDS.has(it.command))) return MissionType.FENCE;
  if (body.length > 0 && body.every((it) => it.command === Cmd.NAV_RALLY_POINT)) return MissionType.RALLY;
  return MissionType.MISSION;
}

const NUM = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseNum(s: string): number | null {
  if (/^[+-]?nan$/i.test(s)) return NaN;
  if (!NUM.test(s)) return null;
  return Number(s);
}

/**
 * Reads a `.waypoints` file. Accepts tabs or spaces, CRLF line ends and blank lines; lat/lon are
 * degrees and become ×1e7 integers (finer digits are reported as PRECISION_REDUCED).
 */
export function importWaypoints(text: string): WaypointsImportResult {
  const bad = (message: string, line: number): WaypointsImportResult => ({ ok: false, error: { code: 'INVALID_WAYPOINTS', message: `line ${line}: ${message}`, details: { line } } });
  if (typeof text !== 'string') return { ok: false, error: { code: 'INVALID_WAYPOINTS', message: 'the waypoints file must be text' } };
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = lines[0]?.trim() ?? '';
  const m = /^QGC WPL (\d+)$/.exec(header);
  if (!m) return bad(`expected the header "${WPL_HEADER}", got "${header.slice(0, 40)}"`, 1);
  const warnings: Warning[] = [];
  if (m[1] !== '110') warnings.push({ code: 'WPL_VERSION', message: `file version ${m[1]} read as version 110` });
  const items: MissionItem[] = [];
  let reduced = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    if (f.length !== 12) return bad(`expected 12 fields, got ${f.length}`, i + 1);
    const v = f.map(parseNum);
    const k = v.findIndex((x) => x === null);
    if (k >= 0) return bad(`field ${k + 1} ("${f[k].slice(0, 20)}") is not a number`, i + 1);
    const n = v as number[];
    for (const [idx, what] of [[0, 'index'], [1, 'current'], [2, 'frame'], [3, 'command'], [11, 'autocontinue']] as const) {
      if (!Number.isInteger(n[idx]) || n[idx] < 0) return bad(`${what} must be a non-negative integer, got ${f[idx]}`, i + 1);
    }
    if (n[0] !== items.length) return bad(`index ${n[0]} out of sequence (expected ${items.length})`, i + 1);
    const lat = n[8], lon = n[9];
    if (!Number.isNaN(lat) && (lat < -90 || lat > 90)) return bad(`latitude ${lat} is out of range`, i + 1);
    if (!Number.isNaN(lon) && (lon < -180 || lon > 180)) return bad(`longitude ${lon} is out of range`, i + 1);
    const x = Number.isNaN(lat) ? NaN : Math.round(lat * 1e7), y = Number.isNaN(lon) ? NaN : Math.round(lon * 1e7);
    if ((Number.isFinite(lat) && Math.abs(x / 1e7 - lat) > 1e-12) || (Number.isFinite(lon) && Math.abs(y / 1e7 - lon) > 1e-12)) reduced++;
    items.push({ seq: n[0], frame: n[2], command: n[3], current: n[1] ? 1 : 0, autocontinue: n[11] ? 1 : 0,
      param1: n[4], param2: n[5], param3: n[6], param4: n[7], x, y, z: n[10], missionType: MissionType.MISSION });
  }
  const missionType = guessMissionType(items);
  for (const it of items) it.missionType = missionType;
  if (reduced > 0) warnings.push({ code: 'PRECISION_REDUCED', message: `${reduced} item(s) had latitude/longitude finer than 1e-7° (about 1 cm), rounded to the MAVLink ×1e7 integers`, details: { items: reduced } });
  return { ok: true, items, missionType, warnings };
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '3.4028235e38' : '-3.4028235e38';
  const s = String(v);
  if (!/e/i.test(s)) return s;
  // no exponent notation: some readers do not accept it
  return v.toFixed(20).replace(/0+$/, '').replace(/\.$/, '');
}

function fmtDeg(e7: number): string {
  if (!Number.isFinite(e7)) return fmt(e7);
  const neg = e7 < 0;
  const a = Math.abs(Math.round(e7));
  const s = `${Math.floor(a / 1e7)}.${String(a % 1e7).padStart(7, '0')}`;
  return neg && a !== 0 ? `-${s}` : s;
}

export interface WaypointsExport {
  text: string;
  /** What the format cannot carry (mission type, per-item metadata, ...). */
  warnings: Warning[];
}

/**
 * Writes items as a `.waypoints` file. The first item is written as line 0 (home for a mission).
 * Items are renumbered 0…n−1; `current` is written as given; infinities are clamped to ±FLT_MAX
 * and reported.
 */
export function exportWaypoints(items: MissionItem[], context: { itemExtras?: (Record<string, unknown> | null)[]; unsupported?: unknown[] } = {}): WaypointsExport {
  const warnings: Warning[] = [];
  const lines = [WPL_HEADER];
  let inf = 0;
  items.forEach((it, i) => {
    const vals = [it.param1, it.param2, it.param3, it.param4, it.z];
    if (vals.some((v) => v === Infinity || v === -Infinity)) inf++;
    lines.push([i, it.current ? 1 : 0, it.frame, it.command, fmt(it.param1), fmt(it.param2), fmt(it.param3), fmt(it.param4), fmtDeg(it.x), fmtDeg(it.y), fmt(it.z), it.autocontinue === 0 ? 0 : 1].join('\t'));
    if (it.seq !== i) warnings.push({ code: 'RENUMBERED', message: `item with seq ${it.seq} written as line ${i}`, details: { seq: it.seq, line: i } });
  });
  if (inf > 0) warnings.push({ code: 'INFINITY_CLAMPED', message: `${inf} item(s) had an infinite value, written as ±3.4028235e38`, details: { items: inf } });
  const types = [...new Set(items.map((it) => it.missionType))];
  if (types.length > 1) warnings.push({ code: 'MIXED_MISSION_TYPES', message: `items of mission types ${types.join(', ')} in one file: the format cannot tell them apart`, details: { missionTypes: types } });
  const extras = (context.itemExtras ?? []).map((e, i) => ({ i, keys: e ? Object.keys(e) : [] })).filter((e) => e.keys.length > 0);
  if (extras.length > 0) {
    const keys = [...new Set(extras.flatMap((e) => e.keys))].sort();
    warnings.push({ code: 'ITEM_METADATA_DROPPED', message: `${extras.length} item(s) carry ground-station metadata (${keys.join(', ')}) that a .waypoints file cannot hold`, details: { items: extras.map((e) => e.i), keys } });
  }
  if (context.unsupported && context.unsupported.length > 0) {
    warnings.push({ code: 'UNSUPPORTED_ITEM_DROPPED', message: `${context.unsupported.length} complex item(s) (surveys, ...) cannot be written to a .waypoints file and are left out`, details: { count: context.unsupported.length } });
  }
  return { text: lines.join('\n') + '\n', warnings };
}
