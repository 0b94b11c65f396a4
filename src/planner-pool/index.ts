/**
 * The planner off the event loop: zone validation, planning and KML conversion run in a small pool
 * of worker threads (piscina), so the loop that sends the GCS heartbeats, reads telemetry and
 * answers HTTP never waits for geometry.
 *
 * Bounded on every side: a fixed number of threads, a bounded number of tasks waiting for one (one
 * more is refused at once with PLANNER_BUSY, 503, Retry-After), and a time limit per task (from
 * submission; PLANNER_TIMEOUT, 503: the thread running it is stopped and replaced). Failures are
 * PlannerPoolError with a stable `code` and an HTTP `status`.
 */
import os from 'os';
import path from 'path';
import Piscina from 'piscina';
import type { PlanResult } from '../../planner';
import type { KmlZonesResult } from '../../planner/kml';
import type { PlanError, Warning } from '../../planner/errors';
import type { PlannerTask, ZonesTextResult } from './task';
export { isZonesText, type ZonesText, type ZonesTextResult } from './task';
import { repoRoot, runningCompiled } from '../paths';

export interface PlannerPoolOptions {
  /** Worker threads. Default: one less than the cores, at least 1, at most 2 (1 on a 2-core machine). */
  threads?: number;
  /** Tasks that may wait for a thread beyond those running; one more is PLANNER_BUSY. Default 32. */
  maxQueue?: number;
  /** Time limit of a task from submission (waiting included). Default 10000 ms. */
  taskTimeoutMs?: number;
  /** Retry-After suggested with PLANNER_BUSY, s. Default 1. */
  retryAfterS?: number;
  /** Heap limit of each worker thread, MB. Default 1024. */
  maxHeapMb?: number;
}

export type PlannerPoolErrorCode = 'PLANNER_BUSY' | 'PLANNER_TIMEOUT' | 'PLANNER_CLOSED' | 'PLANNER_FAILED';

export class PlannerPoolError extends Error {
  constructor(
    readonly code: PlannerPoolErrorCode,
    readonly status: number,
    message: string,
    readonly retryAfterS?: number,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'PlannerPoolError';
  }
}

export type ValidateZonesResult = { ok: true; warnings: Warning[] } | { ok: false; error: PlanError };

export interface PlannerPoolStats {
  threads: number;
  maxQueue: number;
  /** Tasks submitted and not yet settled (running or waiting). */
  inFlight: number;
  completed: number;
  rejectedBusy: number;
  timedOut: number;
  failed: number;
}

export interface PlannerPool {
  /** planner.validateZones in a worker; answers no parsed zones (only ok and warnings, or the error). */
  validateZones(zones: unknown): Promise<ValidateZonesResult>;
  /** planner.planDelivery in a worker; `zones` is a collection or, cheaper, the stored text ({version, json}). */
  planDelivery(zones: unknown, request: unknown): Promise<PlanResult>;
  /** JSON text of zones (a request body) parsed, shape-checked and validated in a worker: canonical text to store, or the refusal. */
  validateZonesText(text: string): Promise<ZonesTextResult>;
  /** KML or GeoJSON text converted, checked and validated in a worker. */
  importZones(format: 'kml' | 'geojson', text: string): Promise<ZonesTextResult>;
  /** planner/kml.ts kmlToZones in a worker. */
  kmlToZones(text: string): Promise<KmlZonesResult>;
  /** Resolves once a thread has loaded the planner (threads load it as they start; a first task waits). */
  ready(): Promise<void>;
  stats(): PlannerPoolStats;
  /** Prometheus text of stats(). */
  metricsText(): string;
  /** Stop the threads; running and waiting tasks fail with PLANNER_CLOSED. Idempotent. */
  close(): Promise<void>;
}

/**
 * The worker's entry: from the TypeScript sources, worker.js (which registers tsx); from the
 * compiled bundle, dist/planner-worker.js (plain JavaScript, no transpiler at run time).
 */
export const WORKER_FILE = runningCompiled() ? path.join(repoRoot(), 'dist', 'planner-worker.js') : path.join(__dirname, 'worker.js');

export function defaultPlannerThreads(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(2, cores - 1));
}

