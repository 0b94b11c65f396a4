/**
 * The trainer's fault menu on PX4 SITL (SIH), where PX4 has an equivalent; link faults are applied by
 * the launcher's relay like everywhere else (sims/px4-sitl.ts).
 *
 *   gps-loss     MAV_CMD_INJECT_FAILURE (420) unit GPS (7), type OFF (1), after SYS_FAILURE_EN 1
 *                (PX4's failure injection); cleared with type OK (0)
 *   battery-set  SIM_BAT_MIN_PCT = pct: PX4's battery simulator discharges down to it (it does not
 *                charge back up); cleared by restoring the value it had
 *   wind, battery-sag, release-failure: no PX4 SIH parameter for them → SimError SIM_UNKNOWN_FAULT
 *
 * Pure: returns what to send; the instance sends it.
 */
import { SimError, type SimFault } from './index';

export type Px4FaultAction = { param: string; value: number } | { command: number; params: [number, number, number, number, number, number, number] };

const INJECT_FAILURE = 420;
const FAILURE_UNIT_SENSOR_GPS = 7;
const FAILURE_TYPE_OK = 0;
const FAILURE_TYPE_OFF = 1;
/** PX4's default SIM_BAT_MIN_PCT. */
const DEFAULT_MIN_PCT = 50;

/** What to send PX4 to inject a fault; `known` gives parameter values PX4 reported (to restore later). */
export function px4InjectActions(fault: SimFault, known: (name: string) => number | undefined): { actions: Px4FaultAction[]; restore?: Record<string, number> } {
  switch (fault.kind) {
    case 'gps-loss':
      return { actions: [{ param: 'SYS_FAILURE_EN', value: 1 }, { command: INJECT_FAILURE, params: [FAILURE_UNIT_SENSOR_GPS, FAILURE_TYPE_OFF, 0, 0, 0, 0, 0] }] };
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
      return [{ command: INJECT_FAILURE, params: [FAILURE_UNIT_SENSOR_GPS, FAILURE_TYPE_OK, 0, 0, 0, 0, 0] }];
    case 'battery-set':
      return [{ param: 'SIM_BAT_MIN_PCT', value: restore.SIM_BAT_MIN_PCT ?? DEFAULT_MIN_PCT }];
    default:
      throw new SimError('SIM_UNKNOWN_FAULT', `fault '${kind}' is not available on PX4 SITL`);
  }
}
