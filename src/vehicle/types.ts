/** What every vehicle protocol state machine is handed: a way to send, a clock, and its peer. */
import type { MavLinkData } from 'mavlink-mappings';
import type { Clock } from './clock';

/** Sends one message to the vehicle (the fleet encodes it on the vehicle's link). */
export type Sender = (m: MavLinkData) => void;

/** The vehicle component a protocol talks to. */
export interface Target {
  sysid: number;
  /** Usually 1 (MAV_COMP_ID_AUTOPILOT1). */
  compid: number;
}

export interface ProtocolDeps {
  send: Sender;
  clock: Clock;
  target: Target;
  /** Our own ids, used to ignore acks meant for another ground station. Default sysid 255, compid 190. */
  self?: { sysid: number; compid: number };
}
