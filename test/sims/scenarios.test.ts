import * as dgram from 'dgram';
import { startSimulators } from '../../sims';
import { runScenario, scenarioOptions, scenarioZones, getScenario, SCENARIOS, Scenario } from '../../sims/scenarios';
import { parseArgs } from '../../sims/cli';
import { sitlAvailable, startSitl } from '../../sims/sitl';
import { startTestVehicles } from '../support/vehicles';
import { validateZones } from '../../planner/zones';
import { MavlinkDecoder, MavlinkEncoder, Frame } from '../../src/mavlink/codec';
import { msg, common } from '../../src/mavlink/registry';
import { TestGcs, until } from './gcs-client';

describe('scenarios', () => {
  test('the demo zone file is valid planner input and places vehicles at its launch sites', () => {
    const s = getScenario('demo');
    const zones = scenarioZones(s);
    const v = validateZones(zones);
    expect(v.ok).toBe(true);
    if (v.ok) {
      expect(v.zones.sealed.length).toBeGreaterThanOrEqual(3);
      expect(v.zones.noFly.length).toBeGreaterThanOrEqual(3);
      expect(v.zones.launchSites.length).toBeGreaterThanOrEqual(3);
      expect(v.zones.rallyPoints.length).toBeGreaterThanOrEqual(2);
    }
    const o = scenarioOptions('demo', { speedup: 2 });
    expect(o.instances).toBe(3);
    expect(o.speedup).toBe(2);
    expect(o.homes![0].lat).toBeCloseTo(34.0603, 4);
    for (const sc of Object.values(SCENARIOS)) expect(() => scenarioOptions(sc)).not.toThrow();
    expect(() => getScenario('nope')).toThrow(expect.objectContaining({ code: 'SCENARIO_UNKNOWN' }));
  });

  test('runScenario applies faults at their sim times', async () => {
    const fleet = await startSimulators({ basePort: 0, speedup: 50, instances: 2 });
    try {
      const sc: Scenario = {
        name: 't', description: 't', zonesFile: 'fugou.zones.geojson', launchSites: [],
        steps: [
          { atS: 5, instance: 0, inject: { kind: 'link-loss' }, note: 'lost' },
          { atS: 10, instance: 0, clear: 'link-loss', note: 'back' },
          { atS: 10, inject: { kind: 'wind', speedMps: 5, fromDeg: 90 }, note: 'wind' },
        ],
      };
      const t0 = fleet.simS;
      const seen: Array<{ s: number; loss: boolean }> = [];
      const progress: Array<ReturnType<typeof run.progress>> = [];
      const run = runScenario(fleet, sc, { onStep: () => {
        seen.push({ s: fleet.simS - t0, loss: fleet.instances[0].linkFaults.linkLoss });
        progress.push(run.progress());
      } });
      // Before the first step: running, nothing applied, on the simulator's clock.
      const before = run.progress();
      expect(before).toMatchObject({ name: 't', status: 'running' });
      expect(before.simS).toBeLessThan(5);
      expect(before.steps.map((x) => [x.n, x.atS, x.note, x.state])).toEqual([[0, 5, 'lost', 'pending'], [1, 10, 'back', 'pending'], [2, 10, 'wind', 'pending']]);
      await run.done;
      // After the first step: it is done at its sim time, the others pending, the clock past 5 s.
      expect(progress[0].status).toBe('running');
      expect(progress[0].steps.map((x) => x.state)).toEqual(['done', 'pending', 'pending']);
      expect(progress[0].steps[0].appliedAtS).toBeGreaterThanOrEqual(5);
      expect(progress[0].simS).toBeGreaterThanOrEqual(5);
      const after = run.progress();
      expect(after.status).toBe('done');
      expect(after.steps.every((x) => x.state === 'done' && x.appliedAtS! >= x.atS)).toBe(true);
      // The clock of a finished scenario stops at its last step.
      expect(after.simS).toBe(after.steps[2].appliedAtS);
      await new Promise((r) => setTimeout(r, 300));
      expect(run.progress().simS).toBe(after.simS);
      expect(run.log.map((l) => l.note)).toEqual(['lost', 'back', 'wind']);
      expect(seen[0].s).toBeGreaterThanOrEqual(5);
      expect(seen[0].s).toBeLessThan(5.5);
      expect(seen[0].loss).toBe(true);
      expect(seen[1].loss).toBe(false);
      expect(fleet.instances[1].vehicle.faults.wind?.speedMps).toBe(5);
      expect(fleet.instances[1].linkFaults.linkLoss).toBe(false);
      // A step the simulator refuses fails the scenario; a cancelled one stops its clock and applies nothing more.
      const bad = runScenario(fleet, { ...sc, name: 'bad', steps: [{ atS: 1, inject: { kind: 'packet-loss', pct: 500 }, note: 'too much' }, { atS: 1000, clear: 'wind', note: 'later' }] });
      await until(() => bad.progress().steps[0].state !== 'pending', 20000, 'first step');
      const p = bad.progress();
      expect(p.status).toBe('failed');
      expect(p.steps[0]).toMatchObject({ state: 'failed', note: 'too much' });
      expect(p.steps[0].error).toBeTruthy();
      bad.cancel();
      const c = bad.progress();
      expect(c.status).toBe('cancelled');
      await new Promise((r) => setTimeout(r, 300));
      expect(bad.progress().simS).toBe(c.simS);
    } finally {
      await fleet.stop();
    }
  });

  test('CLI arguments', () => {
    const a = parseArgs(['--count', '3', '--speedup', '2', '--param', 'FS_GCS_ENABLE=1', '--home', '34.1,114.2,55', '--personality', 'px4']);
    expect(a.opts).toMatchObject({ instances: 3, speedup: 2, params: { FS_GCS_ENABLE: 1 }, homes: [{ lat: 34.1, lon: 114.2, altAmslM: 55 }], personality: 'px4' });
    expect(() => parseArgs(['--speedup', 'fast'])).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
    expect(() => parseArgs(['--what'])).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
  });
});

