/**
 * The hub over a real http server and real ws clients.
 */
import * as http from 'http';
import WebSocket from 'ws';
import { createTelemetryHub, TelemetryHub, TelemetryHubError } from '../../telemetry/hub';
import { makeState, waitFor, listen, connectViewer, TestViewer } from './helpers';

const TOKENS: Record<string, { username: string; role: string }> = {
  good: { username: 'supervisor', role: 'supervisor' },
  op: { username: 'operator', role: 'operator' },
};

function authenticate(req: http.IncomingMessage): Promise<{ username: string; role: string } | null> {
  const h = req.headers.authorization ?? '';
  const url = new URL(req.url ?? '/', 'http://x');
  const token = h.startsWith('Bearer ') ? h.slice(7) : (url.searchParams.get('token') ?? '');
  return Promise.resolve(TOKENS[token] ?? null);
}

describe('telemetry hub over real sockets', () => {
  let server: http.Server;
  let hub: TelemetryHub;
  let url: string;
  const viewers: TestViewer[] = [];

  async function viewer(token = 'good'): Promise<TestViewer> {
    const v = await connectViewer(`${url}?token=${token}`);
    viewers.push(v);
    await waitFor(() => v.messages.find((m) => m.msg.type === 'hello'), 10000, 'hello');
    return v;
  }

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('ok'));
    hub = createTelemetryHub({ authenticate, maxBufferedBytes: 64 * 1024, staleAfterMs: 400 });
    hub.attach(server);
    const port = await listen(server);
    url = `ws://127.0.0.1:${port}/ws`;
  });

  afterAll(async () => {
    for (const v of viewers) v.ws.terminate();
    await hub.close();
    await new Promise((r) => server.close(r));
  });

  test('no valid session → 401 before the socket opens; a valid one gets hello', async () => {
    for (const u of [url, `${url}?token=bad`]) {
      const err = await connectViewer(u).then(
        () => null,
        (e) => e,
      );
      expect(err).not.toBeNull();
      expect(err.statusCode).toBe(401);
    }
    // Raw HTTP: the 401 carries the contract's error body.
    const port = (server.address() as { port: number }).port;
    const body = await new Promise<{ status: number; text: string }>((resolve) => {
      const req = http.request({ port, host: '127.0.0.1', path: '/ws', headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('upgrade', () => resolve({ status: 101, text: '' }));
      req.end();
    });
    expect(body.status).toBe(401);
    expect(JSON.parse(body.text).error.code).toBe('UNAUTHENTICATED');
    expect(hub.stats().refused).toBeGreaterThanOrEqual(3);

    const bearer = await connectViewer(url, { Authorization: 'Bearer op' });
    viewers.push(bearer);
    const hello = await waitFor(() => bearer.messages.find((m) => m.msg.type === 'hello'));
    expect(hello.msg).toMatchObject({ type: 'hello', v: 1, user: { username: 'operator', role: 'operator' } });
    expect(typeof hello.msg.serverTimeMs).toBe('number');
  });

  test('subscriptions: all, a set of vehicles, deliveries, alerts', async () => {
    const all = await viewer();
    const some = await viewer();
    const ops = await viewer();
    const none = await viewer();
    all.send({ type: 'subscribe', vehicles: 'all', rateHz: 20 });
    some.send({ type: 'subscribe', vehicles: ['sub-b/1'], rateHz: 20 });
    ops.send({ type: 'subscribe', vehicles: [], deliveries: true, alerts: true });
    await waitFor(() => hub.viewers().filter((v) => v.rateHz === 20).length >= 2 && hub.viewers().some((v) => v.deliveries));
    const now = Date.now();
    hub.publishState(makeState({ id: 'sub-a/1', linkId: 'sub-a', lastSeenMs: now }));
    hub.publishState(makeState({ id: 'sub-b/1', linkId: 'sub-b', lastSeenMs: now, mode: 'AUTO' }));
    hub.publishDelivery({ id: 'd1', state: 'approved' });
    const alert = hub.publishAlert({ level: 'warning', text: 'low battery', vehicleId: 'sub-a/1' });
    await waitFor(() => all.frames().some((f) => f.id === 'sub-a/1') && all.frames().some((f) => f.id === 'sub-b/1'));
    await waitFor(() => some.frames().some((f) => f.id === 'sub-b/1'));
    await waitFor(() => ops.messages.some((m) => m.msg.type === 'alert'));
    await new Promise((r) => setTimeout(r, 150));
    expect(some.frames().every((f) => f.id === 'sub-b/1')).toBe(true);
    expect(some.frames().find((f) => f.id === 'sub-b/1').mode).toBe('AUTO');
    expect(ops.frames()).toEqual([]);
    expect(ops.messages.find((m) => m.msg.type === 'delivery')!.msg).toEqual({ type: 'delivery', delivery: { id: 'd1', state: 'approved' } });
    const a = ops.messages.find((m) => m.msg.type === 'alert')!.msg.alert;
    expect(a).toEqual({ id: alert.id, at: alert.at, level: 'warning', text: 'low battery', vehicleId: 'sub-a/1' });
    expect(all.messages.some((m) => m.msg.type === 'delivery' || m.msg.type === 'alert')).toBe(false);
    expect(none.messages.map((m) => m.msg.type)).toEqual(['hello']);
    expect(() => hub.publishAlert({ level: 'loud' as never, text: 'x' })).toThrow(TelemetryHubError);
    // A late subscriber gets the current state of its vehicles at once.
    const late = await viewer();
    late.send({ type: 'subscribe', vehicles: ['sub-a/1'] });
    const f = await waitFor(() => late.frames().find((x) => x.id === 'sub-a/1'));
    expect(f.lat).toBeCloseTo(34.0612346, 7);
  });

  test('zones versions reach every subscribed viewer; an alert keeps the id, time, code and parameters it was stored with', async () => {
    const a = await viewer();
    const b = await viewer('op');
    const unsubscribed = await viewer();
    a.send({ type: 'subscribe', vehicles: ['zones-a/1'], alerts: true });
    b.send({ type: 'subscribe', vehicles: ['zones-b/1'] });
    const has = (id: string) => hub.viewers().some((v) => v.vehicles !== 'all' && (v.vehicles as string[]).includes(id));
    await waitFor(() => has('zones-a/1') && has('zones-b/1'));
    hub.publishZones(7);
    for (const v of [a, b]) await waitFor(() => v.messages.find((m) => m.msg.type === 'zones'), 5000, 'zones');
    expect(a.messages.find((m) => m.msg.type === 'zones')!.msg).toEqual({ type: 'zones', version: 7 });
    await new Promise((r) => setTimeout(r, 100));
    expect(unsubscribed.messages.map((m) => m.msg.type)).toEqual(['hello']);
    const sent = hub.publishAlert({ id: 'stored-1', at: '2026-01-01T00:00:00.000Z', level: 'critical', text: 'Link to x/1 lost in flight', code: 'link.lostInFlight', params: { vehicle: 'x/1' }, vehicleId: 'x/1' });
    expect(sent.id).toBe('stored-1');
    const got = await waitFor(() => a.messages.find((m) => m.msg.type === 'alert' && m.msg.alert.id === 'stored-1'));
    expect(got.msg.alert).toEqual({ id: 'stored-1', at: '2026-01-01T00:00:00.000Z', level: 'critical', text: 'Link to x/1 lost in flight', code: 'link.lostInFlight', params: { vehicle: 'x/1' }, vehicleId: 'x/1' });
  });

  test('rate: at most rateHz frames per vehicle per viewer, latest state kept, drops counted', async () => {
    const slow = await viewer();
    const fast = await viewer();
    slow.send({ type: 'subscribe', vehicles: ['rate/1'] }); // default 5 Hz
    fast.send({ type: 'subscribe', vehicles: ['rate/1'], rateHz: 20 });
    await waitFor(() => hub.viewers().filter((v) => v.vehicles !== 'all' && (v.vehicles as string[]).includes('rate/1')).length === 2);
    const dropped0 = hub.stats().framesDropped;
    const start = Date.now();
    let n = 0;
    await new Promise<void>((resolve) => {
      const iv = setInterval(() => {
        n++;
        hub.publishState(makeState({ id: 'rate/1', linkId: 'rate', lastSeenMs: Date.now(), link: { packets: n, lost: 0, lossPct: 0, rttMs: null } }));
        if (Date.now() - start >= 2000) {
          clearInterval(iv);
          resolve();
        }
      }, 5);
    });
    const last = n;
    await waitFor(() => slow.frames().some((f) => f.seq === last) && fast.frames().some((f) => f.seq === last), 5000, 'latest state');
    const spanS = (Date.now() - start) / 1000;
    const times = (v: TestViewer) => v.messages.filter((m) => m.msg.type === 'frames' && m.msg.frames.some((f: any) => f.id === 'rate/1')).map((m) => m.msg.t as number);
    for (const [v, hz] of [[slow, 5], [fast, 20]] as const) {
      const ts = times(v);
      // Token bucket of 2: in any window, at most 2 + window·rateHz frames (server-side send times, 2% slack).
      for (let i = 0; i < ts.length; i++) {
        for (let j = i + 1; j < ts.length; j++) expect(j - i + 1).toBeLessThanOrEqual(2 + ((ts[j] - ts[i]) * hz * 1.02) / 1000);
      }
      expect(ts.length).toBeLessThanOrEqual(Math.ceil(spanS * hz) + 2);
      expect(ts.length).toBeGreaterThanOrEqual(Math.floor(2 * hz * 0.5));
    }
    expect(n).toBeGreaterThan(times(fast).length);
    expect(hub.stats().framesDropped - dropped0).toBeGreaterThan(0);
  });

  test('a stalled viewer (socket paused) never delays the others and stays bounded', async () => {
    const stalled = await viewer();
    const healthy = await viewer();
    stalled.send({ type: 'subscribe', vehicles: 'all', rateHz: 20 });
    healthy.send({ type: 'subscribe', vehicles: 'all', rateHz: 20 });
    await waitFor(() => hub.viewers().filter((v) => v.vehicles === 'all' && v.rateHz === 20).length >= 3);
    // Stop reading: the kernel buffers fill, then the server's socket buffer.
    (stalled.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const stalledCount0 = stalled.messages.length;
    const skips0 = hub.stats().backpressureSkips;
    const big = 'X'.repeat(8000); // 8 KB frames fill buffers quickly
    const lagMs: number[] = [];
    let round = 0;
    const published = new Map<number, number>();
    healthy.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type !== 'frames') return;
      for (const f of m.frames) if (f.id === 'stall/0' && published.has(f.seq)) lagMs.push(Date.now() - published.get(f.seq)!);
    });
    const start = Date.now();
    while (Date.now() - start < 3000) {
      round++;
      published.set(round, Date.now());
      for (let i = 0; i < 50; i++) {
        hub.publishState(makeState({ id: `stall/${i}`, linkId: 'stall', mode: big, lastSeenMs: Date.now(), link: { packets: round, lost: 0, lossPct: 0, rttMs: null } }));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const lastRound = round;
    await waitFor(() => healthy.frames().some((f) => f.id === 'stall/0' && f.seq === lastRound), 5000, 'healthy viewer gets the latest state');
    const info = hub.viewers();
    // The stalled viewer's server-side buffer stays near the bound (one 50-frame message over at most).
    for (const v of info) expect(v.bufferedAmount).toBeLessThanOrEqual(64 * 1024 + 50 * 9000);
    expect(hub.stats().backpressureSkips).toBeGreaterThan(skips0);
    // The healthy viewer kept getting fresh frames the whole time.
    lagMs.sort((a, b) => a - b);
    expect(lagMs.length).toBeGreaterThan(20);
    expect(lagMs[Math.floor(lagMs.length / 2)]).toBeLessThan(500);
    // Resume: the stalled viewer catches up with the latest state, not the whole backlog.
    (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitFor(() => stalled.frames().some((f) => f.id === 'stall/0' && f.seq === lastRound), 20000, 'stalled viewer catches up');
    const stalledFrames = stalled.messages.slice(stalledCount0).filter((m) => m.msg.type === 'frames').flatMap((m) => m.msg.frames).filter((f: any) => f.id === 'stall/0');
    expect(stalledFrames.length).toBeLessThan(lastRound);
    expect(healthy.frames().filter((f) => f.id === 'stall/0').length).toBeGreaterThan(stalledFrames.length);
  }, 60000);

  test('malformed or oversized messages close that one connection (1008/1009); others unaffected', async () => {
    const bystander = await viewer();
    bystander.send({ type: 'subscribe', vehicles: ['bad/1'], rateHz: 20 });
    const cases: Array<[unknown, number, string | null]> = [
      ['not json', 1008, 'INVALID_MESSAGE'],
      [{ type: 'subscribe', vehicles: 'all', rateHz: 100 }, 1008, 'INVALID_MESSAGE'],
      [{ type: 'dance' }, 1008, 'INVALID_MESSAGE'],
      [{ type: 'subscribe', vehicles: 'all', extra: 1 }, 1008, 'INVALID_MESSAGE'],
      [JSON.stringify({ type: 'subscribe', vehicles: ['x'.repeat(5000)] }), 1009, null],
    ];
    for (const [payload, code, errCode] of cases) {
      const v = await viewer();
      v.send(payload);
      const closed = await v.closed;
      expect(closed.code).toBe(code);
      if (errCode) {
        expect(closed.reason.length).toBeGreaterThan(0);
        expect(v.messages.find((m) => m.msg.type === 'error')!.msg.code).toBe(errCode);
      }
    }
    const bin = await viewer();
    bin.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await bin.closed).code).toBe(1008);
    expect(bystander.ws.readyState).toBe(WebSocket.OPEN);
    hub.publishState(makeState({ id: 'bad/1', linkId: 'bad', lastSeenMs: Date.now() }));
    await waitFor(() => bystander.frames().some((f) => f.id === 'bad/1'));
    expect(hub.stats().closedForBadInput).toBeGreaterThanOrEqual(6);
  });

  test('a vehicle that goes silent is re-sent flagged stale', async () => {
    const v = await viewer();
    v.send({ type: 'subscribe', vehicles: ['quiet/1'], rateHz: 20 });
    await waitFor(() => hub.viewers().some((x) => Array.isArray(x.vehicles) && x.vehicles.includes('quiet/1')));
    hub.publishState(makeState({ id: 'quiet/1', linkId: 'quiet', lastSeenMs: Date.now() }));
    await waitFor(() => v.frames().some((f) => f.id === 'quiet/1' && !f.stale));
    const f = await waitFor(() => v.frames().find((x) => x.id === 'quiet/1' && x.stale), 5000, 'stale frame');
    expect(f.ageMs).toBeGreaterThan(400);
  });
});

