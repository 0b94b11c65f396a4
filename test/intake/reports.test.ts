/**
 * The operations report against a seeded day whose answers are worked out by hand below, on a real
 * SQLite file (the store's schema) and on PostgreSQL (a schema of its own): the same SQL, the same answers.
 *
 * Day 2026-03-10 in China (UTC+8 → 2026-03-09T16:00Z … 2026-03-10T16:00Z). Times below are UTC.
 *   job  prio    vehicle site            compound   asked  created promise dropped  → request-to-drop
 *   J1   urgent  V1      Police Post 1   riverside  00:00  00:02   00:17   00:12    720 s  within
 *   J2   high    V1      Police Post 1   garden     01:00  01:05   01:20   01:25   1500 s  late
 *   J3   normal  V2      Fire Station 2  –          02:00  02:00   02:15   02:10    600 s  within
 *   J4   urgent  V2      Fire Station 2  riverside  03:00  03:01   03:16   03:09    540 s  within
 *   J5   normal  V1      Police Post 1   –                 04:00   failed PREFLIGHT_FAILED "battery low"
 *   J6   high    V2      Fire Station 2  –                 05:00   aborted "resident not home"
 *   J7   training job (left out)         06:00, delivered
 *   J8   normal  V1      Police Post 1   –                 2026-03-09T15:00Z (local 23:00 on the 9th), delivered 15:10 (600 s)
 *   J9   normal  –       –               –                 15:30 (local 23:30), still planned
 * Totals of the 10th: 7 jobs, 4 delivered, 3 within the promise (75 %), 1 failed, 1 aborted;
 * durations 540, 600, 720, 1500 → median (rank ≥ 2) 600 s, p90 (rank ≥ 3.6 → 4) 1500 s.
 *
 * Battery swaps (UTC):
 *   S1 V1 telemetry 00:25            S2 V1 operator 00:27, confirms S1 (the same pack: not counted again)
 *   S3 V1 operator  01:45            S4 V1 telemetry 2026-03-09T15:30Z (local 23:30 on the 9th)
 *   S5 V2 operator  02:20            S6 V3 telemetry 10:00 (V3 flew nothing that day)
 *   S7 V2 operator  16:00 (local 00:00 on the 11th)
 * Battery cycles of the 10th: V1 2 (S1, S3), V2 1 (S5), V3 1 (S6); of the 9th and 10th: V1 3.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import crypto from 'crypto';
import { openStore, type Store } from '../../src/store';
import { IntakeDb } from '../../src/intake/db';
import { SqliteExecutor } from '../../src/intake/sql';
import { operationsReport, periodBounds } from '../../src/reports/operations';
import { toCsv } from '../../src/reports/csv';
import { backfillJobFacts, recordJobFacts } from '../../src/reports/job-facts';
import { PRIORITY_RANK, type DeliveryState, type Priority } from '../../src/delivery/types';
import { pgSchema, type PgSchema } from './pg';

let dir: string;
let store: Store;
let pg: PgSchema;
const dbs: Record<'sqlite' | 'postgres', IntakeDb> = {} as any;

const Z = (hhmm: string, day = '2026-03-10') => `${day}T${hhmm}:00.000Z`;

/** The seeded day, written with plain SQL through the executor (the same rows on both databases). */
async function seed(db: IntakeDb): Promise<void> {
  const sql = db.sql;
  let seq = 0;
  const job = async (o: { id: string; priority: Priority; vehicle?: string; site?: string; created: string; promise?: string; state: DeliveryState; dropped?: string; training?: boolean; failure?: { code: string; message: string }; abortReason?: string }) => {
    const doc = {
      id: o.id, state: o.state, priority: o.priority, drop: [114.4, 34.06], launch: o.site ? { name: o.site, lon: 114.39, lat: 34.06 } : null,
      createdAt: o.created, updatedAt: o.dropped ?? o.created, promiseBy: o.promise ?? new Date(Date.parse(o.created) + 15 * 60_000).toISOString(),
      ...(o.vehicle ? { vehicleId: o.vehicle } : {}), ...(o.failure ? { failure: o.failure } : {}), ...(o.abortReason ? { abortReason: o.abortReason } : {}),
    };
    await sql.run('INSERT INTO deliveries (id, seq, state, priority, priority_rank, vehicle_id, created_at, updated_at, doc, training) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      o.id, ++seq, o.state, o.priority, PRIORITY_RANK[o.priority], o.vehicle ?? null, o.created, doc.updatedAt, JSON.stringify(doc), o.training ? 1 : 0,
    ]);
    await sql.run("INSERT INTO delivery_events (delivery_id, at, state) VALUES (?, ?, 'requested')", [o.id, o.created]);
    if (o.dropped) await sql.run("INSERT INTO delivery_events (delivery_id, at, state) VALUES (?, ?, 'delivered')", [o.id, o.dropped]);
  };
  const request = (o: { received: string; state: 'new' | 'triaged' | 'merged' | 'rejected'; compound?: string; delivery?: string }) =>
    db.insertRequest({
      statusHash: crypto.randomBytes(16).toString('hex'), source: 'test', receivedAt: o.received, updatedAt: o.received, text: 't', contact: null, contactKey: null, lang: 'en',
      placeId: o.compound ?? null, compoundId: o.compound ?? null, drop: null, confidence: 1, match: {}, priority: 'normal', priorityReasons: [], state: o.state,
      deliveryId: o.delivery ?? null, mergedInto: null, merges: 0, triagedBy: null, triagedAt: null, purgedAt: null,
    });
  const flight = (id: string, vehicle: string, delivery: string, start: string, end: string | null) =>
    sql.run('INSERT INTO flights (id, delivery_id, vehicle_id, state, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)', [id, delivery, vehicle, end ? 'ended' : 'active', start, end]);
  await job({ id: 'J1', priority: 'urgent', vehicle: 'V1', site: 'Police Post 1', created: Z('00:02'), state: 'completed', dropped: Z('00:12') });
  await job({ id: 'J2', priority: 'high', vehicle: 'V1', site: 'Police Post 1', created: Z('01:05'), state: 'completed', dropped: Z('01:25') });
  await job({ id: 'J3', priority: 'normal', vehicle: 'V2', site: 'Fire Station 2', created: Z('02:00'), state: 'completed', dropped: Z('02:10') });
  await job({ id: 'J4', priority: 'urgent', vehicle: 'V2', site: 'Fire Station 2', created: Z('03:01'), state: 'returning', dropped: Z('03:09') });
  await job({ id: 'J5', priority: 'normal', vehicle: 'V1', site: 'Police Post 1', created: Z('04:00'), state: 'failed', failure: { code: 'PREFLIGHT_FAILED', message: 'battery low' } });
  await job({ id: 'J6', priority: 'high', vehicle: 'V2', site: 'Fire Station 2', created: Z('05:00'), state: 'aborted', abortReason: 'resident not home' });
  await job({ id: 'J7', priority: 'urgent', vehicle: 'V2', site: 'Fire Station 2', created: Z('06:00'), state: 'completed', dropped: Z('06:10'), training: true });
  await job({ id: 'J8', priority: 'normal', vehicle: 'V1', site: 'Police Post 1', created: Z('15:00', '2026-03-09'), state: 'completed', dropped: Z('15:10', '2026-03-09') });
  await job({ id: 'J9', priority: 'normal', created: Z('15:30'), state: 'planned' });
  await request({ received: Z('00:00'), state: 'triaged', compound: 'riverside', delivery: 'J1' });
  await request({ received: Z('00:05'), state: 'merged', compound: 'riverside' });
  await request({ received: Z('01:00'), state: 'triaged', compound: 'garden', delivery: 'J2' });
  await request({ received: Z('03:00'), state: 'triaged', compound: 'riverside', delivery: 'J4' });
  await request({ received: Z('07:00'), state: 'rejected' });
  await request({ received: Z('15:59'), state: 'new' });
  await request({ received: Z('16:00'), state: 'new' }); // local 00:00 on the 11th: not the 10th
  await flight('F1', 'V1', 'J1', Z('00:03'), Z('00:20'));
  await flight('F2', 'V1', 'J2', Z('01:06'), Z('01:40'));
  await flight('F3', 'V2', 'J3', Z('02:01'), Z('02:18'));
  await flight('F4', 'V2', 'J4', Z('03:02'), Z('03:20'));
  await flight('F6', 'V2', 'J6', Z('05:02'), Z('05:10'));
  await flight('F7', 'V2', 'J7', Z('06:01'), Z('06:30')); // training: left out
  await flight('F9', 'V1', 'J9', Z('15:50'), null); // still flying: a flight, no hours, not ended
  const swap = (vehicle: string, source: 'operator' | 'telemetry', at: string, confirmsAt?: string) =>
    sql.run(
      `INSERT INTO battery_swaps (vehicle_id, at, source, confirms_id) VALUES (?, ?, ?, ${confirmsAt ? '(SELECT id FROM battery_swaps WHERE vehicle_id = ? AND at = ?)' : 'NULL'})`,
      [vehicle, at, source, ...(confirmsAt ? [vehicle, confirmsAt] : [])],
    );
  await swap('V1', 'telemetry', Z('00:25'));
  await swap('V1', 'operator', Z('00:27'), Z('00:25'));
  await swap('V1', 'operator', Z('01:45'));
  await swap('V1', 'telemetry', Z('15:30', '2026-03-09'));
  await swap('V2', 'operator', Z('02:20'));
  await swap('V3', 'telemetry', Z('10:00'));
  await swap('V2', 'operator', Z('16:00'));
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-report-'));
  store = await openStore({ dataDir: dir });
  dbs.sqlite = new IntakeDb(new SqliteExecutor(store.db!));
  pg = await pgSchema('report');
  dbs.postgres = new IntakeDb(pg.sql);
  for (const db of Object.values(dbs)) await seed(db);
});

