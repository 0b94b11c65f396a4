/**
 * What the operations report reads of an ended job, kept in `report_job_facts` so that a report
 * neither parses job documents (each carries its plan: kilobytes of JSON) nor looks up each job's
 * timeline and request: from the document its launch site, promise, failure code and reason; from
 * the store its creation, drop time (first 'delivered' timeline entry), the receipt and compound of
 * the request triaged into it, and from those the request-to-drop seconds and whether the drop kept
 * the promise (migration 8, src/reports/migration.ts).
 *
 * - `recordJobFacts` writes the row when a job reaches a terminal state (completed, failed,
 *   aborted): the service calls it from the DeliveryManager's `onEnded` listener, once the job's
 *   last transition is stored. It is an upsert by job id, so calling it again (a retry, another
 *   node) changes nothing but the values.
 * - `backfillJobFacts` extracts the same facts in SQL for ended jobs that have no complete row yet:
 *   jobs that ended before the listener existed, rows written before migration 8, or rows lost (the
 *   service stopped between the job's last transition and the write). The report runs it for its
 *   period; once every ended job has its row it only confirms that none is missing.
 */
import type { Delivery } from '../delivery/types';
import type { SqlExecutor } from '../intake/sql';
import { POSTGRES, SQLITE, type SqlDialect } from '../intake/dialect';

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

/**
 * What a job's facts row takes from the store rather than from its document, for the job whose id
 * and creation are the SQL expressions `id` and `created`: the first 'delivered' timeline entry, the
 * receipt and compound of the request triaged into it (its first, by seq), else its creation. The
 * report computes the same for jobs without a row (operations.ts), so both read alike.
 */
export const storedFacts = (id: string, created: string) => ({
  droppedAt: `(SELECT MIN(ev.at) FROM delivery_events ev WHERE ev.delivery_id = ${id} AND ev.state = 'delivered')`,
  askedAt: `COALESCE((SELECT rq.received_at FROM intake_requests rq WHERE rq.delivery_id = ${id} AND rq.state = 'triaged' ORDER BY rq.seq LIMIT 1), ${created})`,
  compound: `(SELECT rq.compound_id FROM intake_requests rq WHERE rq.delivery_id = ${id} AND rq.state = 'triaged' ORDER BY rq.seq LIMIT 1)`,
});

/** Request-to-drop in seconds (null when not dropped), from text timestamps: the report's definition. */
export const waitS = (d: SqlDialect, dropped: string, asked: string) => `CASE WHEN ${dropped} IS NULL THEN NULL ELSE ${d.epochS(dropped)} - ${d.epochS(asked)} END`;
/** 1 when dropped no later than the promise, else 0: the report's definition. */
export const withinPromise = (d: SqlDialect, dropped: string, promise: string) => `CASE WHEN ${dropped} IS NOT NULL AND ${d.epochS(dropped)} <= ${d.epochS(promise)} THEN 1 ELSE 0 END`;

const COLUMNS = 'delivery_id, site, promise_by, failure_code, reason, created_at, dropped_at, asked_at, compound, wait_s, within_promise';

/**
 * The upsert of facts rows from `source`, a SELECT of (id, site, promise_by, failure_code, reason,
 * created_at, dropped_at, asked_at, compound); computed once per job (a materialized CTE), then the
 * figures from them. `update` says what an existing row takes.
 */
function upsert(d: SqlDialect, source: string, update: 'all' | 'stored'): string {
  const take = (cols: string[]) => cols.map((c) => `${c} = excluded.${c}`);
  const stored = take(['created_at', 'dropped_at', 'asked_at', 'compound', 'wait_s']);
  const set =
    update === 'all'
      ? [...take(['site', 'promise_by', 'failure_code', 'reason']), ...stored, ...take(['within_promise'])]
      : // A row written before migration 8 keeps what it took from the job; its promise decides.
        [...stored, `within_promise = ${withinPromise(d, 'excluded.dropped_at', 'report_job_facts.promise_by')}`];
  return `WITH y AS ${d.materialized} (${source})
    INSERT INTO report_job_facts (${COLUMNS})
    SELECT y.id, y.site, y.promise_by, y.failure_code, y.reason, y.created_at, y.dropped_at, y.asked_at, y.compound,
      ${waitS(d, 'y.dropped_at', 'y.asked_at')}, ${withinPromise(d, 'y.dropped_at', 'y.promise_by')}
    FROM y
    WHERE true -- (SQLite would read the ON of the upsert as a join constraint without it)
    ON CONFLICT (delivery_id) DO UPDATE SET ${set.join(', ')}`;
}

const recordSql = (d: SqlDialect) => {
  const f = storedFacts('d.id', 'd.created_at');
  return d.placeholders(
    upsert(
      d,
      `SELECT d.id, CAST(? AS TEXT) AS site, CAST(? AS TEXT) AS promise_by, CAST(? AS TEXT) AS failure_code, CAST(? AS TEXT) AS reason,
        d.created_at, ${f.droppedAt} AS dropped_at, ${f.askedAt} AS asked_at, ${f.compound} AS compound
      FROM deliveries d WHERE d.id = ?`,
      'all',
    ),
  );
};
const RECORD = { sqlite: recordSql(SQLITE), postgres: recordSql(POSTGRES) };

/** Writes (or rewrites) the facts row of an ended job. A job not ended yet is left alone (false). */
export async function recordJobFacts(sql: SqlExecutor, d: Delivery): Promise<boolean> {
  if (!(ENDED_STATES as readonly string[]).includes(d.state)) return false;
  const f = jobFacts(d);
  await sql.run(RECORD[sql.dialect.name], [f.site, f.promiseBy, f.failureCode, f.reason, d.id]);
  return true;
}

/**
 * Fills the missing facts rows of jobs created in [fromIso, toIso) that have ended, from their
 * documents (each parsed once), and completes the rows written before migration 8 (what they took
 * from the job is kept). Returns how many rows it wrote.
 */
export async function backfillJobFacts(sql: SqlExecutor, fromIso: string, toIso: string): Promise<number> {
  const d = sql.dialect;
  const v = (path: string[]) => d.jsonValue('x.j', path);
  const f = storedFacts('x.id', 'x.created_at');
  const states = ENDED_STATES.map((s) => `'${s}'`).join(', ');
  // PostgreSQL would pull the subquery up and parse each document (a jsonb cast) once for every
  // value read from it; OFFSET 0 keeps it a subquery whose rows carry the parsed document.
  const fence = d.name === 'postgres' ? 'OFFSET 0' : '';
  const r = await sql.run(
    d.placeholders(
      upsert(
        d,
        `SELECT x.id, ${v(['launch', 'name'])} AS site, ${v(['promiseBy'])} AS promise_by, ${v(['failure', 'code'])} AS failure_code,
          COALESCE(${v(['abortReason'])}, ${v(['failure', 'message'])}) AS reason,
          x.created_at, ${f.droppedAt} AS dropped_at, ${f.askedAt} AS asked_at, ${f.compound} AS compound
        FROM (
          SELECT d.id, d.created_at, ${d.jsonDoc('d.doc')} AS j FROM deliveries d
          WHERE d.created_at >= ? AND d.created_at < ? AND d.state IN (${states})
            -- The period's complete rows, read by their creation time: an anti-join over one period, not the whole table.
            AND NOT EXISTS (SELECT 1 FROM report_job_facts e WHERE e.delivery_id = d.id AND e.created_at >= ? AND e.created_at < ?)
          ${fence}
        ) x`,
        'stored',
      ),
    ),
    [fromIso, toIso, fromIso, toIso],
  );
  return r.changes;
}
