/**
 * Built-in simulator cost: CPU per vehicle at 1× with full telemetry (every streamed message at
 * typical ground-station rates, one TCP client per vehicle), against the same fleet sending only
 * heartbeats. Vehicles per core = 100 % / CPU per vehicle.
 */
import * as net from 'net';
import type { BenchRecord } from './types';
import { startSimulators } from '../sims';
import { MavlinkEncoder } from '../src/mavlink/codec';
import { msg, common, minimal } from '../src/mavlink/registry';

const FULL: Array<[number, number]> = [[1, 2], [24, 5], [30, 10], [33, 10], [36, 5], [42, 2], [74, 5], [147, 2], [162, 1], [193, 2], [242, 0.5], [245, 2]];

async function measure(n: number, full: boolean, seconds: number): Promise<{ cpuPct: number; bytesPerS: number }> {
  const fleet = await startSimulators({ basePort: 0, instances: n, speedup: 1, bootDelayS: 1 });
  const socks: net.Socket[] = [];
  let bytes = 0;
  try {
    for (const inst of fleet.instances) {
      const s = net.connect(inst.tcpPort, '127.0.0.1');
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.on('data', (b) => (bytes += b.length));
      const enc = new MavlinkEncoder();
      s.write(enc.encode(msg(minimal.Heartbeat, { type: 6, autopilot: 8 })));
      if (full) for (const [id, hz] of FULL) s.write(enc.encode(msg(common.CommandLong, { targetSystem: inst.sysid, targetComponent: 1, command: 511, param1: id, param2: 1e6 / hz })));
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 500));
    bytes = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const c = process.cpuUsage(c0);
    const wallS = (performance.now() - t0) / 1000;
    return { cpuPct: ((c.user + c.system) / 1e6 / wallS) * 100, bytesPerS: bytes / wallS };
  } finally {
    for (const s of socks) s.destroy();
    await fleet.stop();
  }
}

export async function run(): Promise<BenchRecord[]> {
  const n = 20;
  const full = await measure(n, true, 5);
  const quiet = await measure(n, false, 5);
  const perVehicle = full.cpuPct / n;
  const perVehicleQuiet = quiet.cpuPct / n;
  return [
    {
      name: 'sims.builtin.cpu-per-vehicle-full-telemetry', value: perVehicle, unit: '%cpu', baseline: perVehicleQuiet, ratio: perVehicle / perVehicleQuiet,
      baselineName: 'same fleet, heartbeat only', note: `${n} vehicles at 1×, 50 Hz physics, ${Math.round(full.bytesPerS / n)} B/s telemetry per vehicle`,
    },
    {
      name: 'sims.builtin.vehicles-per-core-full-telemetry', value: 100 / perVehicle, unit: 'vehicles', baseline: 100 / perVehicleQuiet, ratio: perVehicleQuiet / perVehicle,
      baselineName: 'heartbeat only', note: 'extrapolated from CPU per vehicle (includes the client sockets in the same process)',
    },
  ];
}
