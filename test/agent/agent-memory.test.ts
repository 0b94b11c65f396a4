/**
 * The link agent and the service side of the bus, on the in-process bus (no NATS needed): the
 * built-in simulator behind an agent, a fleet that takes it from the bus. Leases, heartbeats on
 * behalf of the fleet, the grace after a lapse, and the vehicle's own GCS failsafe after it.
 */
import { decodeAll } from '../../src/mavlink/codec';
import { createMemoryBus, attachBusVehicles, Subjects, type MemoryBus, type BusVehicles } from '../../src/bus';
import { startAgent, type Agent } from '../../src/agent';
import { createFleet, type Fleet, type Vehicle } from '../../src/fleet';
import { DELIVERY_READY_SIM_PARAMS } from '../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { until } from '../vehicle/wait';
import { warmingUp } from '../../src/delivery/preflight';
import { DEFAULT_POLICY } from '../../src/delivery';

const SPEEDUP = 10;
const VID = 'field.link0-1/1';
let sims: Awaited<ReturnType<typeof startTestVehicles>>;
let bus: MemoryBus;
let agent: Agent;
let fleet: Fleet;
let attached: BusVehicles;
let v: Vehicle;
const texts: string[] = [];

beforeAll(async () => {
  sims = await startTestVehicles({
    instances: 1,
    speedup: SPEEDUP,
    homes: [{ lat: 34.06, lon: 114.39, altAmslM: 100 }],
    // The default GCS failsafe: 5 s (0.5 s of wall time at ×10), RTL.
    params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5 },
  });
  bus = createMemoryBus();
  agent = await startAgent({ bus, site: 'field', links: [sims.instances[0].uri], heartbeatHz: gcsHeartbeatHzFor(SPEEDUP), graceMs: 3000 });
  fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(SPEEDUP) });
  attached = attachBusVehicles({ bus, fleet, node: 'node-a', leaseTtlMs: 1000, renewMs: 250 });
  await until(() => !!fleet.get(VID), 30_000, 'the vehicle through the bus');
  v = fleet.get(VID)!;
  v.on('statustext', (t: { text: string }) => texts.push(t.text));
  expect(await v.waitFor((s) => s.home !== null && (s.gps?.fixType ?? 0) >= 3 && ((s.sensorsHealth ?? 0) & (1 << 28)) !== 0, 60_000)).toBe(true);
}, 120_000);

afterAll(async () => {
  await attached?.close();
  await fleet?.close();
  await agent?.close();
  await bus?.close();
  await sims?.stop();
});

test('the vehicle joins the fleet as a bus link; the agent, not the fleet, sends the GCS heartbeats', async () => {
  const link = fleet.links().find((l) => l.id === 'field.link0-1')!;
  expect(link).toMatchObject({ uri: 'bus:field/link0-1', up: true });
  expect(link.stats.heartbeatsSent).toBe(0);
  expect(v.state).toMatchObject({ sysid: 1, autopilot: 'ardupilot', connected: true });
  const st = agent.status();
  expect(st.vehicles).toEqual([expect.objectContaining({ site: 'field', vehicle: 'link0-1', sysid: 1, connected: true, heartbeats: 'leased', leaseHolder: 'node-a', linkUp: true })]);
  expect(st.links[0].heartbeatsSent).toBeGreaterThan(0);
  expect(st.links[0].stats.framesPublished).toBeGreaterThan(10);
});

test('commands reach the vehicle through the agent, confirmed in telemetry', async () => {
  // As a ground station does: GUIDED once the vehicle has warmed up (GPS fix, EKF, home, pre-arm).
  expect(await v.waitFor((s) => warmingUp(s, DEFAULT_POLICY).length === 0, 60_000)).toBe(true);
  expect((await v.setMode('GUIDED')).ok).toBe(true);
  expect(await v.waitFor((s) => s.mode === 'GUIDED', 10_000)).toBe(true);
  expect((await v.arm()).ok).toBe(true);
  expect((await v.takeoff(10)).ok).toBe(true);
  expect(await v.waitFor((s) => (s.position?.altRelM ?? 0) > 8, 30_000)).toBe(true);
});

