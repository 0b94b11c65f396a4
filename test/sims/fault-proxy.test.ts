import { startSimulators, SimFleet, BuiltinInstance } from '../../sims';
import { FaultProxy } from '../../sims/fault-proxy';
import { TestGcs, until } from './gcs-client';

describe('FaultProxy (link faults in front of SITL), exercised against the built-in simulator', () => {
  let fleet: SimFleet & { instances: BuiltinInstance[] };
  let proxy: FaultProxy;
  let gcs: TestGcs;
  beforeAll(async () => {
    fleet = await startSimulators({ basePort: 0, speedup: 20, bootDelayS: 1 });
    proxy = new FaultProxy({ host: '127.0.0.1', port: fleet.instances[0].tcpPort });
    await proxy.start();
    gcs = await TestGcs.connect(proxy.port);
  });
  afterAll(async () => {
    await gcs.close();
    await proxy.close();
    await fleet.stop();
  });

  test('frames pass both ways; packet loss drops some; link loss drops all until cleared', async () => {
    expect(await gcs.command(511, [33, 10000])).toBe(0);
    await gcs.next('GLOBAL_POSITION_INT');
    proxy.faults.packetLossPct = 50;
    const n0 = gcs.frames.filter((f) => f.name === 'GLOBAL_POSITION_INT').length;
    const lost0 = gcs.dec.stats.lost;
    await new Promise((r) => setTimeout(r, 300));
    const n1 = gcs.frames.filter((f) => f.name === 'GLOBAL_POSITION_INT').length;
    expect(n1).toBeGreaterThan(n0);
    expect(gcs.dec.stats.lost).toBeGreaterThan(lost0);
    proxy.faults.packetLossPct = 0;
    proxy.faults.linkLoss = true;
    await new Promise((r) => setTimeout(r, 50));
    const m0 = gcs.frames.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(gcs.frames.length).toBe(m0);
    proxy.faults.linkLoss = false;
    await gcs.next('GLOBAL_POSITION_INT', () => true, 5000);
    // Duplicates show up as repeated sequence numbers.
    proxy.faults.duplicatePct = 100;
    const seqs: number[] = [];
    const off = gcs.on((f) => f.sysid === 1 && seqs.push(f.seq));
    await until(() => seqs.length >= 100, 10000, 'frames');
    off();
    proxy.faults.duplicatePct = 0;
    expect(seqs.some((s, i) => i > 0 && s === seqs[i - 1])).toBe(true);
  });
});
