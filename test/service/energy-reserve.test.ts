/**
 * Energy grounded in the vehicle, on the demo as it runs: the service's built-in simulator flies the
 * demo airframe (the planner's default profile, 6S 20 Ah = 444 Wh) over real sockets at speed-up 10.
 * A delivery from the police station to the Jianshe Road compound (where the demo's jobs once ended
 * in "Battery 1 is low" → RTL before the drop) is planned, passes the preflight on the vehicle's own
 * pack, flies, and lands with the reserve the plan said it would: within 20 % of it.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { Client, waitFor, vehicleReady } from './support/client';
import { seedTestUsers } from './support/users';
import { NOMINAL_CELL_V } from '../../src/delivery/battery-profile';

jest.setTimeout(300_000);

const VID = 'sim0/1';
/** Jianshe Road compound (the demo zones), about 1.4 km from the police station launch site. */
const DROP: [number, number] = [114.3808, 34.05437];
let dir: string;
let svc: Service;
let op: Client;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-energy-'));
  await seedTestUsers(dir);
  // No zonesFile: the demo scenario's zones, as `npm start` seeds them.
  svc = await startService({ port: 0, dataDir: dir, simulators: 1, simSpeedup: 10, demoUsers: false, logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body), 120_000, 'vehicle ready');
});

afterAll(async () => {
  await svc?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a demo delivery on the built-in simulator lands with the planned reserve (within 20 %)', async () => {
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin', massKg: 1 } });
  expect(created.status).toBe(201);
  const id = created.body.id;
  const plan = created.body.plan;
  const pre = await op.get(`/api/deliveries/${id}/preflight?vehicleId=${encodeURIComponent(VID)}`);
  expect(pre.body.ok).toBe(true);
  const checks = Object.fromEntries(pre.body.checks.map((c: any) => [c.name, c]));
  expect(checks.battery_match.ok).toBe(true);
  // The vehicle's own pack: 20000 mAh × 6 × 3.7 V.
  expect(checks.energy_reserve.detail).toMatch(/of 444\.0 Wh\)$/);

  const v = svc.fleet.get(VID)!;
  const capMah = svc.sims!.instances[0].getParam('BATT_CAPACITY')!;
  const whPerMah = (6 * NOMINAL_CELL_V) / 1000;
  const startConsumed = v.state.battery!.consumedMah;
  const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID });
  expect(disp.status).toBe(202);
  const done = await waitFor(async () => {
    const d = (await op.get(`/api/deliveries/${id}`)).body;
    if (d.state === 'failed' || d.state === 'aborted') throw new Error(`delivery ${d.state}: ${JSON.stringify(d.failure ?? d.abortReason)}`);
    return d.state === 'completed' ? d : null;
  }, 240_000, 'delivery completed', 250);
  expect(done.proofOfDrop).toBeTruthy();
  const endConsumed = v.state.battery!.consumedMah;
  const plannedAtLandingWh = (capMah - startConsumed) * whPerMah - plan.energyWh;
  const measuredAtLandingWh = (capMah - endConsumed) * whPerMah;
  const usedWh = (endConsumed - startConsumed) * whPerMah;
  // Reported for the record (the figures in the closing note come from here).
  console.log(`energy: planned ${plan.energyWh.toFixed(1)} Wh, used ${usedWh.toFixed(1)} Wh; at landing planned ${plannedAtLandingWh.toFixed(1)} Wh, measured ${measuredAtLandingWh.toFixed(1)} Wh`);
  expect(Math.abs(measuredAtLandingWh - plannedAtLandingWh)).toBeLessThanOrEqual(0.2 * plannedAtLandingWh);
  // Stricter than the reserve: the energy spent is the planned energy within 20 % (the simulator drains
  // its pack by the profile's power model; the firmware's own phases, the slow final landing, differ).
  expect(Math.abs(usedWh - plan.energyWh)).toBeLessThanOrEqual(0.2 * plan.energyWh);
  // The plan's reserve (25 % of the vehicle's pack) is kept, and no battery failsafe spoke.
  expect(measuredAtLandingWh).toBeGreaterThan(0.25 * capMah * whPerMah);
  const alerts = (await op.get('/api/alerts')).body;
  expect(JSON.stringify(alerts)).not.toMatch(/Battery 1 is (low|critical)/);
});
