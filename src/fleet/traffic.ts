/**
 * The manned-aircraft picture: ADSB_VEHICLE (#246) reports that vehicles relay from their ADS-B
 * receivers, one entry per aircraft (ICAO address) for the whole fleet.
 *
 * ArduPilot (AP_ADSB, ADSB_TYPE ≠ 0) keeps the aircraft its receiver hears within ADSB_LIST_RADIUS
 * (2 km by default on Copter) and sends them to a ground station only on its ADSB stream
 * (SRn_ADSB, or SET_MESSAGE_INTERVAL 246): one aircraft per stream slot, the list from the top at
 * most once a second. The fleet asks for 246 at 10 Hz (src/fleet/vehicle.ts), so a list of up to
 * ten aircraft is refreshed every second; nothing is sent while the receiver hears none.
 *
 * Several vehicles may relay the same aircraft: the newest report wins, and the entry lists who
 * heard it. An aircraft unheard for `dropAfterMs` (20 s) is dropped.
 *
 * Altitudes are made comparable with the drones' (GLOBAL_POSITION_INT alt, above mean sea level):
 * - PRESSURE_QNH (ADSB_ALTITUDE_TYPE 0): barometric altitude on the local QNH, read as AMSL;
 * - GEOMETRIC (1): GNSS height above the WGS84 ellipsoid; the relaying vehicle's own geoid
 *   separation (GPS_RAW_INT alt_ellipsoid − alt) is subtracted when it reports one, else it is read
 *   as AMSL and marked `altCorrected: false` (the error is the local geoid height, tens of metres).
 *
 * The callsign is input from the air: only printable ASCII without spaces is kept (at most 8
 * characters), and consoles render it as text.
 */
import { EventEmitter } from 'events';
import type { common } from 'mavlink-mappings';
import type { Frame } from '../mavlink/codec';

/** ADSB_FLAGS */
export const ADSB_FLAGS = { VALID_COORDS: 1, VALID_ALTITUDE: 2, VALID_HEADING: 4, VALID_VELOCITY: 8, VALID_CALLSIGN: 16, SIMULATED: 64, VERTICAL_VELOCITY_VALID: 128 } as const;

export interface Aircraft {
  /** ICAO 24-bit address as 6 hex digits (upper case). */
  icao: string;
  /** Printable callsign; the ICAO address when the aircraft sends none. */
  callsign: string;
  lat: number;
  lon: number;
  /** Altitude above mean sea level, m (see the module comment); null when the report has none. */
  altAmslM: number | null;
  /** 'pressure' (QNH) or 'geometric' as reported. */
  altType: 'pressure' | 'geometric';
  /** False for a geometric altitude taken as AMSL without a geoid correction. */
  altCorrected: boolean;
  /** Track over ground, degrees 0–360; null when not valid. */
  headingDeg: number | null;
  /** Ground speed, m/s (0 when not valid). */
  speedMps: number;
  /** Vertical speed, m/s, positive up (0 when not valid). */
  climbMps: number;
  /** ADSB_EMITTER_TYPE (e.g. 1 light, 7 rotorcraft). */
  emitterType: number;
  squawk: number;
  simulated: boolean;
  /** ms since the epoch when the newest report was received (less the report's own age, tslc). */
  seenMs: number;
  /** Vehicles that relayed it within the drop time. */
  relays: string[];
}

/** The callsign as kept: printable ASCII without blanks, at most 8 characters. */
export function cleanCallsign(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  let out = '';
  for (const ch of raw) {
    const c = ch.charCodeAt(0);
    if (c > 0x20 && c < 0x7f) out += ch;
    if (out.length >= 8) break;
  }
  return out;
}

/**
 * One ADSB_VEHICLE as an aircraft (pure), or null when it has no valid position. `geoidM`: the
 * relaying vehicle's geoid separation (ellipsoid − MSL, m) when known.
 */
