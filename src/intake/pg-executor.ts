/**
 * The SqlExecutor on PostgreSQL (node-postgres pool): the same intake and report SQL, `?` turned
 * into $n by the dialect. Numeric aggregates come back as strings from pg (bigint, numeric): the
 * callers convert with Number().
 */
import type { Pool, PoolClient } from 'pg';
import { POSTGRES } from './dialect';
import type { SqlExecutor } from './sql';

export class PgExecutor implements SqlExecutor {
  readonly dialect = POSTGRES;
  constructor(private readonly db: Pool | PoolClient) {}

  async all<T>(sql: string, args: unknown[] = []): Promise<T[]> {
    return (await this.db.query(POSTGRES.placeholders(sql), args as unknown[])).rows as T[];
  }
  async run(sql: string, args: unknown[] = []): Promise<{ changes: number }> {
    return { changes: (await this.db.query(POSTGRES.placeholders(sql), args as unknown[])).rowCount ?? 0 };
  }
  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (!('connect' in this.db) || typeof (this.db as Pool).totalCount !== 'number') return fn(this);
    const client = await (this.db as Pool).connect();
    try {
      await client.query('BEGIN');
      const r = await fn(new PgExecutor(client));
      await client.query('COMMIT');
      return r;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }
}