describe('telemetry hub: dead viewers and shutdown', () => {
  test('a viewer that never answers pings is terminated; close() closes everyone with 1001', async () => {
    const server = http.createServer();
    const hub = createTelemetryHub({ authenticate, pingIntervalMs: 1000 });
    hub.attach(server);
    const port = await listen(server);
    const deaf = new WebSocket(`ws://127.0.0.1:${port}/ws?token=good`, { autoPong: false });
    const deafClosed = new Promise<number>((r) => deaf.on('close', (c) => r(c)));
    const ok = await connectViewer(`ws://127.0.0.1:${port}/ws?token=good`);
    await waitFor(() => hub.stats().viewers === 2);
    const code = await deafClosed;
    expect(code).toBe(1006); // terminated, no closing handshake
    expect(hub.stats().closedDead).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(ok.ws.readyState).toBe(WebSocket.OPEN);
    await hub.close();
    expect((await ok.closed).code).toBe(1001);
    await new Promise((r) => server.close(r));
  });

  test('invalid options are typed errors', () => {
    expect(() => createTelemetryHub({ authenticate, defaultRateHz: 30 })).toThrow(expect.objectContaining({ code: 'HUB_INVALID_OPTIONS' }));
    expect(() => createTelemetryHub({} as never)).toThrow(expect.objectContaining({ code: 'HUB_INVALID_OPTIONS' }));
  });
});

