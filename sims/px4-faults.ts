/**
 * The trainer's fault menu on PX4 SITL (SIH), where PX4 has an equivalent; link faults are applied by
 * the launcher's relay like everywhere else (sims/px4-sitl.ts).
 *
 *   gps-loss     SIM_GPS_USED 0: SIH's simulated GPS (sensor_gps_sim) reports no fix below 4 satellites
 *                (PX4's MAV_CMD_INJECT_FAILURE for GPS acts in the Gazebo/jMAVSim bridge only, not in
 *                SIH); cleared by restoring the count it had (PX4's default 10)
 *   battery-set  SIM_BAT_MIN_PCT = pct: PX4's battery simulator discharges down to it while armed, at
 *                SIM_BAT_DRAIN (it reads full again once disarmed); cleared by restoring the floor it had
 *   wind, battery-sag, release-failure: no PX4 SIH parameter for them → SimError SIM_UNKNOWN_FAULT
 *
 * Pure: returns the parameters to set; the instance sets them.
 */
import { SimError, type SimFault } from './index';

/** A parameter to set on PX4. */
export type Px4FaultAction = { param: string; value: number };

/** PX4's defaults of SIM_BAT_MIN_PCT and SIM_GPS_USED. */
const DEFAULT_MIN_PCT = 50;
const DEFAULT_GPS_USED = 10;

/** What to send PX4 to inject a fault; `known` gives parameter values PX4 reported (to restore later). */
export function px4InjectActions(fault: SimFault, known: (name: string) => number | undefined): { actions: Px4FaultAction[]; restore?: Record<string, number> } {
  switch (fault.kind) {
    case 'gps-loss':
      return { actions: [{ param: 'SIM_GPS_USED', value: 0 }], restore: { SIM_GPS_USED: known('SIM_GPS_USED') ?? DEFAULT_GPS_USED } };
    case 'battery-set': {
      if (!Number.isFinite(fault.pct) || fault.pct < 0 || fault.pct > 100) throw new SimError('SIM_INVALID_OPTION', `battery-set: pct must be 0..100, got ${fault.pct}`);
      return { actions: [{ param: 'SIM_BAT_MIN_PCT', value: fault.pct }], restore: { SIM_BAT_MIN_PCT: known('SIM_BAT_MIN_PCT') ?? DEFAULT_MIN_PCT } };
    }
    default:
      throw new SimError('SIM_UNKNOWN_FAULT', `fault '${fault.kind}' is not available on PX4 SITL (no SIH equivalent)`);
  }
}

/** What to send PX4 to clear a fault injected before (`restore`: values saved at injection). */
export function px4ClearActions(kind: SimFault['kind'], restore: Record<string, number>): Px4FaultAction[] {
  switch (kind) {
    case 'gps-loss':
      return [{ param: 'SIM_GPS_USED', value: restore.SIM_GPS_USED ?? DEFAULT_GPS_USED }];
    case 'battery-set':
      return [{ param: 'SIM_BAT_MIN_PCT', value: restore.SIM_BAT_MIN_PCT ?? DEFAULT_MIN_PCT }];
    default:
      throw new SimError('SIM_UNKNOWN_FAULT', `fault '${kind}' is not available on PX4 SITL`);
  }
}
