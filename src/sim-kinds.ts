/**
 * The kinds of simulated vehicle a trainer can start beside the built-in ones: the built-in
 * simulator (demo airframe), ArduCopter SITL and PX4 SITL (SIH), one instance per call, each a
 * SimFleet of its own so that any one can be stopped. The SITL kinds need their binaries
 * (`npm start -- --sitl PATH [--sitl-defaults FILES] [--px4-sitl PATH]`); every one is reached
 * through a relay of the launcher that applies the trainer's link faults, and takes the vehicle
 * faults its firmware offers (sims/sitl.ts and sims/px4-faults.ts: SIM_* parameters).
 */
import { startSimulators, SimError, type SimFleet } from '../sims';
import { startSitl, sitlAvailable } from '../sims/sitl';
import { startPx4Sitl, px4SitlPaths } from '../sims/px4-sitl';
import { DEMO_AIRFRAME } from '../sims/airframe';

export const SIM_KINDS = ['builtin', 'arducopter-sitl', 'px4-sitl'] as const;
export type SimKind = (typeof SIM_KINDS)[number];

/** Firmware binaries for the SITL kinds (none: only the built-in simulator). */
export interface SitlBinaries {
  /** ArduCopter SITL `arducopter` binary. */
  arducopter?: string;
  /** Defaults files ArduCopter SITL loads before the project's parameters (e.g. copter.parm). */
  arducopterDefaults?: string[];
  /** PX4 `px4` binary of a px4_sitl_default build. */
  px4?: string;
}

/** Running SITL processes at once, across kinds: each is a whole autopilot (two cores shared by all). */
export const MAX_SITL_INSTANCES = 4;

/** Why a kind cannot be started here, or null when it can. */
export function kindUnavailable(kind: SimKind, bins: SitlBinaries): string | null {
  if (kind === 'builtin') return null;
  if (kind === 'arducopter-sitl') {
    if (!bins.arducopter) return 'no ArduCopter SITL binary configured (start the service with --sitl PATH)';
    return sitlAvailable(bins.arducopter) ? null : `${bins.arducopter} is not an executable file`;
  }
  if (!bins.px4) return 'no PX4 SITL binary configured (start the service with --px4-sitl PATH)';
  const p = px4SitlPaths(bins.px4);
  return p.ok ? null : p.message;
}

/** The kinds this service can start. */
export function availableKinds(bins: SitlBinaries): SimKind[] {
  return SIM_KINDS.filter((k) => kindUnavailable(k, bins) === null);
}

export interface StartOneOptions {
  sysid: number;
  speedup: number;
  home?: { lat: number; lon: number; altAmslM?: number };
  /** Built-in: the parameter set (delivery-ready + the service's overrides). SITL kinds: overrides of the project's parameters. */
  params: Record<string, number>;
  /** Built-in only: TCP port (0 = any free). */
  basePort?: number;
  /** Built-in only: the signing key it already holds. */
  signingKey?: Buffer;
  bins: SitlBinaries;
}

/** Start one vehicle of a kind. SimError SITL_NOT_AVAILABLE when the kind cannot run here. */
export async function startOne(kind: SimKind, o: StartOneOptions): Promise<SimFleet> {
  const why = kindUnavailable(kind, o.bins);
  if (why) throw new SimError('SITL_NOT_AVAILABLE', why);
  const homes = o.home ? [o.home] : undefined;
  if (kind === 'builtin') {
    return startSimulators({
      instances: 1, basePort: o.basePort ?? 0, sysidBase: o.sysid, speedup: o.speedup, homes, params: o.params, signingKey: o.signingKey,
      // Drains its pack as the planner's default profile says the demo airframe does.
      airframe: DEMO_AIRFRAME,
    });
  }
  if (kind === 'arducopter-sitl') {
    // With the launcher's ADS-B receiver: the trainer's 'adsb-traffic' fault works on it as on the built-in kind.
    return startSitl({ instances: 1, basePort: 0, sysidBase: o.sysid, speedup: o.speedup, homes, params: o.params, bin: o.bins.arducopter, defaults: o.bins.arducopterDefaults ?? [], adsbReceiver: true });
  }
  return startPx4Sitl({ instances: 1, basePort: 0, sysidBase: o.sysid, speedup: o.speedup, homes, params: o.params, bin: o.bins.px4 });
}