test('the recorded stream holds the frames both ways', async () => {
  const s = new Subjects();
  const rx = await bus.readRecorded(s.tlogStream, s.vehicle('field', 'link0-1', 'rx'));
  const tx = await bus.readRecorded(s.tlogStream, s.vehicle('field', 'link0-1', 'tx'));
  const rxNames = new Set(rx.flatMap((m) => decodeAll(Buffer.from(m.data)).map((f) => f.name)));
  const txNames = tx.flatMap((m) => decodeAll(Buffer.from(m.data)).map((f) => f.name));
  expect([...rxNames]).toEqual(expect.arrayContaining(['HEARTBEAT', 'GLOBAL_POSITION_INT', 'COMMAND_ACK']));
  expect(txNames).toEqual(expect.arrayContaining(['COMMAND_LONG']));
  expect(txNames).not.toContain('HEARTBEAT'); // the fleet sends none on a bus link
});

test('the lease lapses: heartbeats go on for the grace (no failsafe), then stop and the vehicle fails safe', async () => {
  const changes: Array<{ mode: string; t: number }> = [];
  agent.on('heartbeats', (e: { mode: string }) => changes.push({ mode: e.mode, t: Date.now() }));
  const t0 = Date.now();
  await attached.close(); // the node stops renewing, as if it had died
  // The last renewal's end: renewals are due every 250 ms, but on a loaded machine one can come late.
  const leaseUntil = agent.status().vehicles[0].leaseUntilMs!;
  await until(() => changes.some((c) => c.mode === 'grace'), 5000, 'grace');
  // 2.5 s into a 3 s grace is 25 s of sim time, five times FS_GCS_TIMEOUT: still flying as told.
  await new Promise((r) => setTimeout(r, 2500 - (Date.now() - changes[0].t)));
  expect(sims.instances[0].truth()).toMatchObject({ mode: 'GUIDED', armed: true });
  expect(texts.filter((t) => /GCS Failsafe/.test(t))).toEqual([]);
  await until(() => changes.some((c) => c.mode === 'stopped'), 5000, 'stopped');
  const stopped = changes.find((c) => c.mode === 'stopped')!;
  // The lease (ttl 1 s) lapsed at most 1 s after the node stopped, then the 3 s grace ran.
  expect(leaseUntil - t0).toBeLessThanOrEqual(1000);
  expect(stopped.t).toBeGreaterThanOrEqual(leaseUntil + 2950);
  expect(stopped.t - changes.find((c) => c.mode === 'grace')!.t).toBeGreaterThanOrEqual(2950);
  const sent = agent.status().links[0].heartbeatsSent;
  await until(() => sims.instances[0].truth().mode === 'RTL', 5000, 'RTL on GCS failsafe');
  expect(agent.status().links[0].heartbeatsSent).toBe(sent); // none after the grace
  // The fleet still hears the vehicle through the agent (the link stays): its own text says why.
  expect(agent.status().vehicles[0]).toMatchObject({ heartbeats: 'stopped', leaseHolder: 'node-a' });
});

test('a node that comes back takes the lease again and the heartbeats resume', async () => {
  await fleet.close();
  fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(SPEEDUP) });
  // Straight from the bus: the vehicle's text may come before the new fleet has heard its HEARTBEAT.
  const cleared: string[] = [];
  const sub = bus.subscribe(new Subjects().vehicle('field', 'link0-1', 'rx'), (m) => {
    for (const f of decodeAll(Buffer.from(m.data))) if (f.name === 'STATUSTEXT') cleared.push(String((f.data as unknown as { text: string }).text));
  });
  attached = attachBusVehicles({ bus, fleet, node: 'node-b', leaseTtlMs: 1000, renewMs: 250 });
  await until(() => !!fleet.get(VID)?.state.connected, 10_000, 're-attached');
  await until(() => agent.status().vehicles[0].heartbeats === 'leased', 5000, 'leased again');
  expect(agent.status().vehicles[0].leaseHolder).toBe('node-b');
  await until(() => cleared.some((t) => /GCS Failsafe Cleared/.test(t)), 10_000, 'failsafe cleared');
  sub.unsubscribe();
  expect(sims.instances[0].truth().mode).toBe('RTL'); // ArduPilot stays in RTL
});
