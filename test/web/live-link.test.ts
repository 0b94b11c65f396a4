/** LiveLink against a real `ws` server on a real socket: hello, subscribe, stale, drop, backoff, reconnect. */
import http from 'http';
import type { AddressInfo } from 'net';
import WebSocket, { WebSocketServer } from 'ws';
import { LiveLink, backoffDelayMs, type LinkStatus, type SocketLike } from '../../web/src/live-link';
import type { ServerMessage } from '../../web/src/types';

async function waitFor(cond: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface TestServer {
  port: number;
  wss: WebSocketServer;
  received: unknown[];
  sockets: Set<WebSocket>;
  close(): Promise<void>;
}

async function startServer(port = 0, hello = true): Promise<TestServer> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, path: '/ws' });
  const received: unknown[] = [];
  const sockets = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', (d) => received.push(JSON.parse(String(d))));
    if (hello) ws.send(JSON.stringify({ type: 'hello', v: 1, user: { username: 'u', role: 'operator' }, serverTimeMs: Date.now() }));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    wss,
    received,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.terminate();
        wss.close();
        server.close(() => r());
      }),
  };
}

const createSocket = (url: string) => new WebSocket(url) as unknown as SocketLike;

describe('backoffDelayMs', () => {
  it('grows by the factor from the initial delay, capped, with bounded jitter', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelayMs(a, { initialMs: 500, maxMs: 10000, factor: 2, jitter: 0 }))).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
    expect(backoffDelayMs(1, { initialMs: 1000, jitter: 0.2 }, 0)).toBe(800);
    expect(backoffDelayMs(1, { initialMs: 1000, jitter: 0.2 }, 0.999999)).toBe(1200);
    expect(backoffDelayMs(20, { maxMs: 3000, jitter: 0.5 }, 0.99)).toBeLessThanOrEqual(3000);
  });
});

describe('LiveLink over a real WebSocket', () => {
  let srv: TestServer | null = null;
  let link: LiveLink | null = null;
  afterEach(async () => {
    link?.stop();
    link = null;
    await srv?.close();
    srv = null;
  });

  it('goes live on hello, subscribes, and passes messages on', async () => {
    srv = await startServer();
    const states: LinkStatus['state'][] = [];
    const msgs: ServerMessage[] = [];
    link = new LiveLink({
      url: `ws://127.0.0.1:${srv.port}/ws`,
      subscribe: { type: 'subscribe', vehicles: 'all', deliveries: true, alerts: true, rateHz: 10 },
      createSocket,
      onStatus: (s) => states.push(s.state),
      onMessage: (m) => msgs.push(m),
    });
    link.start();
    await waitFor(() => link!.state.state === 'live', 10000, 'live');
    await waitFor(() => srv!.received.length === 1, 10000, 'subscribe');
    expect(srv.received[0]).toEqual({ type: 'subscribe', vehicles: 'all', deliveries: true, alerts: true, rateHz: 10 });
    for (const s of srv.sockets) s.send(JSON.stringify({ type: 'frames', t: 1, frames: [] }));
    await waitFor(() => msgs.some((m) => m.type === 'frames'), 10000, 'frames');
    expect(states.slice(0, 2)).toEqual(['connecting', 'live']);
  });

  it('reports stale when an open link goes silent, and live again when data returns', async () => {
    srv = await startServer();
    link = new LiveLink({ url: `ws://127.0.0.1:${srv.port}/ws`, subscribe: { type: 'subscribe', vehicles: 'all' }, createSocket, staleAfterMs: 300 });
    link.start();
    await waitFor(() => link!.state.state === 'live', 10000, 'live');
    await waitFor(() => link!.state.state === 'stale', 10000, 'stale');
    for (const s of srv.sockets) s.send(JSON.stringify({ type: 'frames', t: 2, frames: [] }));
    await waitFor(() => link!.state.state === 'live', 10000, 'live again');
  });

  it('does not call a quiet link stale while no data is expected', async () => {
    srv = await startServer();
    link = new LiveLink({ url: `ws://127.0.0.1:${srv.port}/ws`, subscribe: { type: 'subscribe', vehicles: 'all' }, createSocket, staleAfterMs: 100, expectingData: () => false });
    link.start();
    await waitFor(() => link!.state.state === 'live', 10000, 'live');
    await new Promise((r) => setTimeout(r, 1200));
    expect(link.state.state).toBe('live');
  });

  it('reports offline when the server goes away and reconnects with backoff when it returns on the same port', async () => {
    srv = await startServer();
    const port = srv.port;
    const seen: LinkStatus[] = [];
    link = new LiveLink({
      url: `ws://127.0.0.1:${port}/ws`,
      subscribe: { type: 'subscribe', vehicles: 'all' },
      createSocket,
      backoff: { initialMs: 100, maxMs: 400, jitter: 0 },
      onStatus: (s) => seen.push(s),
    });
    link.start();
    await waitFor(() => link!.state.state === 'live', 10000, 'live');
    await srv.close();
    srv = null;
    await waitFor(() => link!.state.state === 'offline' && link!.state.retryInMs != null, 10000, 'offline');
    await waitFor(() => link!.state.attempt >= 3, 10000, 'several failed attempts');
    const delays = seen.filter((s) => s.state === 'offline' && s.retryInMs != null).map((s) => s.retryInMs);
    expect(delays.slice(0, 3)).toEqual([100, 200, 400]);
    srv = await startServer(port);
    await waitFor(() => link!.state.state === 'live', 10000, 'live after restart');
    expect(link.state.connections).toBe(2);
    expect(link.state.attempt).toBe(0);
    await waitFor(() => srv!.received.length >= 1, 10000, 'subscribe after reconnect');
  });

  it('reconnects when the server accepts the socket but never says hello', async () => {
    srv = await startServer(0, false);
    link = new LiveLink({ url: `ws://127.0.0.1:${srv.port}/ws`, subscribe: { type: 'subscribe', vehicles: 'all' }, createSocket, helloTimeoutMs: 200, backoff: { initialMs: 50, jitter: 0 } });
    link.start();
    await waitFor(() => link!.state.attempt >= 2, 10000, 'retries after missing hello');
    expect(link.state.state).not.toBe('live');
  });

  it('stops retrying when onClosed says the session is gone', async () => {
    srv = await startServer();
    link = new LiveLink({ url: `ws://127.0.0.1:${srv.port}/ws`, subscribe: { type: 'subscribe', vehicles: 'all' }, createSocket, onClosed: () => false, backoff: { initialMs: 50 } });
    link.start();
    await waitFor(() => link!.state.state === 'live', 10000, 'live');
    for (const s of srv.sockets) s.close(1008, 'session expired');
    await waitFor(() => link!.state.state === 'offline', 10000, 'offline');
    await new Promise((r) => setTimeout(r, 300));
    expect(link.state.state).toBe('offline');
    expect(link.state.retryInMs).toBeUndefined();
    expect(srv.sockets.size).toBe(0);
  });
});
