/**
 * The embedded demo's built-in simulators in processes of their own (src/sim-processes.ts,
 * sims/sim-process.ts): recorded in the data dir, re-attached by a restarted service, stopped by a
 * clean shutdown and left flying by a crash. The kill -9 test runs the service in its own process
 * (npx tsx, as durability.test.ts does) with its simulators at ×10, kills it mid-delivery and
 * restarts it on the same data dir.
 */
import { spawn, type ChildProcess } from 'child_process';
import fs from 'fs';
import net from 'net';
import os from 'os';
import path from 'path';
import readline from 'readline';
import { alive, attachSimProcess, simProcessDir, startSimProcess, type ProcessSimGroup, type SimProcessRecord } from '../../src/sim-processes';
import { DELIVERY_READY_SIM_PARAMS } from '../../src/service';
import { Client, waitFor, vehicleReady } from './support/client';

jest.setTimeout(300_000);

const ROOT = path.join(__dirname, '..', '..');
const dirs: string[] = [];
const children: ChildProcess[] = [];
const groups: ProcessSimGroup[] = [];

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-simproc-'));
  dirs.push(d);
  return d;
}

function readRecord(dir: string, linkId: string): SimProcessRecord {
  return JSON.parse(fs.readFileSync(path.join(simProcessDir(dir), `${linkId}.json`), 'utf8'));
}

/** Every simulator process a data dir records, killed (tests leave nothing running). */
function killRecorded(dir: string): void {
  let files: string[] = [];
  try {
    files = fs.readdirSync(simProcessDir(dir)).filter((f) => f.endsWith('.json'));
  } catch {
    return;
  }
  for (const f of files) {
    try {
      const rec = JSON.parse(fs.readFileSync(path.join(simProcessDir(dir), f), 'utf8')) as SimProcessRecord;
      if (alive(rec.pid)) process.kill(rec.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) await kill9(c).catch(() => undefined);
  for (const g of groups) await g.stop().catch(() => undefined);
  for (const d of dirs) {
    killRecorded(d);
    if (!process.env.KEEP_SIMPROC_DIRS) fs.rmSync(d, { recursive: true, force: true });
  }
});

test('a simulator process records itself, is re-attached by pid, rejects a bad fault with its code, and stops cleanly', async () => {
  const dir = tempDir();
  const home = { lat: 34.06, lon: 114.39, altAmslM: 100 };
  const g = await startSimProcess(dir, { linkId: 'sim0', index: 0, sysid: 1, speedup: 10, home, params: { ...DELIVERY_READY_SIM_PARAMS }, basePort: 0, site: 'Police Post 1' });
  groups.push(g);
  const inst = g.instances[0];
  const rec = readRecord(dir, 'sim0');
  expect(rec).toMatchObject({ pid: inst.pid, linkId: 'sim0', sysid: 1, site: 'Police Post 1', tcpPort: inst.tcpPort, speedup: 10 });
  expect(rec.pid).not.toBe(process.pid);
  expect(alive(rec.pid)).toBe(true);
  expect(inst.truth()).toMatchObject({ armed: false });
  expect(Math.abs(inst.truth().lat - home.lat)).toBeLessThan(1e-4);
  expect(inst.getParam('FS_GCS_ENABLE')).toBe(1);

  // A second attacher (a restarted service) finds the same process, not a new one.
  const again = await attachSimProcess(dir, 'sim0', 0, { sysid: 1 });
  expect(again).not.toBeNull();
  expect(again!.reattached).toBe(true);
  expect(again!.instances[0].pid).toBe(rec.pid);
  expect(again!.instances[0].uri).toBe(inst.uri);
  again!.instances[0].detach();

  // The control port answers only the holder of the record's token.
  for (const first of [{ id: 1, op: 'stop' }, { id: 1, op: 'hello', args: { token: 'x'.repeat(48) } }]) {
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      const sock = net.connect({ host: '127.0.0.1', port: rec.controlPort }, () => sock.write(JSON.stringify(first) + '\n'));
      sock.on('data', (b) => (got += String(b)));
      sock.on('close', () => resolve(got));
      sock.on('error', () => undefined);
    });
    expect(answer).toBe('');
  }
  expect(alive(rec.pid)).toBe(true);
  expect(rec.token).toMatch(/^[0-9a-f]{48}$/);
  expect(fs.statSync(path.join(simProcessDir(dir), 'sim0.json')).mode & 0o077).toBe(0);

  // Faults travel to the process; a fault it does not know comes back with its code.
  await expect(inst.inject({ kind: 'no-such-fault' } as never)).rejects.toMatchObject({ code: 'SIM_UNKNOWN_FAULT' });
  await inst.inject({ kind: 'gps-loss' } as never);
  expect(inst.activeFaults().map((f) => f.kind)).toContain('gps-loss');
  await inst.clearFault('gps-loss');
  expect(inst.activeFaults().map((f) => f.kind)).not.toContain('gps-loss');
  // Parcels are loaded into bays inside the process (as a crew does before a sortie); bad outputs come back with the code.
  await inst.loadParcels([10, 11]);
  expect(inst.truth().parcelsAboard).toEqual([10, 11]);
  await expect(inst.loadParcels([17])).rejects.toMatchObject({ code: 'SIM_INVALID_OPTION' });
  // A scenario runs inside the process, on the vehicle's own sim clock (2 sim-s = 0.2 s at ×10).
  await inst.runScenario({ name: 'test', description: 'wind after 2 s', zonesFile: '', launchSites: [], steps: [{ atS: 2, note: 'wind', inject: { kind: 'wind', speedMps: 6, fromDeg: 90 } }] });
  await waitFor(() => inst.activeFaults().some((f) => f.kind === 'wind'), 20_000, 'scenario step applied in the simulator process');
  await inst.clearFault('wind');

  // Asked for another vehicle on that link (sysid 7), a restarted service does not attach this one: it stops it.
  expect(await attachSimProcess(dir, 'sim0', 0, { sysid: 7 })).toBeNull();
  await waitFor(() => !alive(rec.pid), 10_000, 'the other vehicle stopped');

  await g.stop();
  expect(alive(rec.pid)).toBe(false);
  expect(fs.existsSync(path.join(simProcessDir(dir), 'sim0.json'))).toBe(false);
  expect(await attachSimProcess(dir, 'sim0', 0, { sysid: 1 })).toBeNull();
});

