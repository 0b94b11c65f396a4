/**
 * Vehicles for protocol and delivery tests: ArduPilot SITL when ARDUPILOT_SITL names the binary,
 * the built-in simulator otherwise. Both get the project's parameters (failsafes on, gripper on
 * SERVO9, FENCE_TYPE 5), so tests need no branches.
 *
 * Defaults here differ from startSimulators(): basePort 0 (free ports), speedup 10, boot 3 s sim.
 */
import { startSimulators, SimFleet, SimOptions } from '../../sims';
import { sitlAvailable, startSitl, PROJECT_PARAMS } from '../../sims/sitl';

export async function startTestVehicles(opts: SimOptions = {}): Promise<SimFleet & { kind: 'builtin' | 'sitl' }> {
  const merged: SimOptions = { basePort: 0, speedup: 10, ...opts, params: { ...PROJECT_PARAMS, ...(opts.params ?? {}) } };
  if (sitlAvailable() && opts.personality !== 'px4') {
    const f = await startSitl(merged);
    return Object.assign(f, { kind: 'sitl' as const });
  }
  const f = await startSimulators({ bootDelayS: 3, ...merged });
  return Object.assign(f, { kind: 'builtin' as const });
}
