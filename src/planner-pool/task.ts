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
