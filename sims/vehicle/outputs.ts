/**
 * The simulated vehicle's 16 servo outputs as ArduCopter has them: the SERVOn_* parameters, each
 * output's function (SERVOn_FUNCTION, read at boot), which functions MAV_CMD_DO_SET_SERVO may move
 * (AP_ServoRelayEvents::do_set_servo), and the raw values SERVO_OUTPUT_RAW reports.
 */
import type { ParamDef } from '../params';
import type { VehicleState } from './state';

/** Outputs SERVO_OUTPUT_RAW reports on port 0 (servo1..16; 9..16 in the extension fields). */
export const NUM_OUTPUTS = 16;

/** SRV_Channel::Aux_servo_function_t values the simulator knows by name. */
export const SERVO_FN = { DISABLED: 0, RC_PASSTHRU: 1, SPRAYER_PUMP: 22, SPRAYER_SPINNER: 23, GRIPPER: 28, MOTOR1: 33 } as const;

/**
 * SERVOn_FUNCTION, _MIN, _MAX, _TRIM for outputs 1..16 with ArduCopter SITL's defaults for a quad
 * (outputs 1–4 Motor1–4, the rest Disabled), except the names `have` already holds (SERVO9_*).
 * SERVOn_FUNCTION is read at boot (@RebootRequired).
 */
export function servoParamDefs(have: ReadonlyArray<ParamDef>): ParamDef[] {
  const known = new Set(have.map((d) => d.name));
  const out: ParamDef[] = [];
  for (let n = 1; n <= NUM_OUTPUTS; n++) {
    const defs: ParamDef[] = [
      { name: `SERVO${n}_FUNCTION`, value: n <= 4 ? SERVO_FN.MOTOR1 + n - 1 : SERVO_FN.DISABLED, type: 4, rebootRequired: true },
      { name: `SERVO${n}_MIN`, value: 1100, type: 4 },
      { name: `SERVO${n}_MAX`, value: 1900, type: 4 },
      { name: `SERVO${n}_TRIM`, value: 1500, type: 4 },
    ];
    for (const d of defs) if (!known.has(d.name)) out.push(d);
  }
  return out;
}

/**
 * The function of output `n` (1-based) as the running firmware sees it (the value at boot).
 * PX4 personality: outputs 1–4 are the motors, the rest have no function.
 */
export function outputFunction(v: VehicleState, n: number): number {
  if (!v.ap) return n >= 1 && n <= 4 ? SERVO_FN.MOTOR1 + n - 1 : SERVO_FN.DISABLED;
  return v.params.live(`SERVO${n}_FUNCTION`);
}

/**
 * Whether DO_SET_SERVO / DO_REPEAT_SERVO may move an output with this function: ArduPilot's
 * AP_ServoRelayEvents::do_set_servo accepts Disabled, RCPassThru, the sprayer's pump and spinner, the
 * gripper and RCIN1..16 (since Copter 4.0.2); any other function is "already in use".
 */
export function servoRelayAllowed(fn: number): boolean {
  return fn === SERVO_FN.DISABLED || fn === SERVO_FN.RC_PASSTHRU || fn === SERVO_FN.SPRAYER_PUMP || fn === SERVO_FN.SPRAYER_SPINNER || fn === SERVO_FN.GRIPPER || (fn >= 51 && fn <= 66);
}

/** Motor1..8 (33..40) and Motor9..12 (82..85). */
export function isMotorFunction(fn: number): boolean {
  return (fn >= 33 && fn <= 40) || (fn >= 82 && fn <= 85);
}

/** Outputs (1-based) assigned `fn` at boot. */
export function outputsWithFunction(v: VehicleState, fn: number): number[] {
  const out: number[] = [];
  for (let n = 1; n <= NUM_OUTPUTS; n++) if (outputFunction(v, n) === fn) out.push(n);
  return out;
}

/**
 * servo1..16 raw as SERVO_OUTPUT_RAW reports them: motor outputs at the motors' PWM, every other
 * output at the last value set on it since boot (0 until something sets it: ArduPilot writes an
 * output's PWM only once a function or a command sets one).
 */
export function rawOutputs(v: VehicleState): number[] {
  const motor = v.armed ? (v.flying ? 1500 : 1100) : 1000;
  const out: number[] = [];
  for (let n = 1; n <= NUM_OUTPUTS; n++) out.push(isMotorFunction(outputFunction(v, n)) ? motor : v.servoOut[n - 1]);
  return out;
}
