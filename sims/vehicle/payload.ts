/**
 * The simulated vehicle's payload: the parcels aboard and how they leave (gripper, winch, servo
 * release), DO_SET_SERVO, and loading parcels (simulator control).
 *
 * By default the vehicle carries one parcel held by the gripper (GRIP_ENABLE, on the outputs with
 * SERVOn_FUNCTION 28, output 9 by default): DO_GRIPPER release, a winch lowered to the ground,
 * NAV_PAYLOAD_PLACE touching down, or DO_SET_SERVO driving a gripper output to GRIP_RELEASE (+ 50)
 * release it. `loadParcels(outputs)` loads instead one parcel per output (parcel bays): each leaves
 * when its own output is driven to the bay release PWM (+ 50) or below (DO_SET_SERVO, or the gripper
 * when the output is a gripper output); a winch or a payload place without a gripper releases the
 * next parcel aboard. Every release is recorded (`releases`); `releasedAt` is the latest.
 */
import { Result, SEV } from './constants';
import type { VehicleState, Parcel } from './state';
import { NUM_OUTPUTS, SERVO_FN, outputFunction, outputsWithFunction, servoRelayAllowed } from './outputs';

/** PWM a parcel bay opens at by default (the same 1100 as GRIP_RELEASE's default); up to 50 above still opens it. */
export const BAY_RELEASE_PWM = 1100;
const RELEASE_TOLERANCE_PWM = 50;

function gripReleasePwm(v: VehicleState): number {
  return v.p('GRIP_RELEASE') || 1100;
}

export function gripper(v: VehicleState, release: boolean): void {
  if (!v.gripperEnabled) return; // GRIP_* read at boot: nothing happens until a reboot
  const pwm = release ? gripReleasePwm(v) : v.p('GRIP_GRAB') || 1900;
  for (const n of v.gripperOutputs) setOutput(v, n, pwm);
  if (release) {
    releaseParcel(v, v.parcels.find((p) => p.attached && p.gripper));
    v.text(SEV.INFO, 'Gripper load released');
  } else {
    v.text(SEV.INFO, 'Gripper load grabbed');
  }
}

/** Release the next parcel aboard (a winch lowering it to the ground, a payload place without a gripper). */
export function releasePayload(v: VehicleState): void {
  releaseParcel(v, v.parcels.find((p) => p.attached));
}

function releaseParcel(v: VehicleState, p: Parcel | undefined): void {
  if (!p || !p.attached || v.faults.releaseFailure) return;
  p.attached = false;
  const ll = v.latLon();
  const at = { lat: ll.lat, lon: ll.lon, altRelM: v.pos.u };
  v.releasedAt = at;
  v.releases.push({ output: p.gripper ? (v.gripperOutputs[0] ?? p.output) : p.output, ...at });
}

/** Load a new parcel (simulator control: reset between deliveries): one parcel, on the gripper. */
export function loadPayload(v: VehicleState): void {
  v.parcels = [{ output: 9, gripper: true, attached: true }];
  v.releases = [];
  v.releasedAt = null;
  v.bayReleasePwm = BAY_RELEASE_PWM;
}

/**
 * Load one parcel on each of `outputs` (1-based SERVOn, distinct, 1..16), replacing whatever was
 * aboard; each is released when its output is driven to `releasePwm` (default 1100) + 50 or below.
 */
export function loadParcels(v: VehicleState, outputs: number[], opts: { releasePwm?: number } = {}): void {
  if (!Array.isArray(outputs)) throw new RangeError('loadParcels: outputs must be an array of output numbers');
  for (const n of outputs) if (!Number.isInteger(n) || n < 1 || n > NUM_OUTPUTS) throw new RangeError(`loadParcels: output ${n} is not an output 1..${NUM_OUTPUTS}`);
  if (new Set(outputs).size !== outputs.length) throw new RangeError('loadParcels: outputs must be distinct');
  const releasePwm = opts.releasePwm ?? BAY_RELEASE_PWM;
  if (!Number.isFinite(releasePwm) || releasePwm < 0 || releasePwm > 65535) throw new RangeError(`loadParcels: releasePwm ${releasePwm} out of range`);
  v.parcels = outputs.map((output) => ({ output, gripper: false, attached: true }));
  v.releases = [];
  v.releasedAt = null;
  v.bayReleasePwm = releasePwm;
}

export function winch(v: VehicleState, action: number, lengthM: number): void {
  const winchOn = v.ap ? v.params.live('WINCH_TYPE') !== 0 : true;
  if (!winchOn) return;
  // Relative length control lowering the parcel to the ground: it is released on touchdown.
  if (Math.round(action) === 1 && lengthM >= v.pos.u - 0.5) releasePayload(v);
}

/** Output `n` (1-based) now at `pwm`: a parcel held by it leaves when that opens its bay or gripper. */
function setOutput(v: VehicleState, n: number, pwm: number): void {
  v.servoOut[n - 1] = pwm;
  for (const p of v.parcels) {
    if (!p.attached) continue;
    // The gripper's parcel hangs on the gripper, whichever output drives it; a bay's on its own output.
    const opens = p.gripper ? v.gripperOutputs.includes(n) && pwm <= gripReleasePwm(v) + RELEASE_TOLERANCE_PWM : p.output === n && pwm <= v.bayReleasePwm + RELEASE_TOLERANCE_PWM;
    if (opens) releaseParcel(v, p);
  }
}

/**
 * MAV_CMD_DO_SET_SERVO (command or mission item): param1 output number, param2 PWM. ArduCopter moves
 * only an output whose function allows it (outputs.ts servoRelayAllowed) and answers FAILED, with
 * "ServoRelayEvent: Channel N is already in use" for an output assigned another function, or FAILED
 * for a number that is no output. PX4 personality: output 9 only, as before (always ACCEPTED).
 */
export function setServo(v: VehicleState, servo: number, pwm: number): number {
  const n = Math.round(servo);
  const value = Math.round(pwm);
  if (!v.ap) {
    if (n !== 9) return Result.ACCEPTED;
    v.servoOut[8] = value;
    if (v.gripperServo && pwm <= gripReleasePwm(v) + RELEASE_TOLERANCE_PWM) releaseParcel(v, v.parcels.find((p) => p.attached && p.gripper));
    return Result.ACCEPTED;
  }
  if (!Number.isFinite(n) || n < 1 || n > NUM_OUTPUTS) return Result.FAILED;
  const fn = outputFunction(v, n);
  if (!servoRelayAllowed(fn)) {
    v.text(SEV.INFO, `ServoRelayEvent: Channel ${n} is already in use`);
    return Result.FAILED;
  }
  setOutput(v, n, value & 0xffff);
  return Result.ACCEPTED;
}

/** Boot: every output at 0 until set; the gripper's outputs (function 28) at GRIP_NEUTRAL. */
export function bootOutputs(v: VehicleState): void {
  v.servoOut = new Array(NUM_OUTPUTS).fill(0);
  v.gripperOutputs = !v.gripperEnabled ? [] : v.ap ? outputsWithFunction(v, SERVO_FN.GRIPPER) : [9];
  v.gripperServo = v.gripperOutputs.length > 0;
  for (const n of v.gripperOutputs) v.servoOut[n - 1] = v.p('GRIP_NEUTRAL') || 1500;
}
