/**
 * Flight modes: the simulator runs ArduCopter's mode set internally and encodes it per personality
 * in HEARTBEAT.custom_mode (ArduCopter's mode numbers, or PX4's main_mode << 16 | sub_mode << 24).
 */
export type ModeName = 'STABILIZE' | 'ALT_HOLD' | 'AUTO' | 'GUIDED' | 'LOITER' | 'RTL' | 'LAND' | 'BRAKE' | 'SMART_RTL' | 'TAKEOFF';

export const COPTER_MODES: Record<number, ModeName> = {
  0: 'STABILIZE',
  2: 'ALT_HOLD',
  3: 'AUTO',
  4: 'GUIDED',
  5: 'LOITER',
  6: 'RTL',
  9: 'LAND',
  17: 'BRAKE',
  21: 'SMART_RTL',
};

export const PX4_MAIN = { MANUAL: 1, ALTCTL: 2, POSCTL: 3, AUTO: 4, ACRO: 5, OFFBOARD: 6, STABILIZED: 7 } as const;
export const PX4_AUTO_SUB = { READY: 1, TAKEOFF: 2, LOITER: 3, MISSION: 4, RTL: 5, LAND: 6 } as const;

/** PX4 mode name (as QGroundControl shows it) ↔ internal mode. */
const PX4_MODES: Array<{ name: string; main: number; sub: number; mode: ModeName }> = [
  { name: 'MANUAL', main: PX4_MAIN.MANUAL, sub: 0, mode: 'STABILIZE' },
  { name: 'ALTCTL', main: PX4_MAIN.ALTCTL, sub: 0, mode: 'ALT_HOLD' },
  { name: 'POSCTL', main: PX4_MAIN.POSCTL, sub: 0, mode: 'LOITER' },
  { name: 'AUTO.MISSION', main: PX4_MAIN.AUTO, sub: PX4_AUTO_SUB.MISSION, mode: 'AUTO' },
  { name: 'AUTO.LOITER', main: PX4_MAIN.AUTO, sub: PX4_AUTO_SUB.LOITER, mode: 'GUIDED' },
  { name: 'AUTO.RTL', main: PX4_MAIN.AUTO, sub: PX4_AUTO_SUB.RTL, mode: 'RTL' },
  { name: 'AUTO.LAND', main: PX4_MAIN.AUTO, sub: PX4_AUTO_SUB.LAND, mode: 'LAND' },
  { name: 'AUTO.TAKEOFF', main: PX4_MAIN.AUTO, sub: PX4_AUTO_SUB.TAKEOFF, mode: 'TAKEOFF' },
];

export type Personality = 'ardupilot' | 'px4';

export function px4CustomMode(main: number, sub = 0): number {
  return ((main & 0xff) << 16) | ((sub & 0xff) << 24);
}

export function encodeMode(p: Personality, m: ModeName): number {
  if (p === 'px4') {
    const e = PX4_MODES.find((x) => x.mode === m) ?? (m === 'BRAKE' || m === 'SMART_RTL' ? PX4_MODES.find((x) => x.mode === (m === 'BRAKE' ? 'GUIDED' : 'RTL')) : undefined);
    return e ? px4CustomMode(e.main, e.sub) >>> 0 : 0;
  }
  for (const [k, v] of Object.entries(COPTER_MODES)) if (v === m) return Number(k);
  return 0;
}

/** Decode a custom_mode to the internal mode, or undefined when this personality has no such mode. */
export function decodeMode(p: Personality, customMode: number): ModeName | undefined {
  if (p === 'px4') {
    const main = (customMode >>> 16) & 0xff;
    const sub = (customMode >>> 24) & 0xff;
    const e = PX4_MODES.find((x) => x.main === main && (x.sub === sub || (x.main !== PX4_MAIN.AUTO && sub === 0)));
    return e?.mode;
  }
  return COPTER_MODES[customMode];
}

/** The name a ground station shows for the mode (ArduCopter's names, or PX4's). */
export function modeDisplayName(p: Personality, m: ModeName): string {
  if (p === 'px4') return PX4_MODES.find((x) => x.mode === m)?.name ?? m;
  return m;
}
