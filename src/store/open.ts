/** Open the store a service or a command names: SQLite in a data directory (default) or PostgreSQL at a URL. */
import type { StoreOptions } from './index';
import { postgresStore } from './postgres';
import { sqliteStore } from './sqlite';
import type { Store } from './store';

export interface OpenStoreOptions extends StoreOptions {
  /** `postgres://…` (or `postgresql://…`): the PostgreSQL store instead of SQLite in dataDir. */
  url?: string;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//i.test(url);
}

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  if (opts.url !== undefined) {
    if (!isPostgresUrl(opts.url)) throw Object.assign(new Error(`--store must be a postgres:// URL, not ${JSON.stringify(opts.url)}`), { code: 'INVALID_STORE_URL' });
    return postgresStore(opts.url);
  }
  return sqliteStore(opts);
}

/**
 * Whether the store answers now (for /api/health): SQLite always does; PostgreSQL must run a
 * `SELECT 1` on its pool within `timeoutMs`.
 */
export async function storeReachable(store: Store, timeoutMs = 2000): Promise<boolean> {
  if (!store.pgPool) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([store.pgPool.query('SELECT 1').then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
