/**
 * Job leases: which node runs a job's dispatcher and tracker. Exactly one node holds a job's lease;
 * a job whose lease nobody holds (its node died) is taken over by the next node that asks.
 *
 * - SQLite (one process): every lease is granted; they only say which jobs this process runs.
 * - PostgreSQL: a session-level advisory lock per job, on a connection of the leases' own. The
 *   database drops a dead node's locks when its connection closes (a process killed with SIGKILL
 *   closes its sockets at once), so another node can take the job over at its next attempt. When
 *   the leases' connection itself breaks, every lease is lost with it: `onLost` tells the holder,
 *   which must stop running those jobs (another node may be running them already).
 */
import pg from 'pg';

export interface JobLeases {
  /** Take the job's lease (true), or learn that another node holds it (false). True when this node holds it already. */
  tryTake(jobId: string): Promise<boolean>;
  /** Give the lease back (a job this node no longer runs). */
  release(jobId: string): Promise<void>;
  /** Whether this node holds the job's lease. */
  holds(jobId: string): boolean;
  /** Jobs whose lease this node holds. */
  held(): string[];
  /** Told when every lease was lost at once (the database connection broke). */
  onLost(fn: (jobIds: string[]) => void): void;
  close(): Promise<void>;
}

/** One process owns every job. */
export function localJobLeases(): JobLeases {
  const held = new Set<string>();
  return {
    tryTake: async (id) => (held.add(id), true),
    release: async (id) => void held.delete(id),
    holds: (id) => held.has(id),
    held: () => [...held],
    onLost: () => undefined,
    close: async () => held.clear(),
  };
}

/** Advisory locks in PostgreSQL, keyed by (schema, job id). */
export function postgresJobLeases(connection: { connectionString: string; schema: string | null }): JobLeases {
  const held = new Set<string>();
  const taking = new Set<string>();
  const lostListeners: Array<(ids: string[]) => void> = [];
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let closed = false;
  const namespace = connection.schema ?? 'public';

  const lose = (c: pg.Client) => {
    if (client !== c) return;
    client = null;
    const ids = [...held];
    held.clear();
    if (ids.length && !closed) for (const fn of lostListeners) fn(ids);
  };
  const connect = (): Promise<pg.Client> => {
    if (client) return Promise.resolve(client);
    connecting ??= (async () => {
      const c = new pg.Client({ connectionString: connection.connectionString, application_name: 'dropline job leases' });
      c.on('error', () => lose(c));
      c.on('end', () => lose(c));
      try {
        await c.connect();
      } catch (e) {
        connecting = null;
        throw e;
      }
      client = c;
      connecting = null;
      return c;
    })();
    return connecting;
  };
  // Two int4 keys: the schema's hash and the job's (hashtext), so schemas sharing a database never collide.
  const KEY = 'hashtext($1), hashtext($2)';

  return {
    async tryTake(id) {
      if (held.has(id)) return true;
      // Two callers at once: the one already asking gets the answer, the other is told no.
      if (closed || taking.has(id)) return false;
      taking.add(id);
      try {
        const c = await connect();
        const r = await c.query(`SELECT pg_try_advisory_lock(${KEY}) AS ok`, [namespace, id]);
        if (r.rows[0].ok && client === c) held.add(id);
        return held.has(id);
      } finally {
        taking.delete(id);
      }
    },
    async release(id) {
      if (!held.delete(id) || !client) return;
      await client.query(`SELECT pg_advisory_unlock(${KEY})`, [namespace, id]).catch(() => undefined);
    },
    holds: (id) => held.has(id),
    held: () => [...held],
    onLost: (fn) => void lostListeners.push(fn),
    async close() {
      closed = true;
      held.clear();
      const c = client ?? (connecting ? await connecting.catch(() => null) : null);
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
