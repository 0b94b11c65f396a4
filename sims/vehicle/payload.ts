/**
 * The simulated vehicle's payload: gripper, winch and servo release, and loading a new parcel.
 */
import { SEV } from './constants';
import type { VehicleState } from './state';

export function gripper(v: VehicleState, release: boolean): void {
  if (!v.gripperEnabled) return; // GRIP_* read at boot: nothing happens until a reboot
  if (v.gripperServo) v.servo9 = release ? v.p('GRIP_RELEASE') || 1100 : v.p('GRIP_GRAB') || 1900;
  if (release) {
    releasePayload(v);
    v.text(SEV.INFO, 'Gripper load released');
  } else {
    v.text(SEV.INFO, 'Gripper load grabbed');
  }
}
export function releasePayload(v: VehicleState): void {
  if (!v.payloadAttached || v.faults.releaseFailure) return;
  v.payloadAttached = false;
  const ll = v.latLon();
  v.releasedAt = { lat: ll.lat, lon: ll.lon, altRelM: v.pos.u };
}
/** Load a new parcel (simulator control: reset between deliveries). */
export function loadPayload(v: VehicleState): void {
  v.payloadAttached = true;
  v.releasedAt = null;
}

export function winch(v: VehicleState, action: number, lengthM: number): void {
  const winchOn = v.ap ? v.params.live('WINCH_TYPE') !== 0 : true;
  if (!winchOn) return;
  // Relative length control lowering the parcel to the ground: it is released on touchdown.
  if (Math.round(action) === 1 && lengthM >= v.pos.u - 0.5) releasePayload(v);
}

export function setServo(v: VehicleState, servo: number, pwm: number): void {
  if (Math.round(servo) !== 9) return;
  v.servo9 = Math.round(pwm);
  if (v.gripperServo && pwm <= (v.p('GRIP_RELEASE') || 1100) + 50) releasePayload(v);
}
