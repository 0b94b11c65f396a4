/**
 * The message set Dropline speaks: MAVLink common + ardupilotmega (which includes minimal).
 * One place maps msgid → data class and CRC_EXTRA so the framer, encoder and decoder agree.
 */
import { minimal, common, ardupilotmega, MavLinkData, MavLinkDataConstructor } from 'mavlink-mappings';

export type MessageClass = MavLinkDataConstructor<MavLinkData>;

export const REGISTRY: Record<number, MessageClass> = {
  ...(minimal.REGISTRY as Record<number, MessageClass>),
  ...(common.REGISTRY as Record<number, MessageClass>),
  ...(ardupilotmega.REGISTRY as Record<number, MessageClass>),
};

/** CRC_EXTRA ("magic number") of a message id, or undefined when the id is unknown to us. */
export function crcExtra(msgid: number): number | undefined {
  return REGISTRY[msgid]?.MAGIC_NUMBER;
}

/**
 * Build a message object of the given class from a plain field bag.
 * Unset numeric fields become 0, unset strings '' and unset arrays zero-filled, so
 * serialisation never sees `undefined`.
 */
export function msg<T extends MavLinkData>(cls: MavLinkDataConstructor<T>, fields: Partial<Record<keyof T, unknown>>): T {
  const m = new cls();
  const bag = m as unknown as Record<string, unknown>;
  for (const f of cls.FIELDS) {
    const given = (fields as Record<string, unknown>)[f.name];
    if (given !== undefined) {
      bag[f.name] = given;
    } else if (f.type.startsWith('char')) {
      bag[f.name] = '';
    } else if (f.type.endsWith('[]')) {
      bag[f.name] = new Array(f.length).fill(0);
    } else if (f.type.includes('int64')) {
      bag[f.name] = 0n;
    } else if (f.type === 'uint8_t_mavlink_version') {
      bag[f.name] = 3;
    } else {
      bag[f.name] = 0;
    }
  }
  return m;
}

/** The MAVLink name of a decoded or constructed message, e.g. 'HEARTBEAT'. */
export function nameOf(m: MavLinkData): string {
  return (m.constructor as MessageClass).MSG_NAME;
}

export { minimal, common, ardupilotmega };
