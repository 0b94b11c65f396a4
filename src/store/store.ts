/**
 * The store as the service sees it: every method returns a Promise, whatever the engine.
 *
 * The operations are those of the SQLite store (src/store/index.ts, the reference: its methods'
 * argument and result types are this interface's); the PostgreSQL store (postgres.ts) implements
 * each of them. A method added to the SQLite store is therefore part of the interface at once, and
 * the PostgreSQL store fails to compile until it has it too.
 *
 * Atomicity: each operation is atomic on its own. A read followed by a write that depends on it
 * goes in `tx` (with `lockDelivery` first when it rewrites a job), so that neither another request
 * of this process nor another node sharing the database can slip in between.
 */
import type Database from 'better-sqlite3';
import type { SqliteStore } from './index';
import type { JobLeases } from './job-leases';

/** Members of the SQLite store that are not operations (or stay synchronous). */
type NotOperations = 'db' | 'file' | 'schemaVersion' | 'close' | 'onZonesSaved';

type Async<T> = {
  [K in keyof T as T[K] extends (...a: any[]) => any ? K : never]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never;
};

/** What may be done inside a transaction (everything but opening another one). */
export type StoreOps = Async<Omit<SqliteStore, NotOperations>>;

export interface Store extends StoreOps {
  readonly kind: 'sqlite' | 'postgres';
  /** The number of the last migration applied (read when the store opened). */
  readonly schemaVersion: number;
  /** The SQLite handle when the store is SQLite (maintenance and tests); undefined on PostgreSQL. */
  readonly db?: Database.Database;
  /** The connection pool when the store is PostgreSQL (modules with tables of their own, e.g. src/intake). */
  readonly pgPool?: import('pg').Pool;
  /**
   * Run `fn` in one transaction: committed when it resolves, rolled back when it throws. Use only `t`
   * inside (the store itself waits for the transaction to end: calling it from `fn` would deadlock).
   */
  tx<T>(fn: (t: StoreOps) => Promise<T>): Promise<T>;
  /** Which node runs each job (job-leases.ts). */
  readonly leases: JobLeases;
  /** Told the number of every zones (or policy) version this process commits. Returns the unsubscribe. */
  onZonesSaved(fn: (version: number) => void): () => void;
  close(): Promise<void>;
}
