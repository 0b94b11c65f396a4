/**
 * A small asynchronous SQL executor: what src/intake and src/reports need from a database. The
 * SQLite implementation runs on the better-sqlite3 handle the store already opens; a PostgreSQL one
 * implements the same three methods over a pool (placeholders through the dialect).
 */
import type Database from 'better-sqlite3';
import { SQLITE, type SqlDialect } from './dialect';

export interface SqlExecutor {
  readonly dialect: SqlDialect;
  all<T = Record<string, unknown>>(sql: string, args?: unknown[]): Promise<T[]>;
  run(sql: string, args?: unknown[]): Promise<{ changes: number }>;
  /** Runs fn inside one transaction (fn's statements go through the executor it is given). */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

export class SqliteExecutor implements SqlExecutor {
  readonly dialect = SQLITE;
  private readonly cache = new Map<string, Database.Statement>();
  private depth = 0;
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
  async all<T>(sql: string, args: unknown[] = []): Promise<T[]> {
    return this.stmt(sql).all(...args) as T[];
  }
  async run(sql: string, args: unknown[] = []): Promise<{ changes: number }> {
    return { changes: this.stmt(sql).run(...args).changes };
  }
  /**
   * better-sqlite3 transactions are synchronous; an async body is bracketed by BEGIN/COMMIT
   * instead. Bodies must not await anything but this executor (nothing else can interleave on
   * the one connection between the statements, as no other code runs between them).
   */
  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.depth > 0) return fn(this);
    this.db.exec('BEGIN IMMEDIATE');
    this.depth++;
    try {
      const r = await fn(this);
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    } finally {
      this.depth--;
    }
  }
}
