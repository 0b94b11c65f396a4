/**
 * The PostgreSQL store (`--store postgres://HOST:5432/DB`): what several service nodes share.
 *
 * A pool of connections; each operation is one statement or one transaction of its own, and `tx`
 * holds one connection for a caller's transaction. The schema is migrated at open (migrations.ts,
 * `pg` of each entry) under a lock, so nodes starting together migrate once. `?schema=NAME` in the
 * URL keeps the tables in that schema (created if missing): tests use one each.
 */
import pg from 'pg';
import { MIGRATIONS } from './migrations';
import { postgresJobLeases } from './job-leases';
import { listenForZones, ZONES_CHANNEL } from './postgres-notify';
import { PgOps, type Query } from './postgres-ops';
import type { Store, StoreOps } from './store';

/** BIGINT (identity columns, counts, milliseconds) as numbers, as SQLite gives them. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

/** The connection settings of a store URL, and the schema it names (`?schema=`), if any. */
export function parseStoreUrl(url: string): { connectionString: string; schema: string | null } {
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw Object.assign(new Error(`schema must be a lower-case SQL identifier: ${JSON.stringify(schema)}`), { code: 'INVALID_STORE_URL' });
  return { connectionString: u.toString(), schema };
}

async function migrate(pool: pg.Pool, schema: string | null): Promise<number> {
  const missing = MIGRATIONS.filter((m) => m.pg === undefined).map((m) => m.version);
  if (missing.length) throw Object.assign(new Error(`migrations without a PostgreSQL version: ${missing.join(', ')}`), { code: 'MIGRATION_MISSING' });
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    // One node migrates at a time; the others find the work done.
    await c.query("SELECT pg_advisory_xact_lock(hashtext('dropline.migrate'))");
    if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    await c.query('COMMIT');
    for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
      await c.query('BEGIN');
      try {
        await c.query("SELECT pg_advisory_xact_lock(hashtext('dropline.migrate'))");
        const done = await c.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
        if (done.rowCount === 0) {
          await c.query(m.pg!);
          await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
        }
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw Object.assign(new Error(`migration ${m.version} (${m.name}) failed: ${(e as Error).message}`), { code: 'MIGRATION_FAILED', cause: e });
      }
    }
    return (await c.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations')).rows[0].v;
  } finally {
    c.release();
  }
}

export async function postgresStore(url: string, opts: { max?: number } = {}): Promise<Store> {
  const { connectionString, schema } = parseStoreUrl(url);
  const pool = new pg.Pool({ connectionString, types, max: opts.max ?? 10, options: schema ? `-c search_path=${schema}` : undefined });
  // An idle connection that breaks (a database restart) is dropped by the pool; it must not crash the process.
  pool.on('error', () => undefined);
  let schemaVersion: number;
  try {
    schemaVersion = await migrate(pool, schema);
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
  const listeners = new Set<(version: number) => void>();
  /** Versions this node saved: told at once, and not again when their NOTIFY comes back. */
  const savedHere = new Set<number>();
  /**
   * The newest version told: listeners hear versions in increasing order only. Another node's NOTIFY
   * is sent after its save returns, so it can arrive after this node saved a newer version; the older
   * one is then superseded (every listener loads the latest zones) and is not told.
   */
  let newestTold = 0;
  const tell = (version: number) => {
    if (version <= newestTold) return;
    newestTold = version;
    for (const fn of listeners) {
      try {
        fn(version);
      } catch {
        /* a listener's failure is not the writer's */
      }
    }
  };
  const zonesSaved = (version: number) => {
    savedHere.add(version);
    tell(version);
    // Other nodes hear of it too (after the commit: a notification is sent when its transaction commits).
    pool.query('SELECT pg_notify($1, $2)', [ZONES_CHANNEL, `${schemaName}:${version}`]).catch(() => undefined);
  };
  const schemaName = schema ?? 'public';
  const zonesHeard = listenForZones(connectionString, schemaName, (version) => {
    if (!savedHere.delete(version)) tell(version);
  });
  await zonesHeard.ready;

  const transaction = async <T>(fn: (t: PgOps) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    let broken = false;
    try {
      await c.query('BEGIN');
      const q: Query = async (sql, params) => (await c.query(sql, params as unknown[])).rows;
      const inTx: PgOps = new PgOps(q, (f) => f(inTx), zonesSaved);
      const r = await fn(inTx);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => (broken = true));
      throw e;
    } finally {
      c.release(broken);
    }
  };
  const poolQuery: Query = async (sql, params) => (await pool.query(sql, params as unknown[])).rows;
  const ops = new PgOps(poolQuery, transaction, zonesSaved);
  await poolQuery('DELETE FROM sessions WHERE expires_ms < $1', [Date.now()]);

  // The operations are the prototype methods of PgOps, bound to the pool.
  const store = Object.create(ops) as Store & PgOps;
  return Object.assign(store, {
    kind: 'postgres' as const,
    schemaVersion,
    db: undefined,
    pgPool: pool,
    leases: postgresJobLeases({ connectionString, schema }),
    tx: <T>(fn: (t: StoreOps) => Promise<T>) => transaction(fn),
    onZonesSaved(fn: (version: number) => void) {
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },
    async close() {
      await store.leases.close();
      await zonesHeard.close();
      if (!pool.ended && !pool.ending) await pool.end();
    },
  });
}
