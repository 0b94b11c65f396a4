/**
 * A stand-in for the service that serves the built console (web/dist) and speaks /ws per API.md:
 * hello, then a `frames` message every 100 ms with one TelemetryFrame per vehicle (vehicles flying
 * circles over the demo district on a 20-wide grid). It answers the few /api calls the console makes
 * at start. Used where the browser is measured or checked with many vehicles, not the service
 * (bench/web.bench.ts, test/web/crowded-map.test.ts).
 */
import fs from 'fs';
import http from 'http';
import path from 'path';
import type { AddressInfo } from 'net';
import { WebSocketServer, type WebSocket } from 'ws';

const REPO = path.resolve(__dirname, '..', '..');
const DIST = path.join(REPO, 'web', 'dist');
export const RATE_HZ = 10;

/** Where fake vehicle i is at time `nowMs` (the centre of its circle moves it 300 m round). */
export function fakeVehiclePosition(i: number, nowMs: number): { lat: number; lon: number; headingDeg: number } {
  const cLat = 34.045 + Math.floor(i / 20) * 0.003;
  const cLon = 114.37 + (i % 20) * 0.0022;
  const a = (nowMs / 1000) * 0.1 + i;
  return {
    lat: cLat + (Math.sin(a) * 300) / 111320,
    lon: cLon + (Math.cos(a) * 300) / (111320 * Math.cos((cLat * Math.PI) / 180)),
    headingDeg: ((-a * 180) / Math.PI) % 360 + 360,
  };
}

const MIME: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml', '.map': 'application/json', '.txt': 'text/plain' };

function zones(): unknown {
  const f = path.join(REPO, 'planner', 'fixtures', 'demo-zones.geojson');
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : { type: 'FeatureCollection', features: [] };
}

export interface FakeServer {
  url: string;
  setVehicles(n: number): void;
  /** From now on every frame says its vehicle is stale (as the service does when a link goes silent). */
  setStale(stale: boolean): void;
  close(): Promise<void>;
}

export async function startFakeServer(): Promise<FakeServer> {
  let vehicles = 0;
  let stale = false;
  const zonesDoc = { version: 1, zones: zones(), updatedAt: new Date().toISOString(), updatedBy: 'bench' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (v: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    if (url.pathname === '/api/me') return json({ username: 'bench', role: 'operator' });
    if (url.pathname === '/api/deliveries') return json([]);
    if (url.pathname === '/api/zones') return json(zonesDoc);
    // The fleet the console checks its map against (vehicles not in it are forgotten).
    if (url.pathname === '/api/vehicles') return json(Array.from({ length: vehicles }, (_, i) => ({ id: `bench${i}/1` })));
    if (url.pathname.startsWith('/api/')) return json([]);
    const rel = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    const file = path.join(DIST, path.normalize(rel));
    if (!file.startsWith(DIST) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  const timers = new Set<ReturnType<typeof setInterval>>();
  wss.on('connection', (ws: WebSocket) => {
    ws.send(JSON.stringify({ type: 'hello', v: 1, user: { username: 'bench', role: 'operator' }, serverTimeMs: Date.now() }));
    let seq = 0;
    const n = vehicles;
    const timer = setInterval(() => {
      if (n === 0) return;
      const now = Date.now();
      seq++;
      const frames = [];
      for (let i = 0; i < n; i++) {
        // Vehicle i flies a 300 m circle around its own centre on a 20-wide grid over the district.
        const { lat, lon, headingDeg } = fakeVehiclePosition(i, now);
        frames.push({
          v: 1, id: `bench${i}/1`, t: now, seq, lat, lon, altRelM: 40 + (i % 7), altAmslM: 140, headingDeg,
          groundSpeedMps: 10, climbMps: 0, rollDeg: 5, pitchDeg: -3, mode: 'AUTO', armed: true, landed: 2, batteryPct: 80 - (i % 50), voltageV: 15.2,
          gpsFix: 3, satellites: 14, mission: { current: 3, total: 9 }, link: { lossPct: 0, rttMs: 20 }, stale, ageMs: stale ? 5000 : 0, autopilot: 'ardupilot',
        });
      }
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'frames', t: now, frames }));
    }, 1000 / RATE_HZ);
    timers.add(timer);
    ws.on('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setVehicles: (n) => (vehicles = n),
    setStale: (s) => (stale = s),
    close: () =>
      new Promise<void>((r) => {
        for (const t of timers) clearInterval(t);
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => r());
      }),
  };
}

