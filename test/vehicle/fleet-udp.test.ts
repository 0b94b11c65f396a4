/** The fleet on a udpin link: simulated vehicles send to us first (like SITL's --out); we answer each. */
import { createFleet, Fleet } from '../../src/fleet';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { until } from './wait';

let fleet: Fleet;
const sims: Array<Awaited<ReturnType<typeof startTestVehicles>>> = [];

afterAll(async () => {
  await fleet?.close();
  await Promise.all(sims.map((s) => s.stop()));
});

test('udpin: two vehicles sending to one port are both discovered and both answered', async () => {
  fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(10), timesyncMs: 500 });
  fleet.addLink('udpin:127.0.0.1:0', { id: 'gcs' });
  await until(() => fleet.links()[0].local !== null, 10000, 'bound');
  const port = fleet.links()[0].local!.port;
  for (const sysid of [11, 12]) sims.push(await startTestVehicles({ instances: 1, basePort: 0, speedup: 10, udpOut: `127.0.0.1:${port}`, sysidBase: sysid }));
  await until(() => fleet.vehicles().length === 2, 30000, 'discovery over UDP');
  for (const id of ['gcs/11', 'gcs/12']) {
    const v = fleet.get(id)!;
    // Our answers reach every remote that spoke: a command round trip and the TIMESYNC rtt.
    const r = await v.setMessageInterval(33, 200000);
    expect(r).toMatchObject({ ok: true, result: 'ACCEPTED' });
    await until(() => v.state.link.rttMs !== null && v.state.position !== null, 10000, `rtt and position of ${id}`);
  }
  expect(fleet.links()[0].stats.packetsOut).toBeGreaterThan(0);
}, 60000);
