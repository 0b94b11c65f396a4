/**
 * What one planner worker thread does with a task: call the pure planner and answer a value that
 * is cheap to send back (validation answers no parsed zones, only ok/warnings or the error).
 * Runs inside the worker (worker.js loads it through tsx); also callable in-process.
 */
import fs from 'fs';
import os from 'os';
import { isMainThread } from 'worker_threads';
import { planDelivery, validateZones } from '../../planner';
import { kmlToZones } from '../../planner/kml';
import { normaliseWinding } from '../../planner/winding';
import { FeatureCollectionSchema, issues } from '../server/schemas';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../server/guards';

/** Scheduling priority of a planner thread (Linux nice; the service's main thread keeps 0). */
export const PLANNER_THREAD_NICE = 10;

/**
 * On Linux a thread has a scheduling priority of its own: lower this worker thread's, so on a busy
 * machine the main thread, which sends the GCS heartbeats, gets a core before the planner does.
 * setpriority(2) takes the thread id for a thread (what /proc/thread-self names).
 */
function lowerThreadPriority(): void {
  if (isMainThread || process.platform !== 'linux') return;
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0 && tid !== process.pid) os.setPriority(tid, PLANNER_THREAD_NICE);
  } catch {
    /* not permitted or not available: run at the default priority */
  }
}
lowerThreadPriority();

/** Zones as stored: a version and its JSON text (a string crosses to a thread as one copy; an object graph is cloned piece by piece). */
export interface ZonesText {
  version: number;
  json: string;
}

export function isZonesText(z: unknown): z is ZonesText {
  return !!z && typeof z === 'object' && typeof (z as ZonesText).json === 'string' && typeof (z as ZonesText).version === 'number';
}

/** Zones text checked in a thread: canonical JSON to store, or why it cannot be stored (an HTTP status and a stable code). */
export type ZonesTextResult =
  | { ok: true; json: string; featureCount: number; warnings: unknown[] }
  | { ok: false; status: number; code: string; message: string; details?: unknown };

export type PlannerTask =
  | { op: 'validate'; zones: unknown }
  | { op: 'validate-text'; text: string }
  | { op: 'import'; format: 'kml' | 'geojson'; text: string }
  | { op: 'plan'; zones: unknown; request: unknown }
  | { op: 'kml'; text: string }
  | { op: 'ping' };

/** Parsed zones of the versions this thread planned against last (parsing a city's zones costs more than a plan). */
const parsedZones = new Map<string, unknown>();
function zonesOf(z: unknown): unknown {
  if (!isZonesText(z)) return z;
  const key = `${z.version}:${z.json.length}`;
  let parsed = parsedZones.get(key);
  if (parsed === undefined) {
    parsed = JSON.parse(z.json);
    parsedZones.set(key, parsed);
    while (parsedZones.size > 2) parsedZones.delete(parsedZones.keys().next().value as string);
  }
  return parsed;
}

/**
 * JSON text of a zone collection → shape check → planner validation → canonical text. With
 * `normalise` (imports) the text stored has its rings rewound as the zone editor stores them, so a
 * clockwise file warns once, at import, and never in the plans made against it.
 */
function checkZonesText(text: string, normalise = false): ZonesTextResult {
  if (jsonDepthExceeds(Buffer.from(text), MAX_JSON_DEPTH)) return { ok: false, status: 400, code: 'JSON_TOO_DEEP', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { ok: false, status: 400, code: 'MALFORMED_JSON', message: `not JSON: ${(e as Error).message}` };
  }
  return checkZones(parsed, normalise);
}

function checkZones(parsed: unknown, normalise = false): ZonesTextResult {
  const shape = FeatureCollectionSchema.safeParse(parsed);
  if (!shape.success) return { ok: false, status: 400, code: 'INVALID_BODY', message: 'not a GeoJSON FeatureCollection', details: issues(shape.error) };
  const v = validateZones(parsed);
  if (!v.ok) return { ok: false, status: v.error.code === 'ZONES_TOO_LARGE' ? ((v.error.details as { limitName?: string })?.limitName === 'MAX_RING_VERTICES' ? 422 : 413) : 422, code: v.error.code === 'ZONES_TOO_LARGE' ? 'ZONES_TOO_LARGE' : 'INVALID_ZONES', message: v.error.message, details: v.error.code === 'ZONES_TOO_LARGE' ? v.error.details : v.error };
  return { ok: true, json: JSON.stringify(normalise ? normaliseWinding(parsed).fc : parsed), featureCount: (parsed as { features: unknown[] }).features.length, warnings: v.zones.warnings };
}

export default function plannerTask(task: PlannerTask): unknown {
  switch (task.op) {
    case 'validate': {
      const v = validateZones(task.zones);
      return v.ok ? { ok: true, warnings: v.zones.warnings } : { ok: false, error: v.error };
    }
    case 'validate-text':
      return checkZonesText(task.text);
    case 'import': {
      if (task.format === 'geojson') {
        const r = checkZonesText(task.text, true);
        // Text that is not JSON, or JSON that is not a collection, is a bad import (as KML that is not KML).
        if (!r.ok && r.code === 'MALFORMED_JSON') return { ...r, code: 'INVALID_IMPORT' };
        if (!r.ok && r.code === 'INVALID_BODY') return { ...r, status: 422, code: 'INVALID_IMPORT' };
        return r;
      }
      const k = kmlToZones(task.text);
      if (!k.ok) return { ok: false, status: k.error.code === 'INVALID_KML' ? 400 : 422, code: 'INVALID_IMPORT', message: k.error.message, details: k.error };
      const r = checkZones(k.zones, true);
      return r.ok ? { ...r, warnings: [...((k as { warnings?: unknown[] }).warnings ?? []), ...r.warnings] } : r;
    }
    case 'plan':
      return planDelivery(zonesOf(task.zones), task.request);
    case 'kml':
      return kmlToZones(task.text);
    case 'ping':
      return { ok: true };
    default:
      throw Object.assign(new Error(`unknown planner task ${(task as { op?: unknown }).op}`), { code: 'INVALID_TASK' });
  }
}
