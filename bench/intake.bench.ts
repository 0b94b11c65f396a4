/**
 * Intake benchmarks (issue 16), each with a baseline measured in the same run:
 *  - matching 1,000 free-text requests (Chinese and English, short names, typos, homophones)
 *    against a catalogue of 5,000 places: median and p95 per request (goal ≤ 2 ms median);
 *    baseline: a naive linear scan that runs fuse.js's approximate match of every compound name
 *    against the text (on the first 100 requests);
 *  - building the matcher's index for the 5,000 places (baseline: parsing the catalogue's JSON);
 *  - the daily operations report over a store of 100,000 jobs spread over 30 days, on SQLite and
 *    on PostgreSQL (goal ≤ 200 ms), and the same report for the whole 30-day period (all 100,000
 *    jobs). Every ended job has the facts row the service writes as a job ends (recordJobFacts), so
 *    the first report of a day is the figure that matters; the report's backfill (a day of jobs that
 *    ended before the facts were written as they end) is measured on another day, once;
 *    baseline: the same day's figures computed in JavaScript from the jobs and timelines read back
 *    through the store.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import crypto from 'crypto';
import Fuse from 'fuse.js';
import { monitorEventLoopDelay } from 'perf_hooks';
import type { BenchRecord } from './types';
import { PlaceMatcher } from '../src/intake/matcher';
import { normalizeText } from '../src/intake/normalize';
import { makeCatalogue, makeQueries } from '../test/intake/fixture-places';
import { SqliteStore } from '../src/store';
import { IntakeDb } from '../src/intake/db';
import { SqliteExecutor } from '../src/intake/sql';
import { operationsReport, periodBounds } from '../src/reports/operations';
import { jobFacts, ENDED_STATES } from '../src/reports/job-facts';
import type { Delivery } from '../src/delivery/types';
import { pgSchema, type PgSchema } from '../test/intake/pg';
import { PgExecutor } from '../src/intake/pg-executor';
import { execFileSync } from 'child_process';
import { planDelivery } from '../planner';

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const rec = (name: string, value: number, unit: string, baseline: number, baselineName: string, note?: string): BenchRecord => ({ name, value, unit, baseline, ratio: baseline === 0 ? NaN : value / baseline, baselineName, ...(note ? { note } : {}) });
const JOBS = Number(process.env.INTAKE_BENCH_JOBS ?? 100_000);
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const DAYS = 30;

export async function run(): Promise<BenchRecord[]> {
  const out: BenchRecord[] = [];
  const log = (s: string) => process.stderr.write(`  intake: ${s}\n`);

  // ---- matching
  const { places, compounds } = makeCatalogue(1000, 3, 3);
  const json = JSON.stringify(places);
  let t = performance.now();
  JSON.parse(json);
  const parseMs = performance.now() - t;
  // Built in slices (as the service does): the event loop's longest wait is the figure that matters.
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  t = performance.now();
  const matcher = await PlaceMatcher.build(places);
  const buildMs = performance.now() - t;
  h.disable();
  const maxBlockMs = h.max / 1e6;
  t = performance.now();
  new PlaceMatcher(places);
  const syncBuildMs = performance.now() - t;
  const all = makeQueries(compounds, 5);
  const queries = Array.from({ length: 1000 }, (_, i) => all[(i * 7919) % all.length]);
  for (const q of queries.slice(0, 50)) matcher.match(q.text); // warm-up
  const times: number[] = [];
  let right = 0, positives = 0;
  for (const q of queries) {
    const t0 = performance.now();
    const m = matcher.match(q.text);
    times.push(performance.now() - t0);
    if (q.compoundId) (positives++, m.best && m.best.confidence >= 0.5 && m.best.compoundId === q.compoundId && right++);
  }
  // Baseline: every compound name and alias scored against the text with fuse.js, best score wins.
  const names = places.filter((p) => p.kind === 'compound').flatMap((p) => [p.name.zh, p.name.en, ...(p.aliases ?? [])].filter((s): s is string => !!s).map((n) => ({ id: p.id, key: normalizeText(n).trim() })));
  const naive: number[] = [];
  let naiveRight = 0;
  for (const q of queries.slice(0, 100)) {
    const t0 = performance.now();
    const text = normalizeText(q.text);
    let best = { id: '', s: 1 };
    for (const n of names) {
      if (n.key.length > 32) continue;
      const r = Fuse.match(n.key, text, { threshold: 0.34, ignoreLocation: true, isCaseSensitive: true });
      if (r.isMatch && r.score < best.s) best = { id: n.id, s: r.score };
    }
    naive.push(performance.now() - t0);
    if (q.compoundId && best.id === q.compoundId) naiveRight++;
  }
  log(`${places.length} places, ${queries.length} requests: median ${median(times).toFixed(3)} ms, p95 ${pct(times, 0.95).toFixed(3)} ms, recall ${(right / positives).toFixed(3)}; naive scan median ${median(naive).toFixed(1)} ms (right ${naiveRight}/100); index ${buildMs.toFixed(0)} ms`);
  out.push(rec('intake.match.median', median(times), 'ms', median(naive), 'fuse.js over every name (linear scan)', `goal ≤ 2 ms; ${places.length} places; recall ${(right / positives).toFixed(3)}`));
  out.push(rec('intake.match.p95', pct(times, 0.95), 'ms', pct(naive, 0.95), 'fuse.js over every name (linear scan)'));
  out.push(rec('intake.match.index-build', buildMs, 'ms', parseMs, 'JSON.parse of the catalogue', `${places.length} places, built in slices`));
  out.push(rec('intake.match.index-build.longest-block', maxBlockMs, 'ms', syncBuildMs, 'the whole index built in one go', 'event loop delay while the index is built in slices'));

  // ---- daily report over 100,000 jobs (SQLite)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-bench-report-'));
  // The synchronous SQLite store itself: seeding 100,000 jobs in one transaction.
  const store = new SqliteStore({ dataDir: dir });
  try {
    const db = new IntakeDb(new SqliteExecutor(store.db));
    t = performance.now();
    const insReq = store.db.prepare(
      "INSERT INTO intake_requests (id, seq, status_hash, source, received_at, updated_at, compound_id, place_id, priority, state, delivery_id, lang) VALUES (?, ?, ?, 'bench', ?, ?, ?, ?, 'normal', 'triaged', ?, 'zh-CN')",
    );
    // The facts row each ended job gets as it ends (the same values recordJobFacts writes).
    const insFacts = store.db.prepare(`INSERT INTO report_job_facts (${FACT_COLUMNS.join(', ')}) VALUES (${FACT_COLUMNS.map(() => '?').join(', ')})`);
    store.db.transaction(() => {
      for (let i = 0; i < JOBS; i++) {
        const { d, events, request } = benchJob(i);
        store.insertDelivery(d, i + 1, events);
        if (request) insReq.run(`R${i}`, i + 1, crypto.randomBytes(8).toString('hex'), request.receivedAt, d.createdAt, request.compound, request.compound, d.id);
        if (hasFacts(d)) insFacts.run(...factsRow(d, events, request));
      }
    })();
    log(`seeded ${JOBS} jobs in ${(performance.now() - t).toFixed(0)} ms`);
    store.db.exec('ANALYZE');
    const q = { from: '2026-03-15', to: '2026-03-15', tzOffsetMin: 480 };
    // The first report of a day: its ended jobs' facts were written as they ended.
    // CPU time of this process beside the wall clock: on SQLite the report runs in this thread, so on a
    // machine shared with other work the CPU figure is what the report itself costs.
    const cpuMs = (c: NodeJS.CpuUsage) => { const u = process.cpuUsage(c); return (u.user + u.system) / 1000; };
    let c0 = process.cpuUsage();
    let t1 = performance.now();
    await operationsReport(db.sql, q);
    const firstMs = performance.now() - t1;
    const firstCpuMs = cpuMs(c0);
    // A day of jobs that ended before their facts were written as they end: the report backfills them (once).
    t1 = performance.now();
    await operationsReport(db.sql, BACKFILL_DAY);
    const backfillMs = performance.now() - t1;
    const dayRuns: number[] = [];
    let rep;
    const dayCpu: number[] = [];
    for (let k = 0; k < 7; k++) {
      c0 = process.cpuUsage();
      const t0 = performance.now();
      rep = await operationsReport(db.sql, q);
      dayRuns.push(performance.now() - t0);
      dayCpu.push(cpuMs(c0));
    }
    t1 = performance.now();
    await operationsReport(db.sql, { from: '2026-02-28', to: '2026-03-31', tzOffsetMin: 480 });
    const periodFirstMs = performance.now() - t1;
    const periodRuns: number[] = [];
    const periodCpu: number[] = [];
    for (let k = 0; k < 3; k++) {
      c0 = process.cpuUsage();
      const t0 = performance.now();
      await operationsReport(db.sql, { from: '2026-02-28', to: '2026-03-31', tzOffsetMin: 480 });
      periodRuns.push(performance.now() - t0);
      periodCpu.push(cpuMs(c0));
    }
    // Baseline: the same day's jobs read back through the store (documents and timelines) and the figures computed in JavaScript.
    const { fromIso, toIso } = periodBounds(q);
    const base: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      const rows = store.db.prepare('SELECT id FROM deliveries WHERE created_at >= ? AND created_at < ? AND training = 0').all(fromIso, toIso) as Array<{ id: string }>;
      const durs: number[] = [];
      let within = 0;
      for (const r of rows) {
        const d = store.getDelivery(r.id)!;
        const dropped = d.timeline.find((e) => e.state === 'delivered');
        if (!dropped) continue;
        durs.push((Date.parse(dropped.at) - Date.parse(d.createdAt)) / 1000);
        if (Date.parse(dropped.at) <= Date.parse(d.promiseBy)) within++;
      }
      durs.sort((a, b) => a - b);
      void within;
      base.push(performance.now() - t0);
    }
    log(`daily report (${rep!.totals.jobs} jobs that day, ${JOBS} in the store): first ${firstMs.toFixed(0)} ms (CPU ${firstCpuMs.toFixed(0)} ms), then median ${median(dayRuns).toFixed(1)} ms (CPU ${median(dayCpu).toFixed(1)} ms); a day backfilled ${backfillMs.toFixed(0)} ms; 30-day report first ${periodFirstMs.toFixed(0)} ms, median ${median(periodRuns).toFixed(0)} ms (CPU ${median(periodCpu).toFixed(0)} ms); JS baseline ${median(base).toFixed(0)} ms; load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    out.push(rec('intake.report.day.sqlite', median(dayRuns), 'ms', median(base), 'same day read through the store, figures in JS (totals only)', `goal ≤ 200 ms; ${rep!.totals.jobs} jobs that day, ${JOBS} in the store`));
    out.push(rec('intake.report.day.sqlite.first', firstMs, 'ms', median(base), 'same day read through the store, figures in JS (totals only)', 'goal ≤ 200 ms; first report of the day (facts written as the jobs ended)'));
    out.push(rec('intake.report.day.sqlite.cpu', median(dayCpu), 'ms', median(dayRuns), 'the same runs, wall clock', 'CPU time of the report (SQLite runs in this thread): the cost without other work on the machine'));
    out.push(rec('intake.report.day.sqlite.backfill', backfillMs, 'ms', median(base), 'same day read through the store, figures in JS (totals only)', 'once per day of jobs that ended before their facts were written as they end'));
    out.push(rec('intake.report.30-days.sqlite', median(periodRuns), 'ms', median(base), 'one day read through the store, figures in JS (totals only)', `${JOBS} jobs in the period`));
    out.push(rec('intake.report.30-days.sqlite.cpu', median(periodCpu), 'ms', median(periodRuns), 'the same runs, wall clock', 'CPU time of the 30-day report (SQLite runs in this thread)'));
    out.push(rec('intake.report.30-days.sqlite.first', periodFirstMs, 'ms', median(base), 'one day read through the store, figures in JS (totals only)', `${JOBS} jobs; first report of the period`));
    out.push(...(await pgReport(log, q, median(dayRuns))));
  } finally {
    store.close();
    if (process.env.INTAKE_BENCH_KEEP) log(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const day0 = Date.parse('2026-03-01T00:00:00Z');
/** The day whose jobs have no facts rows (ended before the rows were written as jobs end). */
const BACKFILL_DAY = { from: '2026-03-20', to: '2026-03-20', tzOffsetMin: 480 };
const BACKFILL = periodBounds(BACKFILL_DAY);
const hasFacts = (d: Delivery) => (ENDED_STATES as readonly string[]).includes(d.state) && !(d.createdAt >= BACKFILL.fromIso && d.createdAt < BACKFILL.toIso);
const FACT_COLUMNS = ['delivery_id', 'site', 'promise_by', 'failure_code', 'reason', 'created_at', 'dropped_at', 'asked_at', 'compound', 'wait_s', 'within_promise'];
/** The facts row recordJobFacts writes as job d ends: what it reads from the job, then from its timeline and request. */
function factsRow(d: Delivery, events: Array<{ at: string; state: string }>, request: { receivedAt: string; compound: string } | null): unknown[] {
  const { site, promiseBy, failureCode, reason } = jobFacts(d);
  const dropped = events.find((e) => e.state === 'delivered')?.at ?? null;
  const asked = request?.receivedAt ?? d.createdAt;
  const wait = dropped === null ? null : (Date.parse(dropped) - Date.parse(asked)) / 1000;
  const within = dropped !== null && promiseBy !== null && Date.parse(dropped) <= Date.parse(promiseBy) ? 1 : 0;
  return [d.id, site, promiseBy, failureCode, reason, d.createdAt, dropped, asked, request?.compound ?? null, wait, within];
}
const SITES = ['Police Post 1', 'Fire Station 2', 'Clinic 3'];
const PRIOS = ['urgent', 'high', 'normal'] as const;
/** A real plan (demo zones) in every job document, as the service stores it: about 12 kB of JSON per job. */
const PLAN = planDelivery(JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'planner', 'fixtures', 'demo-zones.geojson'), 'utf8')), { drop: [114.402, 34.0675] });

