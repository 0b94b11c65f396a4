/**
 * The service's HTTP side: the live telemetry hub's admission (a valid session that need not change
 * its password, the console's own origin), the HTTP or HTTPS server the API and the hub share, its
 * listening and closing, its URL, and the version it reports.
 */
import fs from 'fs';
import http from 'http';
import https from 'https';
import net from 'net';
import path from 'path';
import type { Express } from 'express';
import type { Auth } from '../auth';
import { tokenOf } from '../server/app';
import { storeUnavailable } from '../server/errors';
import type { OriginPolicy } from '../server/guards';
import { createTelemetryHub, type TelemetryHub } from '../../telemetry/hub';
import { repoRoot } from '../paths';

export const REPO = repoRoot();

export function version(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
}

/**
 * Whether a viewer's session is still live, checked in the store each round (hub `sessionCheckMs`).
 * Only a definite answer ends it: the store says the session is unknown, revoked or expired, or its
 * user disabled; or its known expiry has passed. A store that cannot be reached (PostgreSQL down or
 * restarting) answers nothing about the session: the viewer keeps its socket, and the next round
 * checks again, so a supervisor keeps the live map while the system is degraded. A session revoked
 * during the outage ends at the first round after the store is back; one that expires during it
 * ends on time, without the store. Any other failure of the check ends the socket, as before.
 */
export function sessionCheck(auth: Auth, token: string | null | undefined, expiresMs: number, lookup: SessionLookup = (t) => auth.session(t)): () => Promise<boolean> {
  return async () => {
    if (auth.expired(expiresMs)) return false;
    try {
      return (await lookup(token)) !== null;
    } catch (e) {
      if (storeUnavailable(e)) return true;
      throw e;
    }
  };
}

type SessionLookup = (token: string | null | undefined) => ReturnType<Auth['session']>;

/**
 * One store read per session per round, however many sockets share the session (a user's tabs, a
 * wall of screens on one login): a lookup made within `windowMs` of the last one for the same token
 * gets that one's answer. Without it every viewer's check is a query of its own, once a second: a
 * control room of consoles puts a burst of session reads every second ahead of the operators'
 * commands in the connection pool.
 */
export function sharedSessionLookup(auth: Auth, windowMs: number): SessionLookup {
  const recent = new Map<string, { atMs: number; answer: ReturnType<Auth['session']> }>();
  return (token) => {
    if (!token) return auth.session(token);
    const now = Date.now();
    const r = recent.get(token);
    if (r && now - r.atMs < windowMs) return r.answer;
    if (recent.size >= 10_000) for (const [k, v] of recent) if (now - v.atMs >= windowMs) recent.delete(k);
    const answer = auth.session(token);
    recent.set(token, { atMs: now, answer });
    return answer;
  };
}

/** The live telemetry hub: only signed-in users, and on a WebSocket upgrade only the console's own origin. */
export function createConsoleHub(auth: Auth, origins: OriginPolicy, opts: { sessionCheckMs?: number } = {}): TelemetryHub {
  // Half a round: every check of a round shares one read, the next round reads again.
  const lookup = sharedSessionLookup(auth, (opts.sessionCheckMs ?? 1000) / 2);
  return createTelemetryHub({
    // A new socket needs its session read from the store: while the store cannot be reached the
    // upgrade is refused (the rejection is answered 500 by the hub) and the console retries with its
    // backoff (its /api/me answers 503, not 401, so it does not take that for a logout). Sockets
    // already open are kept (sessionCheck).
    authenticate: async (req) => {
      const token = tokenOf(req as any, true);
      const s = await auth.session(token);
      if (!s || s.user.mustChangePassword) return null;
      return { username: s.user.username, role: s.user.role, stillValid: sessionCheck(auth, token, s.expiresMs, lookup) };
    },
    sessionCheckMs: opts.sessionCheckMs,
    // Browsers always send Origin on a WebSocket upgrade: only the console's own may stream the fleet.
    allowOrigin: (origin, req) => origins.hostAllowed(req.headers.host) && (origin === undefined || origins.originAllowed(origin)),
  });
}

/** The API and the hub on one HTTP(S) server, listening on `host:port` (0: any free port). */
export async function listen(app: Express, hub: TelemetryHub, at: { host: string; port: number; tls: { cert: Buffer; key: Buffer } | null }): Promise<{ server: http.Server; port: number; url: string }> {
  const { host, tls } = at;
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, app) : http.createServer(app);
  server.headersTimeout = 20_000;
  server.requestTimeout = 120_000;
  hub.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { server, port, url };
}

/** Stops the server: the hub's WebSocket viewers first (server.close() would wait for their upgraded sockets), then every connection. */
export async function closeServer(server: http.Server, hub: TelemetryHub): Promise<void> {
  await hub.close();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
