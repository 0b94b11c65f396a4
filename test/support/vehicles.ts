/**
 * Vehicles for protocol and delivery tests: ArduPilot SITL when ARDUPILOT_SITL names the binary
 * (PX4 SITL when PX4_SITL names a px4 binary and the PX4 personality is asked for), the built-in
 * simulator otherwise. All get the project's parameters (failsafes on, gripper on a servo, fence on;
 * ArduPilot: SERVO9, FENCE_TYPE 5), so tests need no branches.
 *
 * Defaults here differ from startSimulators(): basePort 0 (free ports), speedup 10. The built-in
 * simulator boots as ArduCopter SITL does (the EKF uses GPS 41 sim-seconds after boot): tests wait
 * for a vehicle to be ready as an operator would.
 */
import { startSimulators, SimFleet, SimOptions } from '../../sims';
import { sitlAvailable, startSitl, PROJECT_PARAMS } from '../../sims/sitl';
import { px4SitlAvailable, startPx4Sitl, PX4_PROJECT_PARAMS } from '../../sims/px4-sitl';

export async function startTestVehicles(opts: SimOptions = {}): Promise<SimFleet & { kind: 'builtin' | 'sitl' }> {
  const merged: SimOptions = { basePort: 0, speedup: 10, ...opts, params: { ...PROJECT_PARAMS, ...(opts.params ?? {}) } };
  if (opts.personality === 'px4' && px4SitlAvailable() && !opts.udpOut) {
    // PX4 takes PX4 parameter names: the project's PX4 set plus what the caller asked for.
    const f = await startPx4Sitl({ ...merged, params: { ...PX4_PROJECT_PARAMS, ...(opts.params ?? {}) } });
    return Object.assign(f, { kind: 'sitl' as const });
  }
  if (sitlAvailable() && opts.personality !== 'px4') {
    const f = await startSitl(merged);
    return Object.assign(f, { kind: 'sitl' as const });
  }
  // The built-in PX4 personality takes the project's PX4 names too (each personality ignores the other's).
  const f = await startSimulators(opts.personality === 'px4' ? { ...merged, params: { ...PROJECT_PARAMS, ...PX4_PROJECT_PARAMS, ...(opts.params ?? {}) } } : merged);
  return Object.assign(f, { kind: 'builtin' as const });
}

/**
 * GCS heartbeat rate for a fleet that talks to vehicles running `speedup` times faster than real
 * time. The vehicle's GCS failsafe (FS_GCS_TIMEOUT, 5 s) counts sim seconds, so the usual 2 Hz is a
 * 5 s sim gap at speedup 10; twice the speedup leaves margin for a loaded machine.
 */
export function gcsHeartbeatHzFor(speedup: number): number {
  return Math.max(2, 2 * speedup);
}