afterAll(async () => {
  store?.close();
  await pg?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const row = (key: string, jobs: number, delivered: number, within: number, medianS: number | null, p90S: number | null, failed = 0, aborted = 0) => ({
  key, jobs, delivered, withinPromise: within, withinPromiseShare: delivered ? within / delivered : null, failed, aborted, medianS, p90S,
});

test('local day bounds', () => {
  expect(periodBounds({ from: '2026-03-10', to: '2026-03-10', tzOffsetMin: 480 })).toEqual({ fromIso: '2026-03-09T16:00:00.000Z', toIso: '2026-03-10T16:00:00.000Z' });
});

describe.each(['sqlite', 'postgres'] as const)('on %s', (engine) => {
  test('the day of 2026-03-10 (UTC+8), as worked out by hand', async () => {
    const r = await operationsReport(dbs[engine].sql, { from: '2026-03-10', to: '2026-03-10', tzOffsetMin: 480 });
    expect(r.totals).toEqual({ ...row('total', 7, 4, 3, 600, 1500, 1, 1), requests: 6 });
    expect(r.by.day).toEqual([row('2026-03-10', 7, 4, 3, 600, 1500, 1, 1)]);
    expect(r.by.priority).toEqual([row('high', 2, 1, 0, 1500, 1500, 0, 1), row('normal', 3, 1, 1, 600, 600, 1, 0), row('urgent', 2, 2, 2, 540, 720)]);
    expect(r.by.site).toEqual([row('(none)', 1, 0, 0, null, null), row('Fire Station 2', 3, 2, 2, 540, 600, 0, 1), row('Police Post 1', 3, 2, 1, 720, 1500, 1, 0)]);
    expect(r.by.vehicle).toEqual([row('(none)', 1, 0, 0, null, null), row('V1', 3, 2, 1, 720, 1500, 1, 0), row('V2', 3, 2, 2, 540, 600, 0, 1)]);
    expect(r.by.compound).toEqual([row('(none)', 4, 1, 1, 600, 600, 1, 1), row('garden', 1, 1, 0, 1500, 1500), row('riverside', 2, 2, 2, 540, 720)]);
    expect(r.requests).toEqual([{ day: '2026-03-10', requests: 6, merged: 1, triaged: 3, rejected: 1 }]);
    expect(r.failures).toEqual([
      { id: 'J5', state: 'failed', priority: 'normal', vehicleId: 'V1', createdAt: Z('04:00'), code: 'PREFLIGHT_FAILED', reason: 'battery low' },
      { id: 'J6', state: 'aborted', priority: 'high', vehicleId: 'V2', createdAt: Z('05:00'), code: 'ABORTED', reason: 'resident not home' },
    ]);
    expect(r.failureReasons).toEqual([{ state: 'aborted', code: 'ABORTED', count: 1 }, { state: 'failed', code: 'PREFLIGHT_FAILED', count: 1 }]);
    // V1: 17 + 34 min flown, 2 ended flights, one still in the air. V2: 17 + 18 + 8 min (the training flight left out).
    // Battery cycles: V1 S1 and S3 (S2 confirms S1), V2 S5, V3 S6 with no flight.
    expect(r.vehicles).toEqual([
      { vehicleId: 'V1', flights: 3, flightHours: 0.85, endedFlights: 2, batteryCycles: 2 },
      { vehicleId: 'V2', flights: 3, flightHours: 0.7167, endedFlights: 3, batteryCycles: 1 },
      { vehicleId: 'V3', flights: 0, flightHours: 0, endedFlights: 0, batteryCycles: 1 },
    ]);
  });

  test('the facts row written as a job ends is the one the report extracts from its document; writing it again changes nothing', async () => {
    const sql = dbs[engine].sql;
    const { fromIso, toIso } = periodBounds({ from: '2026-03-09', to: '2026-03-10', tzOffsetMin: 480 });
    await backfillJobFacts(sql, fromIso, toIso);
    const read = () =>
      sql.all<any>('SELECT delivery_id, site, promise_by, failure_code, reason, created_at, dropped_at, asked_at, compound, wait_s, within_promise FROM report_job_facts ORDER BY delivery_id');
    const extracted = await read();
    // The ended jobs of the seeded days (J4 is returning, J9 planned: no row).
    expect(extracted.map((r) => r.delivery_id)).toEqual(['J1', 'J2', 'J3', 'J5', 'J6', 'J7', 'J8']);
    expect(await backfillJobFacts(sql, fromIso, toIso)).toBe(0);
    await sql.run('DELETE FROM report_job_facts');
    const docs = await sql.all<any>('SELECT doc FROM deliveries ORDER BY id');
    for (const { doc } of docs) {
      const job = JSON.parse(doc);
      const written = await recordJobFacts(sql, job);
      expect(written).toBe(['completed', 'failed', 'aborted'].includes(job.state));
      await recordJobFacts(sql, job);
    }
    expect(await read()).toEqual(extracted);
    expect(extracted.find((r) => r.delivery_id === 'J5')).toEqual({
      delivery_id: 'J5', site: 'Police Post 1', promise_by: Z('04:15'), failure_code: 'PREFLIGHT_FAILED', reason: 'battery low',
      created_at: Z('04:00'), dropped_at: null, asked_at: Z('04:00'), compound: null, wait_s: null, within_promise: 0,
    });
    expect(extracted.find((r) => r.delivery_id === 'J6')).toMatchObject({ failure_code: null, reason: 'resident not home' });
    // J1: from a request received at 00:00 (riverside), dropped at 00:12, promised by 00:17. J2: dropped 01:25, promised by 01:20.
    const j1 = extracted.find((r) => r.delivery_id === 'J1');
    expect(j1).toMatchObject({ created_at: Z('00:02'), dropped_at: Z('00:12'), asked_at: Z('00:00'), compound: 'riverside', within_promise: 1 });
    expect(Number(j1.wait_s)).toBeCloseTo(720, 3);
    expect(extracted.find((r) => r.delivery_id === 'J2')).toMatchObject({ asked_at: Z('01:00'), compound: 'garden', within_promise: 0 });
    // A row written from the job wins over its document: the report reads the row.
    await recordJobFacts(sql, { ...JSON.parse(docs.find((x) => JSON.parse(x.doc).id === 'J6')!.doc), abortReason: 'rewritten' });
    const r = await operationsReport(sql, { from: '2026-03-10', to: '2026-03-10', tzOffsetMin: 480 });
    expect(r.failures.find((f) => f.id === 'J6')!.reason).toBe('rewritten');
    await recordJobFacts(sql, JSON.parse(docs.find((x) => JSON.parse(x.doc).id === 'J6')!.doc));
  });

  test('facts rows written before their creation, drop and request were kept: counted right, then completed by the report', async () => {
    const sql = dbs[engine].sql;
    const before = await sql.all<any>('SELECT * FROM report_job_facts ORDER BY delivery_id');
    try {
      // As the rows were before migration 8: only what was read from the job, here J6's reason rewritten.
      await sql.run('UPDATE report_job_facts SET created_at = NULL, dropped_at = NULL, asked_at = NULL, compound = NULL, wait_s = NULL, within_promise = NULL');
      await sql.run("UPDATE report_job_facts SET reason = 'rewritten' WHERE delivery_id = 'J6'");
      const day = { from: '2026-03-10', to: '2026-03-10', tzOffsetMin: 480 };
      const { fromIso, toIso } = periodBounds(day);
      // The report first completes its day's rows (from timelines, requests, documents), then reads them.
      const r = await operationsReport(sql, day);
      expect(r.totals).toEqual({ ...row('total', 7, 4, 3, 600, 1500, 1, 1), requests: 6 });
      expect(r.by.compound).toEqual([row('(none)', 4, 1, 1, 600, 600, 1, 1), row('garden', 1, 1, 0, 1500, 1500), row('riverside', 2, 2, 2, 540, 720)]);
      expect(r.failures.find((f) => f.id === 'J6')!.reason).toBe('rewritten');
      // The ended jobs of the day (J7, a training job, too), completed; what a row took from its job is kept.
      const after = await sql.all<any>('SELECT * FROM report_job_facts WHERE created_at >= ? AND created_at < ? ORDER BY delivery_id', [fromIso, toIso]);
      expect(after.map((x) => x.delivery_id)).toEqual(['J1', 'J2', 'J3', 'J5', 'J6', 'J7']);
      expect(after.find((x) => x.delivery_id === 'J6')).toMatchObject({ reason: 'rewritten', created_at: Z('05:00'), dropped_at: null, asked_at: Z('05:00'), within_promise: 0 });
      expect(after.find((x) => x.delivery_id === 'J1')).toMatchObject({ dropped_at: Z('00:12'), asked_at: Z('00:00'), compound: 'riverside', within_promise: 1 });
      expect(await backfillJobFacts(sql, fromIso, toIso)).toBe(0);
      // J8 (the 9th, local) is outside the day: left as it was.
      expect((await sql.all<any>("SELECT created_at FROM report_job_facts WHERE delivery_id = 'J8'"))[0].created_at).toBeNull();
      const again = await operationsReport(sql, day);
      expect(again).toEqual(r);
    } finally {
      await sql.run('DELETE FROM report_job_facts');
      const cols = Object.keys(before[0]);
      for (const x of before) await sql.run(`INSERT INTO report_job_facts (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, cols.map((c) => x[c]));
    }
  });

  test('a period of two days: one row per local day', async () => {
    const r = await operationsReport(dbs[engine].sql, { from: '2026-03-09', to: '2026-03-10', tzOffsetMin: 480 });
    expect(r.by.day).toEqual([row('2026-03-09', 1, 1, 1, 600, 600), row('2026-03-10', 7, 4, 3, 600, 1500, 1, 1)]);
    expect(r.totals).toMatchObject({ jobs: 8, delivered: 5, withinPromise: 4, medianS: 600, p90S: 1500 });
    // The same instants in UTC days: J8 and J9 fall on the 9th and 10th as in UTC, the rest on the 10th.
    const utc = await operationsReport(dbs[engine].sql, { from: '2026-03-09', to: '2026-03-10' });
    expect(utc.by.day.map((d) => [d.key, d.jobs])).toEqual([['2026-03-09', 1], ['2026-03-10', 7]]);
    // Battery cycles of both days: V1 gains S4 (local 23:30 on the 9th); S7 is on the 11th.
    expect(r.vehicles.map((v) => [v.vehicleId, v.batteryCycles])).toEqual([['V1', 3], ['V2', 1], ['V3', 1]]);
  });

  test('battery swaps are append-only', async () => {
    const sql = dbs[engine].sql;
    // The refusal's message, read directly (not `.rejects.toThrow()`: better-sqlite3's SqliteError belongs
    // to whichever test file loaded the native module first in the worker; jest does not take it for an
    // error in another file's context, so the check failed only when another file ran first).
    const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (e: unknown) => String((e as { message?: unknown })?.message ?? e));
    expect(await refusal(sql.run("UPDATE battery_swaps SET note = 'x'"))).toMatch(/append-only/);
    expect(await refusal(sql.run('DELETE FROM battery_swaps'))).toMatch(/append-only/);
    expect((await sql.all<{ n: unknown }>('SELECT COUNT(*) AS n FROM battery_swaps'))[0].n).toBe(engine === 'postgres' ? '7' : 7);
  });
});

test('CSV export quotes and defuses formulas', () => {
  const csv = toCsv(['a', 'b'], [{ a: '=HYPERLINK("x")', b: 'x, "y"' }, { a: 1.5, b: null }]);
  expect(csv).toBe('\ufeffa,b\r\n"\'=HYPERLINK(""x"")","x, ""y"""\r\n1.5,\r\n');
});
