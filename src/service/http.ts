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

/** The live telemetry hub: only signed-in users, and on a WebSocket upgrade only the console's own origin. */
export function createConsoleHub(auth: Auth, origins: OriginPolicy): TelemetryHub {
  return createTelemetryHub({
    authenticate: async (req) => {
      const token = tokenOf(req as any, true);
      const u = await auth.authenticate(token);
      if (!u || u.mustChangePassword) return null;
      return { username: u.username, role: u.role, stillValid: async () => (await auth.authenticate(token)) !== null };
    },
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
