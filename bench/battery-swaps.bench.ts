/**
 * Battery swaps: what they add to the operations report and to every telemetry reading.
 *  - the report's per-vehicle rows (flights, flight hours, ended flights, battery cycles) over 50
 *    vehicles × 30 days with 12 flights and 12 swaps a vehicle a day (18,000 flights, 18,000 swaps
 *    seen in telemetry, 6,000 operator confirmations), for one day and for the 30 days, on SQLite
 *    (PostgreSQL too when it answers at DROPLINE_TEST_PG or 127.0.0.1:5432/test), against the same
 *    rows without battery cycles (the flights-only query the report ran before) in the same run;
 *  - the swap detector per battery reading (a fleet 'state' event), against applying the SYS_STATUS
 *    frame that carries the reading to the vehicle's state.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import type { BenchRecord } from './types';
import { SqliteStore } from '../src/store';
import { SqliteExecutor, sq, type SqlExecutor } from '../src/intake/sql';
import { periodBounds, vehicleReport } from '../src/reports/operations';
import { BatterySwapDetector, readingOf } from '../src/fleet/battery-swaps';
import { applyFrame, emptyState } from '../src/fleet/state';
import { pgSchema } from '../test/intake/pg';

const VEHICLES = 50;
const DAYS = 30;
const PER_DAY = 12;
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const log = (s: string) => process.stderr.write(`  battery-swaps: ${s}\n`);

/** The per-vehicle rows before battery cycles: flights only (the baseline). */
async function flightsOnly(sql: SqlExecutor, fromIso: string, toIso: string): Promise<unknown[]> {
  const d = sql.dialect;
  return sql.all(
    d.placeholders(`SELECT f.vehicle_id, COUNT(*) AS flights,
      SUM(CASE WHEN f.ended_at IS NULL THEN 0 ELSE ${d.epochS('f.ended_at')} - ${d.epochS('f.started_at')} END) AS seconds,
      COUNT(f.ended_at) AS ended
    FROM flights f LEFT JOIN deliveries d ON d.id = f.delivery_id
    WHERE f.started_at >= ? AND f.started_at < ? AND (d.id IS NULL OR d.training = 0)
    GROUP BY f.vehicle_id ORDER BY f.vehicle_id`),
    [fromIso, toIso],
  );
}

async function seed(sql: SqlExecutor): Promise<void> {
  const t0 = Date.parse('2026-03-01T00:00:00.000Z');
  const iso = (ms: number) => new Date(ms).toISOString();
  const ph = (x: string) => sql.dialect.placeholders(x);
  const rows = (n: number, row: string) => Array.from({ length: n }, () => row).join(', ');
  await sql.transaction(function* () {
    for (let v = 0; v < VEHICLES; v++)
      for (let day = 0; day < DAYS; day++) {
        const starts = Array.from({ length: PER_DAY }, (_, k) => t0 + day * 86_400_000 + k * 7_200_000 + v * 1000);
        yield sq.run(ph(`INSERT INTO flights (id, vehicle_id, state, started_at, ended_at) VALUES ${rows(PER_DAY, "(?, ?, 'ended', ?, ?)")}`), starts.flatMap((st, k) => [`F${v}-${day}-${k}`, `v${v}`, iso(st), iso(st + 1_500_000)]));
        yield sq.run(ph(`INSERT INTO battery_swaps (vehicle_id, at, source, from_pct, to_pct) VALUES ${rows(PER_DAY, "(?, ?, 'telemetry', 30, 100)")}`), starts.flatMap((st) => [`v${v}`, iso(st + 1_800_000)]));
        // Every third pack confirmed by an operator a minute later.
        const confirmed = starts.filter((_, k) => k % 3 === 0);
        yield sq.run(
          ph(`INSERT INTO battery_swaps (vehicle_id, at, source, username, confirms_id) VALUES ${rows(confirmed.length, "(?, ?, 'operator', 'op', (SELECT MAX(id) FROM battery_swaps WHERE vehicle_id = ? AND at = ?))")}`),
          confirmed.flatMap((st) => [`v${v}`, iso(st + 1_860_000), `v${v}`, iso(st + 1_800_000)]),
        );
      }
  });
}

