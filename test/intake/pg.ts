/**
 * A PostgreSQL schema of its own for a test (dropped afterwards): the store's tables that the
 * intake and report SQL read (deliveries, delivery_events, flights, as in src/store/migrations.ts,
 * in PostgreSQL types), then migrations 7 and 8 exactly as the SQLite store runs them.
 */
import { BATTERY_SWAPS_MIGRATION } from '../../src/store/battery-swaps-migration'; // migration 9, append-only trigger included
import { Pool } from 'pg';
import { INTAKE_MIGRATION } from '../../src/intake/migration';
import { REPORT_FACTS_MIGRATION } from '../../src/reports/migration';
import { PgExecutor } from '../../src/intake/pg-executor';

export const PG_URL = process.env.DROPLINE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

const STORE_TABLES = `
CREATE TABLE deliveries (
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, state TEXT NOT NULL, priority TEXT NOT NULL, priority_rank INTEGER NOT NULL,
  vehicle_id TEXT, flight_id TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, doc TEXT NOT NULL, training INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE delivery_events (id BIGSERIAL PRIMARY KEY, delivery_id TEXT NOT NULL REFERENCES deliveries(id), at TEXT NOT NULL, state TEXT, event TEXT, detail TEXT);
CREATE INDEX delivery_events_delivery ON delivery_events(delivery_id, id);
CREATE TABLE flights (
  id TEXT PRIMARY KEY, delivery_id TEXT REFERENCES deliveries(id), vehicle_id TEXT NOT NULL, state TEXT NOT NULL, started_at TEXT NOT NULL,
  ended_at TEXT, tlog_path TEXT, summary TEXT NOT NULL DEFAULT '{}'
);
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation'; END $$;
${BATTERY_SWAPS_MIGRATION.pg}`;

export interface PgSchema {
  schema: string;
  pool: Pool;
  sql: PgExecutor;
  drop(): Promise<void>;
}

export async function pgSchema(prefix: string): Promise<PgSchema> {
  const schema = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  const admin = new Pool({ connectionString: PG_URL, max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const pool = new Pool({ connectionString: PG_URL, max: 4, options: `-c search_path=${schema}` });
  await pool.query(STORE_TABLES);
  await pool.query(INTAKE_MIGRATION.sql);
  await pool.query(REPORT_FACTS_MIGRATION.pg);
  return {
    schema,
    pool,
    sql: new PgExecutor(pool),
    async drop() {
      await pool.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
      await pool.end();
    },
  };
}