/** Job i of the bench: spread over DAYS days; 90 % delivered 5–24 min after creation, the rest failed or aborted; half from a request. */
function benchJob(i: number): { d: Delivery; events: Array<{ at: string; state: 'requested' | 'delivered' }>; request: { receivedAt: string; compound: string } | null } {
  const created = day0 + Math.floor((i / JOBS) * DAYS * 86_400_000);
  const id = `D${String(i + 1).padStart(6, '0')}`;
  const delivered = i % 10 !== 0;
  const failed = i % 10 === 0 && i % 20 === 0;
  const state = delivered ? 'completed' : failed ? 'failed' : 'aborted';
  const drop = created + (5 + (i % 20)) * 60_000;
  const d = {
    id, state, priority: PRIOS[i % 3], drop: [114.4, 34.06], launch: { name: SITES[i % 3], lon: 114.39, lat: 34.06 }, payload: { description: 'medicine' }, requester: { name: 'r' },
    createdAt: new Date(created).toISOString(), updatedAt: new Date(drop).toISOString(), promiseBy: new Date(created + 15 * 60_000).toISOString(), vehicleId: `sim${i % 12}/1`,
    ...(failed ? { failure: { code: 'PREFLIGHT_FAILED', message: 'battery low' } } : !delivered ? { abortReason: 'resident not home' } : {}), plan: PLAN, timeline: [],
  } as unknown as Delivery;
  const events = [{ at: d.createdAt, state: 'requested' as const }, ...(delivered ? [{ at: new Date(drop).toISOString(), state: 'delivered' as const }] : [])];
  return { d, events, request: i % 2 === 0 ? { receivedAt: new Date(created - 60_000).toISOString(), compound: `c${i % 500}` } : null };
}

