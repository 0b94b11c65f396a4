/**
 * Operations reports, computed in SQL on the store: per day and per period, requests, jobs,
 * deliveries, the share delivered within the promise, request-to-drop time (median and p90, nearest
 * rank), per launch site, vehicle, compound and priority; failed and aborted jobs with their reasons;
 * flight hours, ended flights and battery cycles per vehicle. Training jobs are left out.
 *
 * Definitions:
 * - a job belongs to the local day (tzOffsetMin) it was created;
 * - delivered = the job has a 'delivered' timeline entry (its first one is the drop time);
 * - request-to-drop = drop time − the request's receipt (the job's creation when no request);
 * - within the promise = dropped no later than the job's promiseBy;
 * - p50/p90 = the smallest duration whose rank r satisfies r ≥ p·n (nearest rank);
 * - ended flights = flights that ended (landed or closed);
 * - battery cycles = battery swaps recorded in the period (by a person, or seen in telemetry: a fresh
 *   pack on a disarmed vehicle, src/fleet/battery-swaps.ts), an operator's record that confirms a
 *   swap telemetry saw counted once. Vehicles with swaps and no flights are listed too.
 */
import type { SqlExecutor } from '../intake/sql';
import { backfillJobFacts, storedFacts, waitS, withinPromise } from './job-facts';

