/**
 * The SqlExecutor on PostgreSQL (node-postgres pool): the same intake and report SQL, `?` turned
 * into $n by the dialect. Numeric aggregates come back as strings from pg (bigint, numeric): the
 * callers convert with Number().
 */
import type { Pool, PoolClient } from 'pg';
import { POSTGRES } from './dialect';
import type { SqlExecutor, Stmt, TxBody } from './sql';

export class PgExecutor implements SqlExecutor {
  readonly dialect = POSTGRES;
  constructor(private readonly db: Pool | PoolClient) {}

  async all<T>(sql: string, args: unknown[] = []): Promise<T[]> {
    return (await this.db.query(POSTGRES.placeholders(sql), args as unknown[])).rows as T[];
  }
  async run(sql: string, args: unknown[] = []): Promise<{ changes: number }> {
    return { changes: (await this.db.query(POSTGRES.placeholders(sql), args as unknown[])).rowCount ?? 0 };
  }
  private async exec(db: Pool | PoolClient, x: Stmt): Promise<unknown> {
    const r = await db.query(POSTGRES.placeholders(x.sql), x.args as unknown[]);
    return x.kind === 'all' ? r.rows : { changes: r.rowCount ?? 0 };
  }
  /** On a connection of its own from the pool (BEGIN … COMMIT); on a client, inside whatever transaction it is in. */
  async transaction<T>(body: () => TxBody<T>): Promise<T> {
    const drive = async (db: Pool | PoolClient) => {
      const g = body();
      let r = g.next();
      while (!r.done) r = g.next(await this.exec(db, r.value));
      return r.value;
    };
    if (!('connect' in this.db) || typeof (this.db as Pool).totalCount !== 'number') return drive(this.db);
    const client = await (this.db as Pool).connect();
    try {
      await client.query('BEGIN');
      const r = await drive(client);
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
