/**
 * Tactical separation flown on ArduCopter SITL: the head-on scenario of
 * test/service/fleet-separation.test.ts (test/service/support/separation.ts) with two SITL copters
 * at Police Post 1, over the real API. The vehicle giving way is sent up by DO_REPOSITION (COMMAND_INT,
 * MAV_FRAME_GLOBAL_INT: ArduCopter switches to GUIDED and climbs where it stands) and sent on by
 * switching back to AUTO (ArduCopter resumes its current mission item from where it is): what real
 * firmware does with those commands is what this file checks. Skipped without ARDUPILOT_SITL (the
 * built-in simulator flies the same scenario in fleet-separation.test.ts).
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, DELIVERY_READY_SIM_PARAMS, type Service } from '../../src/service';
import { sitlAvailable } from '../../sims/sitl';
import type { SimFleet } from '../../sims';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { headOn } from './support/separation';
import { DEMO_DROPS } from '../planner/helpers';

jest.setTimeout(900_000);

const SPEEDUP = 10;
const SEP = { horizontalM: 30, verticalM: 10 };
const POLICE_POST = { lat: 34.06, lon: 114.39, altAmslM: 100 };
const suite = sitlAvailable() ? describe : describe.skip;

suite('tactical separation on ArduCopter SITL', () => {
  let dir: string;
  let vehicles: SimFleet;
  let svc: Service;
  let op: Client;
  let sup: Client;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-sep-sitl-'));
    // two copters a few metres apart at the post; FS_GCS_TIMEOUT 20 s of sim time as in the built-in test
    vehicles = await startTestVehicles({ instances: 2, speedup: SPEEDUP, homes: [POLICE_POST, { ...POLICE_POST, lon: POLICE_POST.lon + 0.00006 }], params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_TIMEOUT: 20 } });
    await seedTestUsers(dir);
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: vehicles.instances.map((i) => i.uri), heartbeatHz: gcsHeartbeatHzFor(SPEEDUP), vehicleClockRate: SPEEDUP, logLevel: 'silent' });
    op = await new Client(svc.url).login('operator');
    sup = await new Client(svc.url).login('supervisor');
    const policy = (await sup.get('/api/policy')).body.policy;
    const r = await sup.put('/api/policy', { ...policy, airspace: { deconflict: false, separation: { ...SEP } } });
    expect(r.status).toBe(200);
  }, 300_000);

  afterAll(async () => {
    await svc?.close();
    await vehicles?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('head-on on one corridor: the normal-priority copter climbs out of the way (DO_REPOSITION), goes back to AUTO once the other has passed; both deliveries complete; the closest approach stays above the separation', async () => {
    const ids = await waitFor(async () => {
      const vs = ((await op.get('/api/vehicles')).body as any[]).filter(vehicleReady);
      return vs.length === 2 ? vs.map((v) => v.id as string).sort() : null;
    }, 240_000, 'both SITL copters ready', 500);
    await headOn({ svc, op, sup, first: ids[0], second: ids[1], drop: DEMO_DROPS.riverside, sep: SEP });
  });
});
