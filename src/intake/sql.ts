/**
 * A small asynchronous SQL executor: what src/intake and src/reports need from a database. The
 * SQLite implementation runs on the better-sqlite3 handle the store already opens; a PostgreSQL one
 * implements the same three methods over a pool (placeholders through the dialect).
 */
import type Database from 'better-sqlite3';
import { SQLITE, type SqlDialect } from './dialect';

/** One statement of a transaction body (see `SqlExecutor.transaction`). */
export interface Stmt {
  kind: 'all' | 'run';
  sql: string;
  args: unknown[];
}
/** Statements for transaction bodies: `const rows = yield sq.all(…)`, `const { changes } = yield sq.run(…)`. */
export const sq = {
  all: (sql: string, args: unknown[] = []): Stmt => ({ kind: 'all', sql, args }),
  run: (sql: string, args: unknown[] = []): Stmt => ({ kind: 'run', sql, args }),
};
/**
 * A transaction body: a generator that yields its statements and is given each one's result (rows
 * for `all`, `{ changes }` for `run`). It does nothing else that waits: on SQLite the whole body runs
 * synchronously inside one better-sqlite3 transaction, so no other code can write on the store's
 * shared connection between its statements (an `async` body could let another code path's writes
 * into the transaction at each await, to be committed or rolled back with it).
 */
export type TxBody<T> = Generator<Stmt, T, any>;

export interface SqlExecutor {
  readonly dialect: SqlDialect;
  all<T = Record<string, unknown>>(sql: string, args?: unknown[]): Promise<T[]>;
  run(sql: string, args?: unknown[]): Promise<{ changes: number }>;
  /** Runs the body's statements in one transaction; rolled back if the body or a statement throws. */
  transaction<T>(body: () => TxBody<T>): Promise<T>;
}

export class SqliteExecutor implements SqlExecutor {
  readonly dialect = SQLITE;
  private readonly cache = new Map<string, Database.Statement>();
  constructor(private readonly db: Database.Database) {}

  private stmt(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.cache.size > 500) this.cache.clear();
      this.cache.set(sql, s);
    }
    return s;
  }
  private exec(x: Stmt): unknown {
    return x.kind === 'all' ? this.stmt(x.sql).all(...x.args) : { changes: this.stmt(x.sql).run(...x.args).changes };
  }
  async all<T>(sql: string, args: unknown[] = []): Promise<T[]> {
    return this.stmt(sql).all(...args) as T[];
  }
  async run(sql: string, args: unknown[] = []): Promise<{ changes: number }> {
    return { changes: this.stmt(sql).run(...args).changes };
  }
  /** Synchronous, start to end, in better-sqlite3's transaction (BEGIN IMMEDIATE; a savepoint when nested). */
  async transaction<T>(body: () => TxBody<T>): Promise<T> {
    return this.db
      .transaction(() => {
        const g = body();
        let r = g.next();
        while (!r.done) r = g.next(this.exec(r.value));
        return r.value;
      })
      .immediate();
  }
}