describe('fleet', () => {
  test('N instances: distinct sysids and ports; udpOut sends to and accepts replies from a UDP peer', async () => {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const port = (udp.address() as { port: number }).port;
    const frames: Array<{ f: Frame; from: { address: string; port: number } }> = [];
    let lastFrom = { address: '', port: 0 };
    const dec = new MavlinkDecoder((f) => frames.push({ f, from: lastFrom }));
    udp.on('message', (b, rinfo) => {
      lastFrom = { address: rinfo.address, port: rinfo.port };
      dec.push(b);
    });
    const fleet = await startSimulators({ basePort: 0, speedup: 20, instances: 3, sysidBase: 11, udpOut: `127.0.0.1:${port}` });
    try {
      expect(fleet.instances.map((i) => i.sysid)).toEqual([11, 12, 13]);
      expect(new Set(fleet.instances.map((i) => i.tcpPort)).size).toBe(3);
      expect(fleet.instances[1].uri).toMatch(/^tcp:127\.0\.0\.1:\d+$/);
      await until(() => frames.some((x) => x.f.name === 'HEARTBEAT' && x.f.sysid === 11), 10000, 'UDP heartbeat');
      const src = frames.find((x) => x.f.sysid === 11)!.from;
      const enc = new MavlinkEncoder({ sysid: 255, compid: 190 });
      udp.send(enc.encode(msg(common.CommandLong, { targetSystem: 11, targetComponent: 1, command: 512, param1: 148 })), src.port, src.address);
      await until(() => frames.some((x) => x.f.name === 'AUTOPILOT_VERSION' && x.f.sysid === 11), 10000, 'reply over UDP');
      // The TCP side of another instance answers with its own sysid.
      const g = await TestGcs.connect(fleet.instances[2].tcpPort);
      const hb = await g.next('HEARTBEAT');
      expect(hb.sysid).toBe(13);
      await g.close();
    } finally {
      await fleet.stop();
      udp.close();
    }
  });

  test('startTestVehicles: built-in without ARDUPILOT_SITL, with the project parameters (gripper works at once)', async () => {
    if (sitlAvailable()) return; // covered by the SITL test below
    const fleet = await startTestVehicles({ speedup: 20 });
    try {
      expect(fleet.kind).toBe('builtin');
      const inst = fleet.instances[0];
      expect(inst.getParam('FENCE_TYPE')).toBe(5);
      expect(inst.getParam('FS_GCS_ENABLE')).toBe(1);
      const g = await TestGcs.connect(inst.tcpPort);
      expect(await g.command(211, [1, 0])).toBe(0);
      await until(() => inst.truth().payloadAttached === false, 5000, 'parcel released');
      await g.close();
    } finally {
      await fleet.stop();
    }
  });
});

describe('ArduPilot SITL launcher', () => {
  test('without ARDUPILOT_SITL it refuses with SITL_NOT_AVAILABLE', async () => {
    if (sitlAvailable()) return;
    await expect(startSitl()).rejects.toMatchObject({ code: 'SITL_NOT_AVAILABLE' });
  });

  (sitlAvailable() ? test : test.skip)('starts SITL, answers on TCP, reports truth, stops cleanly', async () => {
    const fleet = await startSitl({ basePort: 0, speedup: 5 });
    let g: TestGcs | undefined;
    try {
      const inst = fleet.instances[0];
      g = await TestGcs.connect(inst.tcpPort);
      const hb = await g.next('HEARTBEAT', () => true, 30000);
      expect(hb.sysid).toBe(1);
      await until(() => inst.getParam('FENCE_TYPE') === 5, 60000, 'project parameters');
    } finally {
      await g?.close();
      await fleet.stop();
    }
  }, 120000);
});