describe('telemetry hub rate limiting on an injected clock', () => {
  test('token bucket: burst of 2, then one frame per 1/rateHz; unsent states coalesce to the latest', async () => {
    const { FakeClock } = await import('../../src/vehicle/clock');
    const clock = new FakeClock(Date.UTC(2026, 10, 30));
    const server = http.createServer();
    // Rounds every turn (frameRoundMs 0): this test is about the bucket alone (rounds: the test after the next).
    const hub = createTelemetryHub({ authenticate, clock, pingIntervalMs: 3_600_000, staleAfterMs: 3_600_000, frameRoundMs: 0 });
    hub.attach(server);
    const port = await listen(server);
    const v = await connectViewer(`ws://127.0.0.1:${port}/ws?token=good`);
    try {
      v.send({ type: 'subscribe', vehicles: ['fc/1'], rateHz: 5 });
      await waitFor(() => hub.viewers()[0]?.rateHz === 5);
      let seq = 0;
      // each state a new position: every frame is urgent (see the next test for the others)
      const pub = () => hub.publishState(makeState({ id: 'fc/1', linkId: 'fc', lastSeenMs: clock.now(), link: { packets: ++seq, lost: 0, lossPct: 0, rttMs: null }, position: { lat: 34 + seq * 1e-6, lon: 114, altAmslM: 120, altRelM: 20 } }));
      const seqs = () => v.frames().map((f) => f.seq);
      pub(); // token 1 of 2
      await waitFor(() => seqs().length === 1);
      pub(); // token 2 of 2
      await waitFor(() => seqs().length === 2);
      pub(); // bucket empty: waits for the clock
      pub();
      pub(); // replaces the two before it
      await new Promise((r) => setTimeout(r, 100));
      expect(seqs()).toEqual([1, 2]);
      clock.advance(150);
      await new Promise((r) => setTimeout(r, 50));
      expect(seqs()).toEqual([1, 2]);
      clock.advance(50); // 200 ms = one token at 5 Hz
      await waitFor(() => seqs().length === 3);
      expect(seqs()).toEqual([1, 2, 5]);
      expect(hub.stats().framesDropped).toBe(2);
      // Idle for a second refills the bucket to 2, not more. Two states in one turn go as one frame (the latest).
      clock.advance(1000);
      pub();
      pub();
      await waitFor(() => seqs().length === 4);
      await new Promise((r) => setTimeout(r, 20));
      pub();
      await waitFor(() => seqs().length === 5);
      pub();
      await new Promise((r) => setTimeout(r, 100));
      expect(seqs()).toEqual([1, 2, 5, 7, 8]);
      clock.advance(200);
      await waitFor(() => seqs().length === 6);
      expect(seqs()).toEqual([1, 2, 5, 7, 8, 9]);
      expect(hub.stats().framesDropped).toBe(3);
    } finally {
      v.ws.terminate();
      await hub.close();
      await new Promise((r) => server.close(r));
    }
  });

  test('a change that is not urgent (a heartbeat, a battery reading) takes no token a position needs: positions at the viewer rate never wait', async () => {
    const { FakeClock } = await import('../../src/vehicle/clock');
    const clock = new FakeClock(Date.UTC(2026, 10, 30));
    const server = http.createServer();
    const hub = createTelemetryHub({ authenticate, clock, pingIntervalMs: 3_600_000, staleAfterMs: 3_600_000 });
    hub.attach(server);
    const port = await listen(server);
    const v = await connectViewer(`ws://127.0.0.1:${port}/ws?token=good`);
    try {
      v.send({ type: 'subscribe', vehicles: ['hb/1'], rateHz: 10 });
      await waitFor(() => hub.viewers()[0]?.rateHz === 10);
      let seq = 0, lat = 34;
      const state = (battery: number) => makeState({ id: 'hb/1', linkId: 'hb', lastSeenMs: clock.now(), position: { lat, lon: 114, altAmslM: 120, altRelM: 20 }, battery: { voltageV: 12, currentA: 5, remainingPct: battery, consumedMah: 0 }, link: { packets: ++seq, lost: 0, lossPct: 0, rttMs: null } });
      const seqs = () => v.frames().map((f) => f.seq);
      const settle = () => new Promise((r) => setTimeout(r, 30));
      hub.publishState(state(90)); // first frame: at once
      await waitFor(() => seqs().length === 1);
      // 3 s of a vehicle sending positions at exactly the viewer's 10 Hz, and a battery reading (no
      // position change) 50 ms after each position: every position goes out the moment it arrives.
      for (let k = 0; k < 30; k++) {
        clock.advance(50);
        hub.publishState(state(89 - k * 0.1)); // not urgent
        await settle();
        clock.advance(50);
        lat += 1e-5;
        const before = seqs().length;
        hub.publishState(state(89 - k * 0.1)); // a new position
        await waitFor(() => seqs().length > before && seqs()[seqs().length - 1] === seq, 2000, `position ${k} sent at once`);
      }
      // the battery readings rode with the positions, none delayed one: ~2 frames per 100 ms at most
      expect(v.frames().length).toBeLessThanOrEqual(61);
      // a battery reading on a vehicle standing still goes out when the bucket is full (at once here)
      clock.advance(1000);
      hub.publishState(state(50));
      await waitFor(() => seqs()[seqs().length - 1] === seq);
    } finally {
      v.ws.terminate();
      await hub.close();
      await new Promise((r) => server.close(r));
    }
  });

  test('frames go out in rounds at most frameRoundMs apart, every viewer at the same moments, one message per viewer per round', async () => {
    const { FakeClock } = await import('../../src/vehicle/clock');
    const clock = new FakeClock(Date.UTC(2026, 10, 30));
    const server = http.createServer();
    const hub = createTelemetryHub({ authenticate, clock, pingIntervalMs: 3_600_000, staleAfterMs: 3_600_000, frameRoundMs: 10 });
    hub.attach(server);
    const port = await listen(server);
    const a = await connectViewer(`ws://127.0.0.1:${port}/ws?token=good`);
    const b = await connectViewer(`ws://127.0.0.1:${port}/ws?token=good`);
    try {
      a.send({ type: 'subscribe', vehicles: 'all', rateHz: 10 });
      b.send({ type: 'subscribe', vehicles: 'all', rateHz: 10 });
      await waitFor(() => hub.viewers().length === 2 && hub.viewers().every((x) => x.rateHz === 10));
      const pub = (id: string, k: number) => hub.publishState(makeState({ id, linkId: id.split('/')[0], lastSeenMs: clock.now(), position: { lat: 34 + k * 1e-5, lon: 114, altAmslM: 120, altRelM: 20 } }));
      const ids = (v: typeof a) => v.frames().map((f) => f.id);
      const m0 = hub.stats().messagesSent;
      pub('r1/1', 1); // the last round is long past: out at the end of this turn
      await waitFor(() => ids(a).length === 1 && ids(b).length === 1);
      expect(hub.stats().messagesSent - m0).toBe(2);
      pub('r2/1', 1); // the round just went: waits for the next one
      pub('r3/1', 1);
      await new Promise((r) => setTimeout(r, 50));
      expect([ids(a), ids(b)]).toEqual([['r1/1'], ['r1/1']]);
      clock.advance(9);
      await new Promise((r) => setTimeout(r, 30));
      expect(ids(a)).toEqual(['r1/1']);
      clock.advance(1); // 10 ms after the first round: both frames together, to both viewers
      await waitFor(() => ids(a).length === 3 && ids(b).length === 3);
      expect([ids(a), ids(b)]).toEqual([['r1/1', 'r2/1', 'r3/1'], ['r1/1', 'r2/1', 'r3/1']]);
      expect(hub.stats().messagesSent - m0).toBe(4); // one message per viewer per round
    } finally {
      a.ws.terminate();
      b.ws.terminate();
      await hub.close();
      await new Promise((r) => server.close(r));
    }
  });
});
