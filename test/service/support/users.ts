/**
 * Accounts for service tests. A service with vehicle links never gets demo accounts (password =
 * user name), so tests create real ones on the data directory before the service starts, as an
 * administrator would with `dropline users add`.
 */
import { openStore } from '../../../src/store';
import { addUser } from '../../../src/auth';

export const TEST_ROLES = ['admin', 'operator', 'supervisor', 'trainer'] as const;

/** The password of a test account. */
export function testPassword(username: string): string {
  return `${username}-pass-2026`;
}

/** Create admin, operator, supervisor and trainer (each with testPassword) unless the store (SQLite in dataDir, or PostgreSQL at storeUrl) has users. */
export async function seedTestUsers(dataDir: string, storeUrl?: string): Promise<void> {
  const store = await openStore({ dataDir, url: storeUrl });
  try {
    if ((await store.userCount()) > 0) return;
    const results = await Promise.all(TEST_ROLES.map((r) => addUser(store, r, r, testPassword(r))));
    const bad = results.find((r) => !r.ok);
    if (bad) throw new Error(`test users: ${JSON.stringify(bad)}`);
  } finally {
    await store.close();
  }
}