/** The same jobs in PostgreSQL (a schema of its own, dropped afterwards), the same daily report. Skipped when no server answers. */
async function pgReport(log: (s: string) => void, q: { from: string; to: string; tzOffsetMin: number }, sqliteDayMs: number): Promise<BenchRecord[]> {
  let pg: PgSchema;
  try {
    pg = await pgSchema('bench');
  } catch (e) {
    log(`PostgreSQL not reachable (${(e as Error).message}): its figure is left out`);
    return [];
  }
  try {
    const t0 = performance.now();
    const BATCH = 1000;
    for (let s = 0; s < JOBS; s += BATCH) {
      const jobs = Array.from({ length: Math.min(BATCH, JOBS - s) }, (_, k) => benchJob(s + k));
      const dv: unknown[] = [], ev: unknown[] = [], rq: unknown[] = [], fv: unknown[] = [];
      const dRows: string[] = [], eRows: string[] = [], rRows: string[] = [], fRows: string[] = [];
      let n = 0, m = 0, r = 0, f = 0;
      for (const [k, { d, events, request }] of jobs.entries()) {
        const { timeline: _t, ...doc } = d;
        dRows.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6}, $${n + 7}, $${n + 8}, $${n + 9}, 0)`);
        dv.push(d.id, s + k + 1, d.state, d.priority, PRIOS.indexOf(d.priority), d.vehicleId, d.createdAt, d.updatedAt, JSON.stringify(doc));
        n += 9;
        for (const e of events) (eRows.push(`($${m + 1}, $${m + 2}, $${m + 3})`), ev.push(d.id, e.at, e.state), (m += 3));
        if (hasFacts(d)) {
          fRows.push(`(${FACT_COLUMNS.map((_, c) => `$${f + c + 1}`).join(', ')})`);
          fv.push(...factsRow(d, events, request));
          f += FACT_COLUMNS.length;
        }
        if (request) (rRows.push(`($${r + 1}, $${r + 2}, $${r + 3}, 'bench', $${r + 4}, $${r + 5}, $${r + 6}, $${r + 7}, 'normal', 'triaged', $${r + 8}, 'zh-CN')`), rq.push(`R${s + k}`, s + k + 1, crypto.randomBytes(8).toString('hex'), request.receivedAt, d.createdAt, request.compound, request.compound, d.id), (r += 8));
      }
      await pg.pool.query(`INSERT INTO deliveries (id, seq, state, priority, priority_rank, vehicle_id, created_at, updated_at, doc, training) VALUES ${dRows.join(', ')}`, dv);
      await pg.pool.query(`INSERT INTO delivery_events (delivery_id, at, state) VALUES ${eRows.join(', ')}`, ev);
      if (fRows.length) await pg.pool.query(`INSERT INTO report_job_facts (${FACT_COLUMNS.join(', ')}) VALUES ${fRows.join(', ')}`, fv);
      if (rRows.length) await pg.pool.query(`INSERT INTO intake_requests (id, seq, status_hash, source, received_at, updated_at, compound_id, place_id, priority, state, delivery_id, lang) VALUES ${rRows.join(', ')}`, rq);
    }
    await pg.pool.query('CREATE INDEX delivery_events_state ON delivery_events(state, delivery_id)').catch(() => undefined);
    await pg.pool.query('ANALYZE');
    log(`PostgreSQL: seeded ${JOBS} jobs in ${(performance.now() - t0).toFixed(0)} ms`);
    // The reports on one connection of their own, so that the CPU time of the server process that runs
    // them can be read beside the wall clock (when the server runs on this machine; Linux /proc).
    const client = await pg.pool.connect();
    try {
      const sqlPg = new PgExecutor(client);
      const pid = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
      const serverCpuMs = (): number | null => {
        try {
          const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
          return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
        } catch {
          return null;
        }
      };
      const timed = async (qq: typeof q) => {
        const s0 = serverCpuMs(), c0 = process.cpuUsage(), t0 = performance.now();
        await operationsReport(sqlPg, qq);
        const wall = performance.now() - t0, c = process.cpuUsage(c0), s1 = serverCpuMs();
        return { wall, cpu: s0 === null || s1 === null ? null : s1 - s0 + (c.user + c.system) / 1000 };
      };
      const first = await timed(q);
      const backfill = await timed(BACKFILL_DAY);
      const runs: Array<{ wall: number; cpu: number | null }> = [];
      for (let k = 0; k < 7; k++) runs.push(await timed(q));
      // The server's CPU time is counted in clock ticks (10 ms): the mean over the runs, not each run's.
      const cpuMean = runs.every((r) => r.cpu !== null) ? runs.reduce((x, r) => x + r.cpu!, 0) / runs.length : null;
      const cpuText = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(0)} ms`);
      log(
        `PostgreSQL daily report: first ${first.wall.toFixed(0)} ms (CPU ${cpuText(first.cpu)}), then median ${median(runs.map((r) => r.wall)).toFixed(1)} ms (CPU mean ${cpuText(cpuMean)}); a day backfilled ${backfill.wall.toFixed(0)} ms (CPU ${cpuText(backfill.cpu)}); CPU = server process + this one; load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
      );
      const dayMs = median(runs.map((r) => r.wall));
      return [
        rec('intake.report.day.postgres', dayMs, 'ms', sqliteDayMs, 'the same report on SQLite', `goal ≤ 200 ms; ${JOBS} jobs in the database`),
        rec('intake.report.day.postgres.first', first.wall, 'ms', sqliteDayMs, 'the same report on SQLite', 'goal ≤ 200 ms; first report of the day (facts written as the jobs ended)'),
        ...(cpuMean === null ? [] : [rec('intake.report.day.postgres.cpu', cpuMean, 'ms', dayMs, 'the same runs, wall clock', 'CPU time of the server process running the report plus this process: the cost without other work on the machine')]),
        rec('intake.report.day.postgres.backfill', backfill.wall, 'ms', sqliteDayMs, 'the same report on SQLite', 'once per day of jobs that ended before their facts were written as they end'),
      ];
    } finally {
      client.release();
    }
  } finally {
    if (process.env.INTAKE_BENCH_KEEP) log(`kept PostgreSQL schema ${pg.schema}`);
    else await pg.drop();
  }
}