export const DIMENSIONS = ['day', 'site', 'vehicle', 'compound', 'priority'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export interface GroupRow {
  key: string;
  jobs: number;
  delivered: number;
  withinPromise: number;
  /** withinPromise / delivered, null without deliveries. */
  withinPromiseShare: number | null;
  failed: number;
  aborted: number;
  medianS: number | null;
  p90S: number | null;
}

export interface RequestDayRow {
  day: string;
  requests: number;
  merged: number;
  triaged: number;
  rejected: number;
}

export interface FailureRow {
  id: string;
  state: 'failed' | 'aborted';
  priority: string;
  vehicleId: string | null;
  createdAt: string;
  code: string;
  reason: string;
}

export interface VehicleRow {
  vehicleId: string;
  flights: number;
  flightHours: number;
  /** Flights that ended (landed or closed); flights still in the air count in `flights` only. */
  endedFlights: number;
  /** Battery swaps recorded in the period (a confirmation of a swap telemetry saw counted once). */
  batteryCycles: number;
}

export interface OperationsReport {
  from: string;
  to: string;
  tzOffsetMin: number;
  totals: GroupRow & { requests: number };
  by: Record<Dimension, GroupRow[]>;
  requests: RequestDayRow[];
  failures: FailureRow[];
  failureReasons: Array<{ state: string; code: string; count: number }>;
  vehicles: VehicleRow[];
}

export interface ReportQuery {
  /** First local day, YYYY-MM-DD. */
  from: string;
  /** Last local day (inclusive), YYYY-MM-DD. */
  to: string;
  /** Local time minus UTC, minutes (480 for China). Default 0. */
  tzOffsetMin?: number;
  /** Failed/aborted jobs listed. Default 500. */
  failureLimit?: number;
}

/** [fromIso, toIso) of local days from..to. */
export function periodBounds(q: ReportQuery): { fromIso: string; toIso: string } {
  const off = (q.tzOffsetMin ?? 0) * 60_000;
  const fromIso = new Date(Date.parse(`${q.from}T00:00:00.000Z`) - off).toISOString();
  const toIso = new Date(Date.parse(`${q.to}T00:00:00.000Z`) + 86_400_000 - off).toISOString();
  return { fromIso, toIso };
}

/** The report's groups by number in SQL (integers sort and hash cheaper than names). */
const DIM_NAMES = [...DIMENSIONS, 'total'] as const;
const DIM = Object.fromEntries(DIM_NAMES.map((x, i) => [x, i])) as Record<(typeof DIM_NAMES)[number], number>;

const n = (v: unknown) => Number(v ?? 0);
const nn = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export async function operationsReport(sql: SqlExecutor, q: ReportQuery): Promise<OperationsReport> {
  const d = sql.dialect;
  const off = Math.trunc(q.tzOffsetMin ?? 0);
  const { fromIso, toIso } = periodBounds(q);
  const ph = (s: string) => d.placeholders(s);
  // Ended jobs get their facts row when they end (job-facts.ts); ended jobs without a complete row
  // (ended before that, a row from before migration 8, a row not written) get it here first.
  await backfillJobFacts(sql, fromIso, toIso);
  // Jobs still under way (and only they, once the backfill ran) have no facts row: their values come
  // from their documents, timelines and requests; CASE reads those only for them.
  const own = (facts: string, computed: string) => `CASE WHEN f.created_at IS NULL THEN ${computed} ELSE ${facts} END`;
  const json = (path: string[]) => d.jsonText('d.doc', path);
  const stored = storedFacts('d.id', 'd.created_at');
  const jobs = `
    jobs AS ${d.materialized} (
      SELECT d.id, d.state, d.priority, d.vehicle_id, d.created_at, f.created_at AS has_facts, f.wait_s, f.within_promise,
        ${d.day('d.created_at', off)} AS day,
        ${own('f.site', json(['launch', 'name']))} AS site,
        ${own('f.compound', stored.compound)} AS compound,
        ${own('f.asked_at', stored.askedAt)} AS asked_at,
        ${own('f.promise_by', json(['promiseBy']))} AS promise_by,
        ${own('f.dropped_at', stored.droppedAt)} AS dropped_at
      FROM deliveries d
      -- The period's facts rows read by their creation time (a range, as the jobs are), each matched to its job.
      LEFT JOIN report_job_facts f ON f.delivery_id = d.id AND f.created_at >= ? AND f.created_at < ?
      WHERE d.training = 0 AND d.created_at >= ? AND d.created_at < ?
    ),
    facts AS ${d.materialized} (
      SELECT day, site, vehicle_id, compound, priority, state,
        CASE WHEN dropped_at IS NULL THEN 0 ELSE 1 END AS delivered,
        CASE WHEN has_facts IS NULL THEN ${withinPromise(d, 'dropped_at', 'promise_by')} ELSE within_promise END AS within,
        CASE WHEN has_facts IS NULL THEN ${waitS(d, 'dropped_at', 'asked_at')} ELSE wait_s END AS dur
      FROM jobs
    ),
    keyed AS (
      SELECT ${DIM.day} AS dim, day AS k, delivered, within, state, dur FROM facts
      UNION ALL SELECT ${DIM.site}, COALESCE(site, '(none)'), delivered, within, state, dur FROM facts
      UNION ALL SELECT ${DIM.vehicle}, COALESCE(vehicle_id, '(none)'), delivered, within, state, dur FROM facts
      UNION ALL SELECT ${DIM.compound}, COALESCE(compound, '(none)'), delivered, within, state, dur FROM facts
      UNION ALL SELECT ${DIM.priority}, priority, delivered, within, state, dur FROM facts
      UNION ALL SELECT ${DIM.total}, 'total', delivered, within, state, dur FROM facts
    )`;
  // Counts per group and percentiles (ranks over delivered jobs), shaped for each engine; the same answers.
  // PostgreSQL: one sort of the groups' rows by duration, a row's rank and its group's delivered count
  // from the same window (jobs not delivered rank last), then one aggregate over the sorted rows.
  // SQLite (every GROUP BY and window is a sort there, and a full-partition frame is slow): the counts
  // per group, the ranks of the delivered jobs only, joined.
  const ranking =
    d.name === 'postgres'
      ? `ranked AS (
      SELECT dim, k, delivered, within, state, dur, ROW_NUMBER() OVER w AS rn, COUNT(dur) OVER w AS cnt
      FROM keyed
      WINDOW w AS (PARTITION BY dim, k ORDER BY dur NULLS LAST ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    )
    SELECT dim, k, COUNT(*) AS jobs, SUM(delivered) AS delivered, SUM(within) AS within,
      SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed,
      SUM(CASE WHEN state = 'aborted' THEN 1 ELSE 0 END) AS aborted,
      MIN(CASE WHEN dur IS NOT NULL AND rn >= 0.5 * cnt THEN dur END) AS p50,
      MIN(CASE WHEN dur IS NOT NULL AND rn >= 0.9 * cnt THEN dur END) AS p90
    FROM ranked GROUP BY dim, k ORDER BY dim, k`
      : `agg AS ${d.materialized} (
      SELECT dim, k, COUNT(*) AS jobs, SUM(delivered) AS delivered, SUM(within) AS within, COUNT(dur) AS cnt,
        SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed,
        SUM(CASE WHEN state = 'aborted' THEN 1 ELSE 0 END) AS aborted
      FROM keyed GROUP BY dim, k
    ),
    ranked AS (
      SELECT dim, k, dur, ROW_NUMBER() OVER (PARTITION BY dim, k ORDER BY dur) AS rn FROM keyed WHERE dur IS NOT NULL
    ),
    pct AS (
      SELECT r.dim, r.k,
        MIN(CASE WHEN r.rn >= 0.5 * a.cnt THEN r.dur END) AS p50,
        MIN(CASE WHEN r.rn >= 0.9 * a.cnt THEN r.dur END) AS p90
      FROM ranked r JOIN agg a ON a.dim = r.dim AND a.k = r.k GROUP BY r.dim, r.k
    )
    SELECT a.dim, a.k, a.jobs, a.delivered, a.within, a.failed, a.aborted, p.p50, p.p90
    FROM agg a LEFT JOIN pct p ON p.dim = a.dim AND p.k = a.k ORDER BY a.dim, a.k`;
  const groups = await sql.all<any>(ph(`WITH ${jobs},\n    ${ranking}`), [fromIso, toIso, fromIso, toIso]);
  const by = Object.fromEntries(DIMENSIONS.map((x) => [x, [] as GroupRow[]])) as Record<Dimension, GroupRow[]>;
  let total: GroupRow = { key: 'total', jobs: 0, delivered: 0, withinPromise: 0, withinPromiseShare: null, failed: 0, aborted: 0, medianS: null, p90S: null };
  for (const r of groups) {
    const row: GroupRow = {
      key: String(r.k),
      jobs: n(r.jobs),
      delivered: n(r.delivered),
      withinPromise: n(r.within),
      withinPromiseShare: n(r.delivered) > 0 ? n(r.within) / n(r.delivered) : null,
      failed: n(r.failed),
      aborted: n(r.aborted),
      medianS: nn(r.p50) === null ? null : Math.round(nn(r.p50)! * 1000) / 1000,
      p90S: nn(r.p90) === null ? null : Math.round(nn(r.p90)! * 1000) / 1000,
    };
    const dim = DIM_NAMES[Number(r.dim)];
    if (dim === 'total') total = row;
    else by[dim].push(row);
  }

  const requests = (
    await sql.all<any>(
      ph(`SELECT ${d.day('received_at', off)} AS day, COUNT(*) AS requests,
        SUM(CASE WHEN state = 'merged' THEN 1 ELSE 0 END) AS merged,
        SUM(CASE WHEN state = 'triaged' THEN 1 ELSE 0 END) AS triaged,
        SUM(CASE WHEN state = 'rejected' THEN 1 ELSE 0 END) AS rejected
      FROM intake_requests WHERE received_at >= ? AND received_at < ?
      GROUP BY ${d.day('received_at', off)} ORDER BY 1`),
      [fromIso, toIso],
    )
  ).map((r) => ({ day: String(r.day), requests: n(r.requests), merged: n(r.merged), triaged: n(r.triaged), rejected: n(r.rejected) }));

  const reasonCode = `COALESCE(f.failure_code, CASE WHEN d.state = 'aborted' THEN 'ABORTED' ELSE 'UNKNOWN' END)`;
  const reasonText = `COALESCE(f.reason, '')`;
  const failWhere = `d.training = 0 AND d.state IN ('failed', 'aborted') AND d.created_at >= ? AND d.created_at < ?`;
  const failFrom = 'deliveries d JOIN report_job_facts f ON f.delivery_id = d.id';
  const failures = (
    await sql.all<any>(ph(`SELECT d.id, d.state, d.priority, d.vehicle_id, d.created_at, ${reasonCode} AS code, ${reasonText} AS reason FROM ${failFrom} WHERE ${failWhere} ORDER BY d.created_at, d.id LIMIT ${Math.max(1, Math.min(q.failureLimit ?? 500, 5000))}`), [fromIso, toIso])
  ).map((r) => ({ id: r.id, state: r.state, priority: r.priority, vehicleId: r.vehicle_id ?? null, createdAt: r.created_at, code: String(r.code), reason: String(r.reason) }));
  const failureReasons = (await sql.all<any>(ph(`SELECT d.state, ${reasonCode} AS code, COUNT(*) AS cnt FROM ${failFrom} WHERE ${failWhere} GROUP BY d.state, ${reasonCode} ORDER BY 3 DESC, 1, 2`), [fromIso, toIso])).map((r) => ({
    state: String(r.state),
    code: String(r.code),
    count: n(r.cnt),
  }));

  const vehicles = await vehicleReport(sql, fromIso, toIso);

  return {
    from: q.from,
    to: q.to,
    tzOffsetMin: off,
    totals: { ...total, requests: requests.reduce((s, r) => s + r.requests, 0) },
    by,
    requests,
    failures,
    failureReasons,
    vehicles,
  };
}

/**
 * Per vehicle over [fromIso, toIso): flights started (those of training jobs left out), flight hours and ended
 * flights, and battery cycles (swaps recorded, a confirmation of a swap telemetry saw counted once).
 */
export async function vehicleReport(sql: SqlExecutor, fromIso: string, toIso: string): Promise<VehicleRow[]> {
  const d = sql.dialect;
  return (
    await sql.all<any>(
      d.placeholders(`WITH fl AS (
        SELECT f.vehicle_id, COUNT(*) AS flights,
          SUM(CASE WHEN f.ended_at IS NULL THEN 0 ELSE ${d.epochS('f.ended_at')} - ${d.epochS('f.started_at')} END) AS seconds,
          COUNT(f.ended_at) AS ended
        FROM flights f LEFT JOIN deliveries d ON d.id = f.delivery_id
        WHERE f.started_at >= ? AND f.started_at < ? AND (d.id IS NULL OR d.training = 0)
        GROUP BY f.vehicle_id
      ),
      sw AS (
        SELECT vehicle_id, COUNT(*) AS cycles FROM battery_swaps
        WHERE at >= ? AND at < ? AND confirms_id IS NULL GROUP BY vehicle_id
      )
      SELECT v.vehicle_id, fl.flights, fl.seconds, fl.ended, sw.cycles
      FROM (SELECT vehicle_id FROM fl UNION SELECT vehicle_id FROM sw) v
      LEFT JOIN fl ON fl.vehicle_id = v.vehicle_id LEFT JOIN sw ON sw.vehicle_id = v.vehicle_id
      ORDER BY v.vehicle_id`),
      [fromIso, toIso, fromIso, toIso],
    )
  ).map((r) => ({ vehicleId: r.vehicle_id, flights: n(r.flights), flightHours: Math.round((n(r.seconds) / 3600) * 1e4) / 1e4, endedFlights: n(r.ended), batteryCycles: n(r.cycles) }));
}
