/**
 * The loopback relay the SITL launcher puts in front of ArduPilot SITL's SERIAL0, exercised against
 * the built-in simulator: a small bridge plays SITL's `--serial0 tcpclient:127.0.0.1:PORT` (it
 * connects out to the relay's vehicle port and carries the bytes to a simulated vehicle).
 */
import * as net from 'net';
import { startSimulators, SimFleet, BuiltinInstance } from '../../sims';
import { SitlRelay } from '../../sims/sitl-relay';
import { TestGcs, until } from './gcs-client';

/** What SITL does with `--serial0 tcpclient:…`: one outgoing connection, carrying its serial port. */
function sitlLikeClient(relayVehiclePort: number, vehiclePort: number): Promise<{ close(): void; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const out = net.connect(relayVehiclePort, '127.0.0.1');
    const veh = net.connect(vehiclePort, '127.0.0.1');
    let closed = false;
    const close = () => {
      closed = true;
      out.destroy();
      veh.destroy();
    };
    out.on('data', (b) => veh.write(b));
    veh.on('data', (b) => out.writable && out.write(b));
    out.on('close', close);
    veh.on('close', close);
    out.on('error', reject);
    let n = 0;
    const up = () => ++n === 2 && resolve({ close, closed: () => closed });
    out.once('connect', up);
    veh.once('connect', up);
  });
}

describe('SitlRelay', () => {
  let fleet: SimFleet & { instances: BuiltinInstance[] };
  let relay: SitlRelay;

  beforeAll(async () => {
    fleet = await startSimulators({ basePort: 0, speedup: 20, bootDelayS: 1 });
    relay = new SitlRelay();
    await relay.start();
  });
  afterAll(async () => {
    await relay.close();
    await fleet.stop();
  });

  test('listens on loopback only; frames pass both ways once the vehicle has connected out', async () => {
    const servers = [relay.port, relay.vehiclePort];
    expect(servers.every((p) => p > 0)).toBe(true);
    expect(relay.vehicleConnected).toBe(false);
    const bridge = await sitlLikeClient(relay.vehiclePort, fleet.instances[0].tcpPort);
    expect(await relay.waitVehicle(5000)).toBe(true);
    const gcs = await TestGcs.connect(relay.port);
    expect(await gcs.command(511, [33, 100000])).toBe(0);
    await gcs.next('GLOBAL_POSITION_INT');
    expect((gcs.sock.localAddress ?? '').startsWith('127.')).toBe(true);
    await gcs.close();
    bridge.close();
  });

  test('one ground station at a time, as on SITL: a second one hears nothing until the first leaves', async () => {
    const bridge = await sitlLikeClient(relay.vehiclePort, fleet.instances[0].tcpPort);
    await relay.waitVehicle(5000);
    await until(() => relay.vehicleConnected, 5000, 'vehicle');
    const first = await TestGcs.connect(relay.port);
    await first.next('HEARTBEAT');
    const second = await TestGcs.connect(relay.port);
    await new Promise((r) => setTimeout(r, 300));
    expect(second.frames.length).toBe(0);
    await first.close();
    await second.next('HEARTBEAT', () => true, 5000);
    expect(await second.command(511, [33, 100000])).toBe(0);
    await second.close();
    bridge.close();
  });

  test('the vehicle going away (a reboot) drops every ground station; after it connects again, they can reconnect', async () => {
    const bridge = await sitlLikeClient(relay.vehiclePort, fleet.instances[0].tcpPort);
    await until(() => relay.vehicleConnected, 5000, 'vehicle');
    const before = relay.vehicleConnections;
    const gcs = await TestGcs.connect(relay.port);
    await gcs.next('HEARTBEAT');
    bridge.close();
    await until(() => gcs.closed, 5000, 'ground station dropped');
    await gcs.close();
    expect(relay.vehicleConnected).toBe(false);
    const again = await sitlLikeClient(relay.vehiclePort, fleet.instances[0].tcpPort);
    await until(() => relay.vehicleConnections === before + 1 && relay.vehicleConnected, 5000, 'vehicle back');
    const gcs2 = await TestGcs.connect(relay.port);
    await gcs2.next('HEARTBEAT', () => true, 5000);
    await gcs2.close();
    again.close();
  });

  test('link faults apply to whole frames in both directions', async () => {
    const bridge = await sitlLikeClient(relay.vehiclePort, fleet.instances[0].tcpPort);
    await until(() => relay.vehicleConnected, 5000, 'vehicle');
    const gcs = await TestGcs.connect(relay.port);
    expect(await gcs.command(511, [33, 20000])).toBe(0);
    await gcs.next('GLOBAL_POSITION_INT');
    relay.faults.linkLoss = true;
    await new Promise((r) => setTimeout(r, 50));
    const n0 = gcs.frames.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(gcs.frames.length).toBe(n0);
    relay.faults.linkLoss = false;
    relay.faults.packetLossPct = 50;
    const lost0 = gcs.dec.stats.lost;
    await new Promise((r) => setTimeout(r, 300));
    expect(gcs.dec.stats.lost).toBeGreaterThan(lost0);
    relay.faults.packetLossPct = 0;
    await gcs.close();
    bridge.close();
  });
});