export function decodeAdsb(m: common.AdsbVehicle, relay: string, nowMs: number, geoidM?: number | null): Aircraft | null {
  const flags = m.flags ?? 0;
  if (!(flags & ADSB_FLAGS.VALID_COORDS)) return null;
  const lat = m.lat / 1e7, lon = m.lon / 1e7;
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180 || (m.lat === 0 && m.lon === 0)) return null;
  const icao = ((m.ICAOAddress >>> 0) & 0xffffff).toString(16).toUpperCase().padStart(6, '0');
  const geometric = m.altitudeType === 1;
  let altAmslM: number | null = null;
  let altCorrected = true;
  if (flags & ADSB_FLAGS.VALID_ALTITUDE) {
    altAmslM = m.altitude / 1000;
    if (geometric) {
      if (typeof geoidM === 'number' && Number.isFinite(geoidM)) altAmslM -= geoidM;
      else altCorrected = false;
    }
    altAmslM = Math.round(altAmslM * 10) / 10;
  }
  const callsign = (flags & ADSB_FLAGS.VALID_CALLSIGN ? cleanCallsign(m.callsign) : '') || icao;
  const tslcS = Number.isFinite(m.tslc) ? Math.min(60, Math.max(0, m.tslc)) : 0;
  return {
    icao,
    callsign,
    lat: Math.round(lat * 1e7) / 1e7,
    lon: Math.round(lon * 1e7) / 1e7,
    altAmslM,
    altType: geometric ? 'geometric' : 'pressure',
    altCorrected,
    headingDeg: flags & ADSB_FLAGS.VALID_HEADING ? (((m.heading / 100) % 360) + 360) % 360 : null,
    speedMps: flags & ADSB_FLAGS.VALID_VELOCITY ? m.horVelocity / 100 : 0,
    climbMps: flags & ADSB_FLAGS.VERTICAL_VELOCITY_VALID || flags & ADSB_FLAGS.VALID_VELOCITY ? m.verVelocity / 100 : 0,
    emitterType: m.emitterType ?? 0,
    squawk: m.squawk ?? 0,
    simulated: (flags & ADSB_FLAGS.SIMULATED) !== 0,
    // tslc 1 is what a receiver says of a report it just heard (ArduPilot's simulator too): only older ones age it.
    seenMs: nowMs - Math.max(0, tslcS - 1) * 1000,
    relays: [relay],
  };
}

interface FrameSource {
  on(event: 'frame', fn: (vehicleId: string, f: Frame) => void): unknown;
  off(event: 'frame', fn: (vehicleId: string, f: Frame) => void): unknown;
}

export interface TrafficPictureOptions {
  /** An aircraft unheard this long is dropped, ms. Default 20000. */
  dropAfterMs?: number;
  /** Wall clock. Default Date.now. */
  now?: () => number;
}

/**
 * Every aircraft the fleet's vehicles relay, deduplicated by ICAO address. Emits 'changed' (at most
 * once per report) and 'dropped' (icao).
 */
export class TrafficPicture extends EventEmitter {
  private readonly aircraft = new Map<string, Aircraft & { relaySeen: Map<string, number> }>();
  /** vehicle id → geoid separation (ellipsoid − MSL), m, from its GPS_RAW_INT */
  private readonly geoid = new Map<string, number>();
  private readonly dropAfterMs: number;
  private readonly now: () => number;
  private readonly onFrame = (vehicleId: string, f: Frame) => this.handle(vehicleId, f);
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly source?: FrameSource, opts: TrafficPictureOptions = {}) {
    super();
    this.dropAfterMs = opts.dropAfterMs ?? 20_000;
    this.now = opts.now ?? Date.now;
    source?.on('frame', this.onFrame);
    this.timer = setInterval(() => this.prune(), 1000);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.source?.off('frame', this.onFrame);
  }

  /** Take one frame a vehicle sent (ADSB_VEHICLE, and GPS_RAW_INT for the geoid separation). */
  handle(vehicleId: string, f: Frame): void {
    // A tlog replay (link `replay-…`) shows yesterday's sky: never part of today's picture.
    if (vehicleId.startsWith('replay-')) return;
    if (f.name === 'GPS_RAW_INT') {
      const g = f.data as common.GpsRawInt & { altEllipsoid?: number };
      if (typeof g.altEllipsoid === 'number' && g.altEllipsoid !== 0 && g.fixType >= 3) this.geoid.set(vehicleId, (g.altEllipsoid - g.alt) / 1000);
      return;
    }
    if (f.name !== 'ADSB_VEHICLE' || !f.data) return;
    const now = this.now();
    const a = decodeAdsb(f.data as common.AdsbVehicle, vehicleId, now, this.geoid.get(vehicleId));
    if (!a) return;
    const prev = this.aircraft.get(a.icao);
    const relaySeen = prev?.relaySeen ?? new Map<string, number>();
    relaySeen.set(vehicleId, now);
    // Another vehicle's older report of the same aircraft does not move it back.
    if (prev && prev.seenMs > a.seenMs) {
      prev.relays = [...relaySeen.keys()];
      return;
    }
    this.aircraft.set(a.icao, { ...a, relays: [...relaySeen.keys()], relaySeen });
    this.emit('changed', a.icao);
  }

  private prune(): void {
    const now = this.now();
    for (const [icao, a] of this.aircraft) {
      for (const [v, at] of a.relaySeen) if (now - at > this.dropAfterMs) a.relaySeen.delete(v);
      if (now - a.seenMs > this.dropAfterMs || a.relaySeen.size === 0) {
        this.aircraft.delete(icao);
        this.emit('dropped', icao);
      } else a.relays = [...a.relaySeen.keys()];
    }
  }

  /** The aircraft heard within the drop time, nearest report first. */
  list(): Aircraft[] {
    this.prune();
    return [...this.aircraft.values()].map(({ relaySeen: _r, ...a }) => ({ ...a, relays: [...a.relays] }));
  }

  get size(): number {
    return this.aircraft.size;
  }
}
