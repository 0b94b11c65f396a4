/**
 * What one planner worker thread does with a task: call the pure planner and answer a value that
 * is cheap to send back (validation answers no parsed zones, only ok/warnings or the error).
 * Runs inside the worker (worker.js loads it through tsx); also callable in-process.
 */
import { planDelivery, validateZones } from '../../planner';
import { kmlToZones } from '../../planner/kml';

export type PlannerTask =
  | { op: 'validate'; zones: unknown }
  | { op: 'plan'; zones: unknown; request: unknown }
  | { op: 'kml'; text: string }
  | { op: 'ping' };

export default function plannerTask(task: PlannerTask): unknown {
  switch (task.op) {
    case 'validate': {
      const v = validateZones(task.zones);
      return v.ok ? { ok: true, warnings: v.zones.warnings } : { ok: false, error: v.error };
    }
    case 'plan':
      return planDelivery(task.zones, task.request);
    case 'kml':
      return kmlToZones(task.text);
    case 'ping':
      return { ok: true };
    default:
      throw Object.assign(new Error(`unknown planner task ${(task as { op?: unknown }).op}`), { code: 'INVALID_TASK' });
  }
}
