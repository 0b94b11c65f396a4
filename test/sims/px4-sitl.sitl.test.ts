/**
 * Real PX4 SITL (SIH quadcopter) through the launcher. Runs only when PX4_SITL names the px4 binary
 * of a px4_sitl_default build, e.g.
 *   PX4_SITL=~/PX4-Autopilot/build/px4_sitl_default/bin/px4 npx jest test/sims/px4-sitl.sitl.test.ts
 */
import * as dgram from 'dgram';
import { MavlinkDecoder, MavlinkEncoder, Frame } from '../../src/mavlink/codec';
import { msg, minimal } from '../../src/mavlink/registry';
import { parseLinkUri } from '../../src/link/link';
import { px4SitlAvailable, startPx4Sitl } from '../../sims/px4-sitl';

const available = px4SitlAvailable();
if (!available) {
  // eslint-disable-next-line no-console
  console.log('px4-sitl.sitl.test.ts skipped: set PX4_SITL to the px4 binary of a px4_sitl_default build (with etc/ beside bin/) to run it');
}
const run = available ? describe : describe.skip;

run('PX4 SITL launcher against real PX4 (SIH)', () => {
  let fleet: Awaited<ReturnType<typeof startPx4Sitl>>;
  beforeAll(async () => {
    fleet = await startPx4Sitl({ instances: 2, basePort: 0, speedup: 1 });
  }, 180000);
  afterAll(async () => {
    await fleet?.stop();
  }, 30000);

  test('each instance answers on its own uri as PX4 with its own sysid', async () => {
    expect(fleet.instances.map((i) => i.sysid)).toEqual([1, 2]);
    for (const inst of fleet.instances) {
      const u = parseLinkUri(inst.uri);
      expect(u.kind).toBe('udpout');
      const sock = dgram.createSocket('udp4');
      const enc = new MavlinkEncoder();
      const frames: Frame[] = [];
      const dec = new MavlinkDecoder((f) => frames.push(f));
      sock.on('message', (b) => dec.push(b));
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const hb = () => sock.send(enc.encode(msg(minimal.Heartbeat, { type: 6, autopilot: 8, baseMode: 0, customMode: 0, systemStatus: 4 })), u.port, u.host);
      hb();
      const timer = setInterval(hb, 500);
      const t0 = Date.now();
      while (!frames.some((f) => f.name === 'HEARTBEAT' && f.sysid === inst.sysid) && Date.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 100));
      clearInterval(timer);
      sock.close();
      const hbFrame = frames.find((f) => f.name === 'HEARTBEAT' && f.sysid === inst.sysid);
      expect(hbFrame).toBeDefined();
      expect((hbFrame!.data as unknown as { autopilot: number }).autopilot).toBe(12); // MAV_AUTOPILOT_PX4
    }
  }, 60000);
});