test('a simulator process that does not answer is asked again, and one that never answers is stopped, not left flying beside a new one', async () => {
  const dir = tempDir();
  const home = { lat: 34.06, lon: 114.39, altAmslM: 100 };
  const g = await startSimProcess(dir, { linkId: 'sim0', index: 0, sysid: 1, speedup: 10, home, params: { ...DELIVERY_READY_SIM_PARAMS }, basePort: 0, site: 'Police Post 1' });
  const pid = g.instances[0].pid;
  g.instances[0].detach();
  // Frozen for 4 s, past one request's 3 s (a busy machine): the attacher waits it out and gets the same process.
  process.kill(pid, 'SIGSTOP');
  const thaw = setTimeout(() => process.kill(pid, 'SIGCONT'), 4000);
  const warned: string[] = [];
  const again = await attachSimProcess(dir, 'sim0', 0, { sysid: 1 }, (w) => warned.push(w), 20_000);
  clearTimeout(thaw);
  expect(again?.reattached).toBe(true);
  expect(again!.instances[0].pid).toBe(pid);
  expect(warned.join('\n')).toMatch(/does not answer yet/);
  again!.instances[0].detach();
  // Frozen for good: after its patience the attacher stops it and removes its record.
  process.kill(pid, 'SIGSTOP');
  const gaveUp: string[] = [];
  expect(await attachSimProcess(dir, 'sim0', 0, { sysid: 1 }, (w) => gaveUp.push(w), 1000)).toBeNull();
  expect(gaveUp).toEqual([expect.stringMatching(/did not answer within 1000 ms.*stopping it/)]);
  await waitFor(() => !alive(pid), 10_000, 'the hung simulator gone');
  expect(gaveUp.join('\n')).toMatch(/did not answer within 1000 ms.*stopping it/);
  expect(fs.existsSync(path.join(simProcessDir(dir), 'sim0.json'))).toBe(false);
});

