/**
 * Continuity over NATS JetStream with real processes: the built-in simulator (or SITL) behind a
 * link agent, a service that takes the vehicle from the bus; both run as their own processes and
 * are killed with SIGKILL. The vehicle keeps the default GCS failsafe: FS_GCS_ENABLE 1 (RTL),
 * FS_GCS_TIMEOUT 5 s (0.5 s of wall time at ×10), and the agent its default 20 s grace.
 *
 * - commands from the service reach the vehicle (modes, arm, takeoff confirmed in telemetry);
 * - kill -9 of the service: no GCS failsafe while the agent's grace runs, the restarted service
 *   re-attaches and commands again;
 * - kill -9 of the service, no restart: after the grace the agent stops its heartbeats and the
 *   vehicle fails safe (RTL, "GCS Failsafe");
 * - kill -9 of the agent: the vehicle fails safe; the restarted agent re-attaches;
 * - the recorded stream holds the frames across all of it.
 */
import type { ChildProcess } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { decodeAll, type Frame } from '../../src/mavlink/codec';
import { openBus, Subjects, type Bus, type Presence } from '../../src/bus';
import { DELIVERY_READY_SIM_PARAMS } from '../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { natsSuite, natsTestRoot } from '../support/nats';
import { Client, waitFor } from '../service/support/client';
import { kill9, serviceLine, spawnChild as spawnProcess } from './support/processes';

jest.setTimeout(300_000);

const SPEEDUP = 10;
const SITE = 'field';
const TOKEN = 'radio-1';
const VID = `${SITE}.${TOKEN}/1`;
const GRACE_MS = 20_000; // the agent's default

