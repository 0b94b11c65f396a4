/**
 * Zone versions saved on other nodes: PostgreSQL NOTIFY on channel `dropline_zones` (payload
 * `<schema>:<version>`), heard on a connection of its own that LISTENs and reconnects after a
 * break. So every node's consoles redraw whichever node took the edit.
 */
import pg from 'pg';

export const ZONES_CHANNEL = 'dropline_zones';

export interface ZonesListener {
  /** Resolves once listening (or at the first failure: it keeps trying in the background). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function listenForZones(connectionString: string, schema: string, onVersion: (version: number) => void, retryMs = 2000): ZonesListener {
  let client: pg.Client | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  const retry = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, retryMs);
    timer.unref();
  };
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString, application_name: 'dropline zones' });
    c.on('error', () => undefined);
    c.on('end', () => {
      if (client === c) client = null;
      retry();
    });
    c.on('notification', (n) => {
      if (n.channel !== ZONES_CHANNEL || !n.payload) return;
      const i = n.payload.lastIndexOf(':');
      const version = Number(n.payload.slice(i + 1));
      if (n.payload.slice(0, i) === schema && Number.isInteger(version)) onVersion(version);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${ZONES_CHANNEL}`);
      if (closed) return void (await c.end());
      client = c;
    } catch {
      await c.end().catch(() => undefined);
      retry();
    }
  };
  return {
    ready: connect(),
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