function startService(dir: string): Promise<{ child: ChildProcess; url: string; warnings: string[] }> {
  const child = spawn('npx', ['tsx', path.join(ROOT, 'test/service/support/service-main.ts')], {
    cwd: ROOT,
    // A GCS failsafe long enough to outlast the restart on a loaded machine (300 sim-s = 30 s at ×10).
    env: { ...process.env, DL_DATA_DIR: dir, DL_SIMS: '1', DL_SPEEDUP: '10', DL_SIM_PARAMS: JSON.stringify({ FS_GCS_TIMEOUT: 300 }), DL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: SIGKILL reaches npx, tsx and node alike (not the simulators: they have their own)
  });
  children.push(child);
  let stderr = '';
  const warnings: string[] = [];
  child.stderr!.on('data', (b) => (stderr = (stderr + String(b)).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start: ${stderr}`)), 120_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const m = JSON.parse(line);
        if (typeof m.msg === 'string' && /simulator/.test(m.msg)) warnings.push(m.msg);
        if (m.url) {
          clearTimeout(timer);
          resolve({ child, url: m.url, warnings });
        }
      } catch {
        /* log line */
      }
    });
    child.once('exit', (code) => reject(new Error(`service exited (${code}) before listening: ${stderr}`)));
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(-child.pid!, 'SIGKILL');
  });
}

test('kill -9 of the service mid-delivery: the same simulator process is re-attached, the delivery completes and the timeline records the gap', async () => {
  const dir = tempDir();
  const VID = 'sim0/1';
  const DROP: [number, number] = [114.3935, 34.0515];
  const first = await startService(dir);
  const rec = readRecord(dir, 'sim0');
  expect(alive(rec.pid)).toBe(true);
  const sup = await new Client(first.url).login('supervisor');
  const pol = (await sup.get('/api/policy')).body.policy;
  expect((await sup.put('/api/policy', { ...pol, vehicle: { ...pol.vehicle, gcsLossTimeoutMaxS: 300 } })).status).toBe(200);
  const op = await new Client(first.url).login('operator');
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body), 90_000, 'vehicle ready');
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin' }, requester: { name: 'Zhao' } });
  expect(created.status).toBe(201);
  const id = created.body.id;
  expect((await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID })).status).toBe(202);
  const before = await waitFor(async () => {
    const d = (await op.get(`/api/deliveries/${id}`)).body;
    return d.state === 'in-flight' ? d : null;
  }, 90_000, 'in-flight');

  // A vehicle a trainer adds is a process of its own too.
  const trainer = await new Client(first.url).login('trainer');
  const added = await trainer.post('/api/sim/vehicles', { kind: 'builtin', count: 1 });
  expect(added.status).toBe(201);
  expect(added.body.instances).toEqual([expect.objectContaining({ id: 'sim1', vehicleId: 'sim1/2' })]);
  const rec1 = readRecord(dir, 'sim1');

  const tKill = Date.now();
  await kill9(first.child);
  // The vehicles did not die with the service: their processes still run, the first still flying.
  expect(alive(rec.pid)).toBe(true);
  expect(alive(rec1.pid)).toBe(true);
  expect(readRecord(dir, 'sim0').pid).toBe(rec.pid);

  const second = await startService(dir);
  // Re-attached, not replaced: the same process, the same port (the service's own words if not).
  expect({ record: readRecord(dir, 'sim0'), replaced: second.warnings.filter((w) => /new one|stopping/.test(w)) }).toEqual({ record: rec, replaced: [] });
  const op2 = new Client(second.url);
  op2.token = op.token;
  const simList = (await op2.get('/api/sim')).body;
  expect(simList.instances).toEqual([expect.objectContaining({ id: 'sim0', vehicleId: VID, uri: rec.uri }), expect.objectContaining({ id: 'sim1', vehicleId: 'sim1/2', uri: rec1.uri })]);
  expect(readRecord(dir, 'sim1')).toEqual(rec1);

  const done = await waitFor(async () => {
    const d = (await op2.get(`/api/deliveries/${id}`)).body;
    return ['completed', 'failed', 'aborted'].includes(d.state) ? d : null;
  }, 180_000, 'completion after restart', 250);
  expect(done.failure).toBeUndefined();
  expect(done.state).toBe('completed');
  expect(done.flightId).toBe(before.flightId);
  expect(done.proofOfDrop.distanceToDropM).toBeLessThan(5);
  const events = done.timeline.map((e: any) => e.event ?? e.state);
  expect(events).not.toContain('LANDED_BEFORE_DROP');
  const lost = done.timeline.find((e: any) => e.event === 'link-lost');
  const regained = done.timeline.find((e: any) => e.event === 'link-regained');
  expect(lost?.detail).toMatchObject({ vehicleId: VID, reason: 'service-restarted' });
  expect(regained?.detail).toMatchObject({ vehicleId: VID, reason: 'service-restarted', from: lost.detail.from, state: { armed: true } });
  // The gap spans the restart: it begins no later than the kill and ends after it.
  expect(Date.parse(regained.detail.from)).toBeLessThanOrEqual(Date.parse(lost.at));
  expect(Date.parse(regained.detail.to)).toBeGreaterThan(Date.parse(regained.detail.from));
  expect(Date.parse(lost.detail.from)).toBeLessThanOrEqual(tKill);
  expect(regained.detail.gapS).toBeGreaterThanOrEqual((Date.parse(lost.at) - tKill) / 1000);

  // A clean shutdown stops the simulators it runs, and removes their records.
  await new Promise<void>((resolve) => {
    second.child.once('exit', () => resolve());
    process.kill(-second.child.pid!, 'SIGTERM');
  });
  // `exit` is npx's, which goes at once; the service itself is still closing (and stopping its simulators).
  await waitFor(() => !alive(rec.pid) && !alive(rec1.pid), 30_000, 'simulators stopped with the service');
  expect(fs.existsSync(path.join(simProcessDir(dir), 'sim0.json'))).toBe(false);
  expect(fs.existsSync(path.join(simProcessDir(dir), 'sim1.json'))).toBe(false);
});

test('kill -9 of the service and of its vehicle mid-delivery: the new vehicle on the ground is not taken for the landing of the job', async () => {
  const dir = tempDir();
  const VID = 'sim0/1';
  const first = await startService(dir);
  const rec = readRecord(dir, 'sim0');
  const sup = await new Client(first.url).login('supervisor');
  const pol = (await sup.get('/api/policy')).body.policy;
  expect((await sup.put('/api/policy', { ...pol, vehicle: { ...pol.vehicle, gcsLossTimeoutMaxS: 300 } })).status).toBe(200);
  const op = await new Client(first.url).login('operator');
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body), 90_000, 'vehicle ready');
  const id = (await op.post('/api/deliveries', { drop: [114.3935, 34.0515], priority: 'urgent', payload: { description: 'insulin' }, requester: { name: 'Zhao' } })).body.id;
  expect((await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID })).status).toBe(202);
  await waitFor(async () => (await op.get(`/api/deliveries/${id}`)).body.state === 'in-flight', 90_000, 'in-flight');

  await kill9(first.child);
  process.kill(rec.pid, 'SIGKILL'); // the vehicle vanishes in flight
  await waitFor(() => !alive(rec.pid), 10_000, 'vehicle process gone');

  const second = await startService(dir);
  const fresh = readRecord(dir, 'sim0');
  expect(fresh.pid).not.toBe(rec.pid); // only the missing vehicle is started again
  const op2 = new Client(second.url);
  op2.token = op.token;
  const d = await waitFor(async () => {
    const x = (await op2.get(`/api/deliveries/${id}`)).body;
    return x.timeline.some((e: any) => e.event === 'landing-unconfirmed') || x.state === 'failed' ? x : null;
  }, 90_000, 'the resumed tracker hears the new vehicle on the ground');
  expect(d.failure).toBeUndefined();
  expect(d.state).toBe('in-flight');
  expect(d.timeline.find((e: any) => e.event === 'link-lost')?.detail).toMatchObject({ vehicleId: VID, reason: 'service-restarted' });
  expect(d.timeline.find((e: any) => e.event === 'link-regained')?.detail).toMatchObject({ state: { armed: false, missionCurrent: 0 } });

  await new Promise<void>((resolve) => {
    second.child.once('exit', () => resolve());
    process.kill(-second.child.pid!, 'SIGTERM');
  });
  await waitFor(() => !alive(fresh.pid), 10_000, 'simulator stopped with the service');
});
