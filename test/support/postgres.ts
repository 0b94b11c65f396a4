/**
 * PostgreSQL for the store tests: PG_URL, or postgres://postgres@127.0.0.1:5432/test (trust auth).
 * `pgSuite` runs a suite when the server answers; otherwise one failing test when CI=true, or a
 * skipped suite with the reason printed.
 *
 * Each test takes a fresh schema of its own (`freshSchema()`: the store URL with `?schema=`), dropped
 * afterwards, so files running at once on one server never see each other's rows.
 */
import { execFileSync } from 'child_process';
import { randomBytes } from 'crypto';
import pg from 'pg';

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Why PostgreSQL cannot be used here, or null when it can (checked once, synchronously). */
export function pgProblem(): string | null {
  const probe = `
    const { Client } = require('pg');
    const c = new Client({ connectionString: ${JSON.stringify(PG_URL)}, connectionTimeoutMillis: 3000 });
    c.connect().then(() => c.query('SELECT 1')).then(() => { console.log('ok'); return c.end(); }, (e) => { console.log(e.code || e.message); process.exit(1); });`;
  try {
    const out = execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 8000, cwd: __dirname }).trim();
    return out === 'ok' ? null : out;
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e).trim() || 'no answer';
  }
}

let checked: string | null | undefined;

/** Whether PostgreSQL answers (for suites that also run without it). */
export function pgAvailable(): boolean {
  if (checked === undefined) checked = pgProblem();
  return checked === null;
}

/** `describe` for tests that need PostgreSQL. */
export function pgSuite(name: string, fn: () => void): void {
  if (pgAvailable()) {
    describe(name, fn);
    return;
  }
  const why = `no PostgreSQL at ${PG_URL} (${checked}). Start one on loopback with trust auth and a database "test", or set PG_URL`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs PostgreSQL', () => {
        throw new Error(`PostgreSQL tests cannot run in CI: ${why}`);
      });
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`SKIPPED PostgreSQL tests "${name}": ${why}`);
  describe.skip(name, () => {
    it('needs PostgreSQL', () => undefined);
  });
}

export interface TestSchema {
  /** Store URL (`--store`) naming the schema. */
  url: string;
  schema: string;
  /** Run SQL directly in the schema (outside the store): what a person with a database client could try. */
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Drop the schema and everything in it. */
  drop(): Promise<void>;
}

/** A new, empty schema of this test's own. */
export function freshSchema(): TestSchema {
  const schema = `dltest_${randomBytes(6).toString('hex')}`;
  const u = new URL(PG_URL);
  u.searchParams.set('schema', schema);
  const sql = async (text: string, params?: unknown[]) => {
    const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      return await c.query(text, params);
    } finally {
      await c.end();
    }
  };
  return { url: u.toString(), schema, sql, drop: async () => void (await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)) };
}
