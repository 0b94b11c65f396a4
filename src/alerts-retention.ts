/**
 * Alerts retention: the alerts table (migration 5) keeps what consoles must show again after a login
 * or a reload, not everything ever said. Pruned, when older than the retention age:
 * - acknowledged alerts (by the time of their acknowledgement: who and when stay in the audit log as
 *   alert.ack);
 * - info and warning alerts nobody acknowledged (by the time they were raised).
 * An unacknowledged critical alert is never pruned: it stays on every console until somebody
 * acknowledges it. Each prune that removes anything is audited (alerts.prune: the cut-off and the
 * counts). Runs at start and then periodically; the DELETE is one indexed statement, short enough
 * for the event loop (bounded by `batch` rows per pass).
 */
import type { Store } from './store';

export interface AlertRetentionOptions {
  /** Age after which an alert may be pruned (default 30 days). */
  maxAgeMs?: number;
  /** How often to prune (default 1 hour). */
  intervalMs?: number;
  /** Most rows removed per pass (default 5000); a pass that hits it runs again on the next tick. */
  batch?: number;
  now?: () => number;
}

export const DEFAULT_ALERT_RETENTION_MS = 30 * 24 * 3600_000;

export interface PruneResult {
  cutoff: string;
  acknowledged: number;
  unacknowledged: number;
}

/** The two DELETEs, in the store's dialect (both key alerts by `id`); each removes at most `batch` rows. */
async function deleteOld(store: Store, cutoff: string, batch: number): Promise<{ acknowledged: number; unacknowledged: number }> {
  const ACKED = 'acked_at IS NOT NULL AND acked_at < {1}';
  const QUIET = "acked_at IS NULL AND level IN ('info','warning') AND at < {1}";
  const stmt = (where: string, ph: (n: number) => string) =>
    `DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE ${where.replace('{1}', ph(1))} LIMIT ${ph(2)})`;
  if (store.db) {
    const db = store.db;
    return db.transaction(() => ({
      acknowledged: db.prepare(stmt(ACKED, () => '?')).run(cutoff, batch).changes,
      unacknowledged: db.prepare(stmt(QUIET, () => '?')).run(cutoff, batch).changes,
    }))();
  }
  const pool = store.pgPool!;
  const acknowledged = (await pool.query(stmt(ACKED, (n) => `$${n}`), [cutoff, batch])).rowCount ?? 0;
  const unacknowledged = (await pool.query(stmt(QUIET, (n) => `$${n}`), [cutoff, batch])).rowCount ?? 0;
  return { acknowledged, unacknowledged };
}

/** Removes what the retention policy allows; audits it when anything went. */
export async function pruneAlerts(store: Store, opts: AlertRetentionOptions = {}): Promise<PruneResult> {
  const now = (opts.now ?? Date.now)();
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_ALERT_RETENTION_MS;
  const batch = Math.max(1, Math.floor(opts.batch ?? 5000));
  const cutoff = new Date(now - maxAgeMs).toISOString();
  const { acknowledged, unacknowledged } = await deleteOld(store, cutoff, batch);
  if (acknowledged + unacknowledged > 0) {
    await store.audit({
      username: null, role: null, action: 'alerts.prune',
      params: { cutoff, maxAgeMs },
      outcome: { ok: true, acknowledged, unacknowledged },
    });
  }
  return { cutoff, acknowledged, unacknowledged };
}

/** Prunes now and every `intervalMs`; stop() ends it. */
export function startAlertRetention(store: Store, opts: AlertRetentionOptions = {}, onError?: (e: unknown) => void): { stop(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  const pass = async () => {
    timer = null;
    if (stopped) return;
    let more = false;
    try {
      const r = await pruneAlerts(store, opts);
      const batch = Math.max(1, Math.floor(opts.batch ?? 5000));
      more = r.acknowledged >= batch || r.unacknowledged >= batch;
    } catch (e) {
      onError?.(e);
    }
    if (stopped) return;
    timer = setTimeout(() => void pass(), more ? 0 : opts.intervalMs ?? 3600_000);
    timer.unref?.();
  };
  void pass();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
