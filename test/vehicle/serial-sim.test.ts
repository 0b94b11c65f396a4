/**
 * The serial transport for real: a pseudo-terminal pair bridged to a simulated vehicle's TCP port
 * (test/vehicle/fixtures/pty-bridge.py, as `socat pty,raw tcp:…` would), opened as
 * serial:/dev/pts/N:57600 by the fleet.
 */
import { spawn, spawnSync, ChildProcessWithoutNullStreams } from 'child_process';
import * as path from 'path';
import { createFleet, Fleet } from '../../src/fleet';
import { until } from './wait';

const python = ['python3', 'python'].find((p) => spawnSync(p, ['-c', 'import pty, tty'], { stdio: 'ignore' }).status === 0);

let sims: { instances: Array<{ uri: string; sysid: number }>; stop(): Promise<void> };
let bridge: ChildProcessWithoutNullStreams;
let fleet: Fleet;

beforeAll(async () => {
  if (!python) throw new Error('python3 with the pty module is needed for the serial test');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startSimulators } = require('../../sims');
  sims = await startSimulators({ instances: 1, basePort: 0, speedup: 10, sysidBase: 42 });
  const m = /^tcp:([^:]+):(\d+)$/.exec(sims.instances[0].uri)!;
  bridge = spawn(python, [path.join(__dirname, 'fixtures', 'pty-bridge.py'), m[1], m[2]]);
  const ptyPath = await new Promise<string>((resolve, reject) => {
    let out = '';
    bridge.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    bridge.on('exit', (code) => reject(new Error(`pty bridge exited with ${code}`)));
  });
  fleet = createFleet();
  fleet.addLink(`serial:${ptyPath}:57600`, { id: 'radio' });
}, 60000);

afterAll(async () => {
  await fleet?.close();
  bridge?.stdin.end();
  bridge?.kill();
  await sims?.stop();
});

test('serial link over a pseudo-terminal: discovery, telemetry, a command and a parameter', async () => {
  await until(() => fleet.vehicles().length === 1, 30000, 'discovery over serial');
  const v = fleet.get('radio/42')!;
  expect(v).toBeDefined();
  // Ready (home, GPS, EKF): a mode set while the autopilot still boots is overwritten when init ends.
  expect(await v.waitFor((s) => s.home !== null && (s.gps?.fixType ?? 0) >= 3 && ((s.ekfFlags ?? 0) & 0x33f) === 0x33f && ((s.sensorsHealth ?? 0) & (1 << 28)) !== 0, 30000)).toBe(true);
  expect((await v.setMode('GUIDED')).ok).toBe(true);
  expect(await v.waitFor((s) => s.mode === 'GUIDED', 10000)).toBe(true);
  expect(await v.getParam('FENCE_RADIUS')).toMatchObject({ ok: true });
  const link = fleet.links()[0];
  expect(link).toMatchObject({ id: 'radio', up: true });
  expect(link.stats.bytesIn).toBeGreaterThan(200);
  expect(link.stats.framesIn).toBeGreaterThan(5);
  expect(link.stats.crcErrors).toBe(0);
}, 60000);