async function measure(engine: string, sql: SqlExecutor): Promise<BenchRecord[]> {
  const out: BenchRecord[] = [];
  let t = performance.now();
  await seed(sql);
  log(`${engine}: seeded ${VEHICLES * DAYS * PER_DAY} flights and ${(VEHICLES * DAYS * PER_DAY * 4) / 3} swaps in ${(performance.now() - t).toFixed(0)} ms`);
  for (const [label, q] of [['day', { from: '2026-03-15', to: '2026-03-15', tzOffsetMin: 480 }], ['30-days', { from: '2026-03-01', to: '2026-03-30', tzOffsetMin: 480 }]] as const) {
    const { fromIso, toIso } = periodBounds(q);
    const rows = await vehicleReport(sql, fromIso, toIso);
    const cycles = rows.reduce((s, r) => s + r.batteryCycles, 0);
    for (let k = 0; k < 3; k++) (await vehicleReport(sql, fromIso, toIso), await flightsOnly(sql, fromIso, toIso)); // warm
    const withSwaps: number[] = [];
    const before: number[] = [];
    for (let k = 0; k < 15; k++) {
      t = performance.now();
      await vehicleReport(sql, fromIso, toIso);
      withSwaps.push(performance.now() - t);
      t = performance.now();
      await flightsOnly(sql, fromIso, toIso);
      before.push(performance.now() - t);
    }
    const m = median(withSwaps);
    const b = median(before);
    log(`${engine} ${label}: per-vehicle rows with battery cycles ${m.toFixed(2)} ms, flights only ${b.toFixed(2)} ms (${rows.length} vehicles, ${cycles} cycles)`);
    out.push({ name: `report.vehicles.${engine}.${label}.median`, value: m, unit: 'ms', baseline: b, ratio: m / b, baselineName: 'the same rows without battery cycles (flights only)', note: `${rows.length} vehicles, ${cycles} battery cycles counted` });
  }
  return out;
}

export async function run(): Promise<BenchRecord[]> {
  const out: BenchRecord[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-bench-battery-'));
  const store = new SqliteStore({ dataDir: dir });
  try {
    out.push(...(await measure('sqlite', new SqliteExecutor(store.db))));
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  let pg: Awaited<ReturnType<typeof pgSchema>> | null = null;
  try {
    pg = await pgSchema('bench_battery');
  } catch (e) {
    log(`PostgreSQL not reachable (${(e as Error).message}): SQLite only`);
  }
  if (pg)
    try {
      await pg.pool.query('ANALYZE');
      out.push(...(await measure('postgres', pg.sql)));
    } finally {
      await pg.drop();
    }

  // The detector per reading, against applying the SYS_STATUS frame that carries it.
  const N = 1_000_000;
  const states = Array.from({ length: VEHICLES }, (_, v) => emptyState(`sim${v}`, 1, 1));
  const frames = Array.from({ length: 100 }, (_, k) => ({
    version: 2, seq: k, sysid: 1, compid: 1, msgid: 1, name: 'SYS_STATUS', signed: false, raw: Buffer.alloc(0),
    data: { onboardControlSensorsPresent: 0, onboardControlSensorsHealth: 0, voltageBattery: 24000, currentBattery: 100, batteryRemaining: k % 50 === 0 ? 100 : 80 - (k % 50) },
  })) as any[];
  for (const s of states) applyFrame(s, frames[1], 0);
  const detector = new BatterySwapDetector();
  let swaps = 0;
  const observe = () => {
    for (let i = 0; i < N; i++) {
      const s = states[i % VEHICLES];
      if (detector.observe(readingOf(s, i), 60)) swaps++;
    }
  };
  const apply = () => {
    for (let i = 0; i < N; i++) applyFrame(states[i % VEHICLES], frames[(i / VEHICLES) % 100 | 0], i);
  };
  observe(), apply(); // warm
  const obs: number[] = [];
  const app: number[] = [];
  for (let k = 0; k < 5; k++) {
    let t = performance.now();
    apply();
    app.push(performance.now() - t);
    t = performance.now();
    observe();
    obs.push(performance.now() - t);
  }
  const o = (median(obs) * 1e6) / N;
  const a = (median(app) * 1e6) / N;
  log(`detector ${o.toFixed(1)} ns a reading, applying SYS_STATUS ${a.toFixed(1)} ns (${swaps} swaps seen while warming and measuring)`);
  out.push({ name: 'battery-swaps.detector.per-reading', value: o, unit: 'ns', baseline: a, ratio: o / a, baselineName: 'applying the SYS_STATUS frame to the state', note: `${VEHICLES} vehicles, ${N} readings a run` });
  return out;
}
