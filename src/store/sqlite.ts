/**
 * The SQLite store behind the asynchronous interface: each operation runs the synchronous
 * better-sqlite3 method (src/store/index.ts). One connection serves the process, so `tx` runs
 * transactions one at a time and every other call waits until the running one has ended (otherwise
 * it would run inside it).
 */
import { SqliteStore, type StoreOptions } from './index';
import { localJobLeases } from './job-leases';
import type { Store, StoreOps } from './store';

const NOT_OPERATIONS = new Set(['constructor', 'close', 'onZonesSaved', 'migrate']);

/** The methods of the synchronous store as promise-returning functions, each awaiting `gate` first. */
function operations(sync: SqliteStore, gate: () => Promise<void> | null): StoreOps {
  // Waits again after each transaction: one queued behind it may have begun meanwhile.
  const ops: Record<string, (...a: unknown[]) => Promise<unknown>> = {};
  for (const name of Object.getOwnPropertyNames(SqliteStore.prototype)) {
    if (NOT_OPERATIONS.has(name)) continue;
    const desc = Object.getOwnPropertyDescriptor(SqliteStore.prototype, name);
    if (!desc || typeof desc.value !== 'function') continue; // getters (schemaVersion)
    const fn = desc.value as (...a: unknown[]) => unknown;
    ops[name] = async (...a) => {
      for (let wait = gate(); wait; wait = gate()) await wait;
      return fn.apply(sync, a);
    };
  }
  return ops as unknown as StoreOps;
}

export function sqliteStore(opts: StoreOptions): Store {
  const sync = new SqliteStore(opts);
  /** The end of the last transaction started (null when none is running or queued). */
  let txEnd: Promise<void> | null = null;
  const outside = operations(sync, () => txEnd);
  const inside = operations(sync, () => null);
  const store: Store = {
    ...outside,
    kind: 'sqlite',
    schemaVersion: sync.schemaVersion,
    db: sync.db,
    leases: localJobLeases(),
    async tx<T>(fn: (t: StoreOps) => Promise<T>): Promise<T> {
      const before = txEnd;
      let done!: () => void;
      const mine = new Promise<void>((r) => (done = r));
      txEnd = mine;
      try {
        if (before) await before;
        sync.db.exec('BEGIN IMMEDIATE');
        try {
          const r = await fn(inside);
          sync.db.exec('COMMIT');
          return r;
        } catch (e) {
          if (sync.db.inTransaction) sync.db.exec('ROLLBACK');
          throw e;
        }
      } finally {
        if (txEnd === mine) txEnd = null;
        done();
      }
    },
    onZonesSaved: (fn) => sync.onZonesSaved(fn),
    async close() {
      if (txEnd) await txEnd;
      await store.leases.close();
      sync.close();
    },
  };
  return store;
}