natsSuite('link agent and service over NATS JetStream, killed with SIGKILL', (url) => {
  const root = natsTestRoot();
  const subjects = new Subjects(root);
  const children: ChildProcess[] = [];
  let dir: string;
  let sims: Awaited<ReturnType<typeof startTestVehicles>>;
  let bus: Bus;
  let agent: ChildProcess;
  let service: { child: ChildProcess; url: string; node: string };
  /** What the vehicle says, as seen on the bus. */
  const texts: Array<{ t: number; text: string }> = [];
  const presence: Array<{ t: number; p: Presence }> = [];

  const spawnChild = <T>(file: string, args: string[], env: Record<string, string>, ready: (line: string) => T | null | undefined | false) => spawnProcess(children, file, args, env, ready);

  const startAgentProcess = async () => {
    const uri = `${sims.instances[0].uri}?id=radio`;
    const r = await spawnChild('test/agent/support/agent-main.ts', ['--link', uri, '--bus', url, '--site', SITE, '--bus-prefix', root, '--heartbeat-hz', String(gcsHeartbeatHzFor(SPEEDUP)), '--log-level', 'warn'], {}, (l) =>
      l.startsWith('dropline agent:'),
    );
    agent = r.child;
  };

  const startServiceProcess = async () => {
    const r = await spawnChild('test/agent/support/service-main.ts', [], { DL_DATA_DIR: dir, DL_BUS: url, DL_BUS_PREFIX: root, DL_LOG_LEVEL: 'warn' }, serviceLine);
    service = { child: r.child, url: r.line.url, node: r.line.node! };
  };

  const lastPresence = () => presence[presence.length - 1]?.p;
  const failsafeTexts = (since: number) => texts.filter((x) => x.t >= since && /GCS Failsafe$/.test(x.text));
  const api = async (c: Client) => (await c.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body;
  const command = async (c: Client, body: object) => {
    const r = await c.post(`/api/vehicles/${encodeURIComponent(VID)}/commands`, { confirm: true, ...body });
    expect({ status: r.status, body: r.body }).toMatchObject({ status: 200, body: { ok: true } });
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-agent-'));
    sims = await startTestVehicles({
      instances: 1,
      speedup: SPEEDUP,
      homes: [{ lat: 34.06, lon: 114.39, altAmslM: 100 }],
      // The vehicle's failsafe as shipped to the field: on, 5 s, RTL. A large battery keeps it in the air for the whole test.
      // FS_OPTIONS 0: ArduCopter's default 16 lets a GCS failsafe "continue pilot control" in modes
      // that are not autopilot modes (BRAKE, LOITER…) instead of RTL; here it acts in every mode.
      params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5, FS_OPTIONS: 0 },
    });
    bus = await openBus(url);
    bus.subscribe(subjects.vehicle(SITE, TOKEN, 'rx'), (m) => {
      for (const f of decodeAll(Buffer.from(m.data)) as Frame[])
        if (f.name === 'STATUSTEXT') texts.push({ t: Date.now(), text: String((f.data as unknown as { text: string }).text) });
    });
    bus.subscribe(subjects.vehicle(SITE, TOKEN, 'presence'), (m) => presence.push({ t: Date.now(), p: JSON.parse(Buffer.from(m.data).toString()) }));
    await startAgentProcess();
    await startServiceProcess();
  }, 180_000);

  afterAll(async () => {
    for (const c of children) await kill9(c).catch(() => undefined);
    await bus?.removeRecording(subjects.tlogStream).catch(() => undefined);
    await bus?.close();
    await sims?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the service sees the vehicle through the agent, holds its lease, and commands reach it', async () => {
    const admin = await new Client(service.url).login('admin');
    const v = await waitFor(async () => {
      const b = await api(admin);
      return b?.connected && b.home && b.readiness?.ready === true ? b : null;
    }, 60_000, 'vehicle ready through the bus');
    expect(v).toMatchObject({ id: VID, linkId: `${SITE}.${TOKEN}`, sysid: 1, autopilot: 'ardupilot', simulated: false });
    await waitFor(() => lastPresence()?.heartbeats === 'leased' && lastPresence()?.leaseHolder === service.node, 10_000, 'lease held by the service');
    expect(lastPresence()).toMatchObject({ site: SITE, vehicle: TOKEN, link: 'radio', linkUp: true, connected: true });
    await command(admin, { action: 'mode', mode: 'GUIDED' });
    await waitFor(async () => (await api(admin)).mode === 'GUIDED', 10_000, 'GUIDED in telemetry');
    await command(admin, { action: 'arm' });
    await command(admin, { action: 'takeoff', altM: 10 });
    await waitFor(async () => ((await api(admin)).position?.altRelM ?? 0) > 8, 30_000, 'at 10 m');
    expect(sims.instances[0].truth()).toMatchObject({ mode: 'GUIDED', armed: true });
  });

  test('kill -9 of the service: no GCS failsafe while the agent bridges the restart; the new service re-attaches and commands', async () => {
    const tKill = Date.now();
    const before = service.node;
    await kill9(service.child);
    await waitFor(() => lastPresence()?.heartbeats === 'grace', 10_000, 'grace after the lease lapsed');
    await startServiceProcess();
    const admin = await new Client(service.url).login('admin');
    await waitFor(async () => (await api(admin))?.connected === true, 20_000, 're-attached');
    await waitFor(() => lastPresence()?.heartbeats === 'leased' && lastPresence()?.leaseHolder === service.node, 10_000, 'lease taken by the new service');
    expect(service.node).not.toBe(before);
    const gapMs = Date.now() - tKill;
    expect(gapMs).toBeLessThan(GRACE_MS); // inside the grace (and far beyond FS_GCS_TIMEOUT: 5 s sim = 0.5 s here)
    expect(failsafeTexts(tKill)).toEqual([]);
    expect(sims.instances[0].truth()).toMatchObject({ mode: 'GUIDED', armed: true });
    expect((await api(admin)).mode).toBe('GUIDED');
    // BRAKE holds position and altitude by itself; LOITER follows the pilot's sticks, and real
    // ArduCopter SITL's RC input rests at throttle 1000: in LOITER it descends, lands and disarms.
    await command(admin, { action: 'mode', mode: 'BRAKE' });
    await waitFor(async () => (await api(admin)).mode === 'BRAKE', 10_000, 'BRAKE in telemetry');
  });

  test('kill -9 of the service, no restart: heartbeats go on for the grace, then stop, and the vehicle fails safe', async () => {
    const tKill = Date.now();
    await kill9(service.child);
    await waitFor(() => lastPresence()?.heartbeats === 'grace', 10_000, 'grace');
    const graceFrom = presence.find((x) => x.t >= tKill && x.p.heartbeats === 'grace')!.p;
    expect(graceFrom.graceUntilMs! - graceFrom.leaseUntilMs!).toBe(GRACE_MS);
    // Most of the grace gone (150 s of sim time): still flying as commanded.
    await new Promise((r) => setTimeout(r, Math.max(0, graceFrom.graceUntilMs! - 3000 - Date.now())));
    expect(failsafeTexts(tKill)).toEqual([]);
    expect(sims.instances[0].truth()).toMatchObject({ mode: 'BRAKE', armed: true });
    await waitFor(() => lastPresence()?.heartbeats === 'stopped', 10_000, 'heartbeats stopped');
    const fs1 = await waitFor(() => failsafeTexts(tKill)[0], 10_000, '"GCS Failsafe" from the vehicle');
    expect(fs1.t).toBeGreaterThanOrEqual(graceFrom.graceUntilMs!);
    await waitFor(() => sims.instances[0].truth().mode === 'RTL', 5000, 'RTL');
    const sent = lastPresence()!.heartbeatsSent;
    await new Promise((r) => setTimeout(r, 1500));
    expect(lastPresence()!.heartbeatsSent).toBe(sent);
  });

  test('kill -9 of the agent: the vehicle fails safe; the restarted agent re-attaches', async () => {
    // A service again (it re-attaches; the vehicle stays in RTL and lands), then a new flight.
    await startServiceProcess();
    const admin = await new Client(service.url).login('admin');
    await waitFor(async () => (await api(admin))?.connected === true, 20_000, 're-attached');
    await waitFor(() => texts.some((x) => /GCS Failsafe Cleared/.test(x.text)), 10_000, 'failsafe cleared');
    await waitFor(async () => {
      const b = await api(admin);
      return !b.armed && b.readiness?.ready === true;
    }, 60_000, 'landed and ready');
    await command(admin, { action: 'mode', mode: 'GUIDED' });
    await waitFor(async () => (await api(admin)).mode === 'GUIDED', 10_000, 'GUIDED');
    await command(admin, { action: 'arm' });
    await command(admin, { action: 'takeoff', altM: 10 });
    await waitFor(async () => ((await api(admin)).position?.altRelM ?? 0) > 8, 30_000, 'at 10 m again');

    await kill9(agent);
    // Nobody sends heartbeats any more: the vehicle's own failsafe, FS_GCS_TIMEOUT (0.5 s here) later.
    await waitFor(() => sims.instances[0].truth().mode === 'RTL', 10_000, 'RTL after the agent died');
    await waitFor(async () => (await api(admin)).connected === false, 10_000, 'the service shows the vehicle lost');

    await startAgentProcess();
    await waitFor(async () => (await api(admin)).connected === true, 20_000, 're-attached through the new agent');
    await waitFor(() => lastPresence()?.heartbeats === 'leased' && lastPresence()?.leaseHolder === service.node, 10_000, 'lease held again');
    expect((await api(admin)).mode).toBe('RTL'); // what the vehicle did while nobody could command it
    await waitFor(() => texts.some((x, i) => /GCS Failsafe Cleared/.test(x.text) && i > texts.findIndex((y) => /GCS Failsafe Cleared/.test(y.text))), 10_000, 'failsafe cleared again');
    await command(admin, { action: 'mode', mode: 'LAND' });
    await waitFor(async () => (await api(admin)).mode === 'LAND', 10_000, 'LAND in telemetry');
  });

  test('the recorded stream holds the frames of every run, both ways', async () => {
    const rx = await bus.readRecorded(subjects.tlogStream, subjects.vehicle(SITE, TOKEN, 'rx'));
    const tx = await bus.readRecorded(subjects.tlogStream, subjects.vehicle(SITE, TOKEN, 'tx'));
    const rxFrames = rx.flatMap((m) => decodeAll(Buffer.from(m.data)));
    const txFrames = tx.flatMap((m) => decodeAll(Buffer.from(m.data)));
    expect(rxFrames.filter((f) => f.name === 'HEARTBEAT').length).toBeGreaterThan(20);
    const rxTexts = rxFrames.filter((f) => f.name === 'STATUSTEXT').map((f) => String((f.data as unknown as { text: string }).text));
    expect(rxTexts).toEqual(expect.arrayContaining(['GCS Failsafe', 'GCS Failsafe Cleared']));
    // Each commanded mode is in the stream: from the first service, the restarted one, and the last.
    const modes = txFrames.filter((f) => f.name === 'COMMAND_LONG' && (f.data as unknown as { command: number }).command === 176).map((f) => (f.data as unknown as { param2: number }).param2);
    expect(modes).toEqual(expect.arrayContaining([4, 17, 9])); // GUIDED, BRAKE, LAND
    expect(rx[0].timeMs).toBeLessThan(tx[tx.length - 1].timeMs);
  });
});
