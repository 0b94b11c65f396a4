/**
 * The silence threshold end to end over real sockets: built-in simulators at 1× over TCP, the fleet,
 * the hub on a real http server and a ws viewer.
 * - a streaming vehicle (default message rates) behind the fault proxy: its link is cut, and its
 *   frame turns stale after about a second of silence, long before the fixed 3 s;
 * - a vehicle that sends only its 1 Hz heartbeat (no stream requested) is never flagged stale while
 *   its heartbeats arrive.
 */
import * as http from 'http';
import { startSimulators, type SimFleet, type BuiltinInstance } from '../../sims';
import { FaultProxy } from '../../sims/fault-proxy';
import { createFleet, type Fleet } from '../../src/fleet';
import { createTelemetryHub, type TelemetryHub } from '../../telemetry/hub';
import { connectViewer, listen, waitFor, type TestViewer } from './helpers';

const STREAM = 'stream/1';
const HB = 'hb/2';

describe('link silence shown per vehicle, over real sockets', () => {
  let sims: SimFleet & { instances: BuiltinInstance[] };
  let proxy: FaultProxy;
  let streaming: Fleet;
  let heartbeatOnly: Fleet;
  let server: http.Server;
  let hub: TelemetryHub;
  let viewer: TestViewer;
  const heartbeatsAt: number[] = [];

  beforeAll(async () => {
    sims = await startSimulators({ instances: 2, basePort: 0, speedup: 1, bootDelayS: 1 });
    proxy = new FaultProxy({ host: '127.0.0.1', port: sims.instances[0].tcpPort });
    await proxy.start();
    streaming = createFleet({ lostAfterMs: 5000 });
    // Nothing asked of this vehicle: like ArduPilot before SET_MESSAGE_INTERVAL, it sends its HEARTBEAT at 1 Hz and little else.
    heartbeatOnly = createFleet({ messageRatesHz: {}, timesyncMs: 0, lostAfterMs: 5000 });
    heartbeatOnly.on('frame', (_id: string, f: { name: string }) => {
      if (f.name === 'HEARTBEAT') heartbeatsAt.push(Date.now());
    });
    server = http.createServer((_req, res) => res.end('ok'));
    hub = createTelemetryHub({ authenticate: async () => ({ username: 'supervisor', role: 'supervisor' }) });
    hub.attach(server);
    hub.addFleet(streaming);
    hub.addFleet(heartbeatOnly);
    const port = await listen(server);
    streaming.addLink(`tcp:127.0.0.1:${proxy.port}`, { id: 'stream' });
    heartbeatOnly.addLink(sims.instances[1].uri, { id: 'hb' });
    viewer = await connectViewer(`ws://127.0.0.1:${port}/ws`);
    viewer.send({ type: 'subscribe', vehicles: 'all', rateHz: 20 });
  }, 60_000);

  afterAll(async () => {
    viewer?.ws.close();
    await hub?.close();
    await new Promise((r) => server?.close(r));
    await streaming?.close();
    await heartbeatOnly?.close();
    await proxy?.close();
    await sims?.stop();
  });

  const framesOf = (id: string) => viewer.frames().filter((f) => f.id === id);

  test('a heartbeat-only vehicle is never shown stale while its heartbeats arrive', async () => {
    // Its cadence learnt: heard for more than the 3 s cap.
    await waitFor(() => framesOf(HB).some((f) => !f.stale && f.t - framesOf(HB)[0].t > 4000), 30_000, 'heartbeat vehicle heard for 4 s');
    const from = viewer.frames().length;
    const hb0 = heartbeatsAt.length;
    await waitFor(() => heartbeatsAt.length >= hb0 + 10, 30_000, 'ten more heartbeats');
    const seen = viewer.frames().slice(from).filter((f) => f.id === HB);
    expect(seen.length).toBeGreaterThanOrEqual(8);
    expect(seen.filter((f) => f.stale)).toEqual([]);
    // Judged by its own cadence: about 1 s apart → three of them, the 3 s cap.
    expect(seen.every((f) => f.staleAfterMs === 3000)).toBe(true);
  }, 90_000);

  test('a streaming vehicle whose link is cut is shown stale after under a second of silence', async () => {
    // Its cadence learnt: a threshold under the 3 s cap (0.75–0.9 s on a quiet machine; a loaded one
    // delays messages and the threshold follows — the exact rule is test/telemetry/silence.test.ts's).
    await waitFor(() => framesOf(STREAM).some((f) => !f.stale && (f.staleAfterMs ?? 3000) < 3000 && f.lat !== null), 30_000, 'streaming vehicle live with its cadence learnt');
    const from = viewer.frames().length;
    proxy.faults.linkLoss = true;
    const stale = await waitFor(() => viewer.frames().slice(from).find((f) => f.id === STREAM && f.stale), 10_000, 'stale frame');
    // The service's own measure of the silence when it flagged it: over its learnt threshold, which
    // is under the 3 s fixed threshold it had before (a loaded machine's timers may be late, not early).
    expect(stale.staleAfterMs).toBeGreaterThanOrEqual(750);
    expect(stale.staleAfterMs).toBeLessThan(3000);
    expect(stale.ageMs).toBeGreaterThan(stale.staleAfterMs!);
    expect(stale.ageMs).toBeLessThan(stale.staleAfterMs! + 2000);
    // The heartbeat-only vehicle beside it stayed live all along.
    expect(framesOf(HB).slice(-3).every((f) => !f.stale)).toBe(true);
    // The link comes back: live again.
    proxy.faults.linkLoss = false;
    const n = viewer.frames().length;
    await waitFor(() => viewer.frames().slice(n).some((f) => f.id === STREAM && !f.stale), 20_000, 'live again');
  }, 90_000);
});
