/**
 * What the operations report reads from an ended job's document (launch site, promise, failure
 * code and reason), kept in `report_job_facts` so that a report never parses job documents (each
 * carries its plan: kilobytes of JSON).
 *
 * - `recordJobFacts` writes the row when a job reaches a terminal state (completed, failed,
 *   aborted): the service calls it from the DeliveryManager's `onEnded` listener. It is an upsert
 *   by job id, so calling it again (a retry, another node) changes nothing but the values.
 * - `backfillJobFacts` extracts the same facts in SQL from the documents of ended jobs that have no
 *   row yet: jobs that ended before the listener existed, or whose row was lost (the service
 *   stopped between the job's last transition and the write). The report runs it for its period;
 *   once every ended job has its row it only confirms that none is missing.
 */
import type { Delivery } from '../delivery/types';
import type { SqlExecutor } from '../intake/sql';

export interface JobFacts {
  site: string | null;
  promiseBy: string | null;
  failureCode: string | null;
  reason: string | null;
}

/** The states after which a job's document no longer changes what the report reads from it. */
export const ENDED_STATES = ['completed', 'failed', 'aborted'] as const;

const text = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** The facts of one job, read as the SQL backfill reads them from its JSON document. */
export function jobFacts(d: Pick<Delivery, 'launch' | 'promiseBy' | 'failure' | 'abortReason'>): JobFacts {
  const launch = d.launch && typeof d.launch === 'object' ? (d.launch as Record<string, unknown>) : null;
  return {
    site: text(launch?.name),
    promiseBy: text(d.promiseBy),
    failureCode: text(d.failure?.code),
    reason: text(d.abortReason) ?? text(d.failure?.message),
  };
}

const UPSERT = `INSERT INTO report_job_facts (delivery_id, site, promise_by, failure_code, reason) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (delivery_id) DO UPDATE SET site = excluded.site, promise_by = excluded.promise_by, failure_code = excluded.failure_code, reason = excluded.reason`;

/** Writes (or rewrites) the facts row of an ended job. A job not ended yet is left alone (false). */
export async function recordJobFacts(sql: SqlExecutor, d: Delivery): Promise<boolean> {
  if (!(ENDED_STATES as readonly string[]).includes(d.state)) return false;
  const f = jobFacts(d);
  await sql.run(sql.dialect.placeholders(UPSERT), [d.id, f.site, f.promiseBy, f.failureCode, f.reason]);
  return true;
}

/**
 * Fills the missing facts rows of jobs created in [fromIso, toIso) that have ended, from their
 * documents (each parsed once). Returns how many rows it wrote.
 */
export async function backfillJobFacts(sql: SqlExecutor, fromIso: string, toIso: string): Promise<number> {
  const d = sql.dialect;
  const v = (path: string[]) => d.jsonValue('x.j', path);
  const states = ENDED_STATES.map((s) => `'${s}'`).join(', ');
  const r = await sql.run(
    d.placeholders(`INSERT INTO report_job_facts (delivery_id, site, promise_by, failure_code, reason)
      SELECT x.id, ${v(['launch', 'name'])}, ${v(['promiseBy'])}, ${v(['failure', 'code'])}, COALESCE(${v(['abortReason'])}, ${v(['failure', 'message'])})
      FROM (
        SELECT d.id, ${d.jsonDoc('d.doc')} AS j FROM deliveries d
        WHERE d.created_at >= ? AND d.created_at < ? AND d.state IN (${states})
          -- A scalar lookup per job, not NOT EXISTS: PostgreSQL would hash the whole facts table for an anti-join.
          AND (SELECT e.delivery_id FROM report_job_facts e WHERE e.delivery_id = d.id) IS NULL
      ) x
      WHERE true -- (SQLite would read the ON of the upsert as a join constraint without it)
      ON CONFLICT (delivery_id) DO NOTHING`),
    [fromIso, toIso],
  );
  return r.changes;
}