export function createPlannerPool(opts: PlannerPoolOptions = {}): PlannerPool {
  const threads = opts.threads ?? defaultPlannerThreads();
  const maxQueue = opts.maxQueue ?? 32;
  const taskTimeoutMs = opts.taskTimeoutMs ?? 10_000;
  const retryAfterS = opts.retryAfterS ?? 1;
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= 16)) throw Object.assign(new Error(`planner threads must be 1..16, got ${threads}`), { code: 'INVALID_OPTION' });
  if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) throw Object.assign(new Error(`planner maxQueue must be an integer ≥ 0, got ${maxQueue}`), { code: 'INVALID_OPTION' });
  if (!(taskTimeoutMs > 0)) throw Object.assign(new Error(`planner taskTimeoutMs must be > 0, got ${taskTimeoutMs}`), { code: 'INVALID_OPTION' });
  const piscina = new Piscina({
    filename: WORKER_FILE,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    // Admission is counted here (piscina does not bound tasks that carry an AbortSignal).
    maxQueue: Math.max(1, maxQueue),
    resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb ?? 1024 },
  });
  // A worker that dies (out of memory, say) fails its task; piscina starts another.
  piscina.on('error', () => undefined);
  let closed = false;
  let inFlight = 0;
  const counters = { completed: 0, rejectedBusy: 0, timedOut: 0, failed: 0 };

  const run = <R>(task: PlannerTask): Promise<R> => {
    if (closed) return Promise.reject(new PlannerPoolError('PLANNER_CLOSED', 503, 'the planner is shut down'));
    if (inFlight >= threads + maxQueue) {
      counters.rejectedBusy++;
      return Promise.reject(
        new PlannerPoolError('PLANNER_BUSY', 503, `the planner is busy (${inFlight} tasks running or waiting, at most ${threads + maxQueue}); retry in ${retryAfterS} s`, retryAfterS, {
          inFlight,
          limit: threads + maxQueue,
        }),
      );
    }
    inFlight++;
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, taskTimeoutMs);
    timer.unref();
    return (piscina.run(task, { signal: abort.signal }) as Promise<R>).then(
      (r) => {
        counters.completed++;
        return r;
      },
      (e: unknown) => {
        if (timedOut) {
          counters.timedOut++;
          throw new PlannerPoolError('PLANNER_TIMEOUT', 503, `the planner took longer than ${taskTimeoutMs} ms on this ${task.op} task and was stopped`, undefined, { timeoutMs: taskTimeoutMs, op: task.op });
        }
        if (closed) throw new PlannerPoolError('PLANNER_CLOSED', 503, 'the planner is shut down');
        counters.failed++;
        throw new PlannerPoolError('PLANNER_FAILED', 500, `the planner failed on this ${task.op} task: ${(e as Error)?.message ?? String(e)}`);
      },
    ).finally(() => {
      clearTimeout(timer);
      inFlight--;
    });
  };

  return {
    validateZones: (zones) => run<ValidateZonesResult>({ op: 'validate', zones }),
    planDelivery: (zones, request) => run<PlanResult>({ op: 'plan', zones, request }),
    kmlToZones: (text) => run<KmlZonesResult>({ op: 'kml', text }),
    validateZonesText: (text) => run<ZonesTextResult>({ op: 'validate-text', text }),
    importZones: (format, text) => run<ZonesTextResult>({ op: 'import', format, text }),
    ready: async () => {
      await run({ op: 'ping' });
    },
    stats: () => ({ threads, maxQueue, inFlight, ...counters }),
    metricsText: () =>
      [
        '# HELP dropline_planner_tasks_in_flight Planner tasks running or waiting for a worker thread.',
        '# TYPE dropline_planner_tasks_in_flight gauge',
        `dropline_planner_tasks_in_flight ${inFlight}`,
        '# HELP dropline_planner_tasks_total Planner tasks by outcome.',
        '# TYPE dropline_planner_tasks_total counter',
        `dropline_planner_tasks_total{outcome="completed"} ${counters.completed}`,
        `dropline_planner_tasks_total{outcome="busy"} ${counters.rejectedBusy}`,
        `dropline_planner_tasks_total{outcome="timeout"} ${counters.timedOut}`,
        `dropline_planner_tasks_total{outcome="failed"} ${counters.failed}`,
      ].join('\n') + '\n',
    close: async () => {
      if (closed) return;
      closed = true;
      await piscina.destroy();
    },
  };
}
