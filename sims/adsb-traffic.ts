/**
 * Simulated manned aircraft for the built-in simulator: the vehicle's ADS-B receiver hears them, and
 * the vehicle relays each as ADSB_VEHICLE (#246) once a second of sim time, as ArduPilot does, to
 * the ground stations that asked for message 246 (SET_MESSAGE_INTERVAL; SRn_ADSB on ArduPilot).
 * Each flies straight and level (or at its vertical speed) from where it was injected, and is no
 * longer heard after `durationS`.
 *
 * The fault `{kind: 'adsb-traffic', …}` places one aircraft either
 * - absolutely: `from: [lon, lat]`, `headingDeg`, `speedMps`, `altAmslM`; or
 * - across the vehicle's track (no `from`): it crosses the point `crossAheadM` ahead of the vehicle
 *   along its track (default: where the vehicle will be in `crossInS` at its present speed; negative:
 *   behind it) `crossInS` seconds from now (default 60), flying `headingDeg` (default the vehicle's
 *   track + 90°) at `speedMps`, at the vehicle's altitude + `altOffsetM` (or `altAmslM`).
 * The callsign is sent as given (up to 8 bytes): the ground station must treat it as untrusted.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { msg, common } from '../src/mavlink/registry';
import { LocalFrame, type LatLon } from './geo';

export interface AdsbTrafficFault {
  kind: 'adsb-traffic';
  /** Up to 8 characters. Default `SIM` + the ICAO address. */
  callsign?: string;
  /** 24-bit ICAO address. Default: a new one per aircraft. */
  icao?: number;
  from?: [number, number];
  headingDeg?: number;
  speedMps: number;
  altAmslM?: number;
  altOffsetM?: number;
  climbMps?: number;
  crossInS?: number;
  crossAheadM?: number;
  /** ADSB_EMITTER_TYPE. Default 7 (rotorcraft). */
  emitterType?: number;
  /** Heard this long, s of sim time. Default 2 × crossInS + 120 (absolute: 600). */
  durationS?: number;
  /** ADSB_ALTITUDE_TYPE: 0 pressure (QNH, default), 1 geometric. */
  altitudeType?: 0 | 1;
}

interface Flying {
  fault: AdsbTrafficFault;
  icao: number;
  callsign: string;
  frame: LocalFrame;
  startS: number;
  untilS: number;
  headingDeg: number;
  speedMps: number;
  climbMps: number;
  altAmslM: number;
  nextS: number;
}

/** What the vehicle tells about itself when an aircraft is placed across its track. */
export interface OwnShip {
  latLon: LatLon;
  altAmslM: number;
  /** Velocity north, east, m/s. */
  vn: number;
  ve: number;
  yawDeg: number;
}

export class SimAdsbTraffic {
  private readonly flying: Flying[] = [];
  private nextIcao = 0x7c0001;

  /** Validate and place an aircraft; throws Error with a message naming the bad field. */
  add(f: AdsbTrafficFault, nowS: number, own: OwnShip): void {
    const num = (x: unknown, name: string, min: number, max: number) => {
      if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) throw new Error(`adsb-traffic: ${name} must be a number ${min}..${max}`);
      return x;
    };
    const speed = num(f.speedMps, 'speedMps', 0, 400);
    const climb = f.climbMps === undefined ? 0 : num(f.climbMps, 'climbMps', -50, 50);
    if (f.callsign !== undefined && (typeof f.callsign !== 'string' || Buffer.byteLength(f.callsign) > 8)) throw new Error('adsb-traffic: callsign must be a string of up to 8 bytes');
    const icao = f.icao === undefined ? this.nextIcao++ : num(f.icao, 'icao', 1, 0xffffff);
    let start: LatLon, heading: number, alt: number, durationS: number;
    if (f.from !== undefined) {
      if (!Array.isArray(f.from) || f.from.length !== 2) throw new Error('adsb-traffic: from must be [lon, lat]');
      start = { lon: num(f.from[0], 'from[0] (lon)', -180, 180), lat: num(f.from[1], 'from[1] (lat)', -90, 90) };
      heading = num(f.headingDeg, 'headingDeg', -360, 360);
      alt = num(f.altAmslM, 'altAmslM', -500, 20000);
      durationS = f.durationS === undefined ? 600 : num(f.durationS, 'durationS', 1, 7200);
    } else {
      const crossInS = f.crossInS === undefined ? 60 : num(f.crossInS, 'crossInS', 0, 600);
      const gs = Math.hypot(own.vn, own.ve);
      const track = gs > 1 ? (Math.atan2(own.ve, own.vn) * 180) / Math.PI : own.yawDeg;
      const ahead = f.crossAheadM === undefined ? gs * crossInS : num(f.crossAheadM, 'crossAheadM', -50000, 50000);
      heading = f.headingDeg === undefined ? track + 90 : num(f.headingDeg, 'headingDeg', -360, 360);
      const fr = new LocalFrame(own.latLon);
      const tr = (track * Math.PI) / 180, hr = (heading * Math.PI) / 180;
      const cross = { n: ahead * Math.cos(tr), e: ahead * Math.sin(tr) };
      start = fr.toLatLon({ n: cross.n - speed * crossInS * Math.cos(hr), e: cross.e - speed * crossInS * Math.sin(hr) });
      alt = f.altAmslM !== undefined ? num(f.altAmslM, 'altAmslM', -500, 20000) : own.altAmslM + (f.altOffsetM === undefined ? 0 : num(f.altOffsetM, 'altOffsetM', -5000, 5000));
      durationS = f.durationS === undefined ? 2 * crossInS + 120 : num(f.durationS, 'durationS', 1, 7200);
    }
    // One entry per ICAO address: the same aircraft injected again is moved.
    const i = this.flying.findIndex((x) => x.icao === icao);
    if (i >= 0) this.flying.splice(i, 1);
    this.flying.push({
      fault: { ...f, icao },
      icao,
      callsign: f.callsign ?? `SIM${icao.toString(16).toUpperCase().slice(-4)}`,
      frame: new LocalFrame(start),
      startS: nowS,
      untilS: nowS + durationS,
      headingDeg: ((heading % 360) + 360) % 360,
      speedMps: speed,
      climbMps: climb,
      altAmslM: alt,
      nextS: nowS,
    });
  }

  clear(): void {
    this.flying.length = 0;
  }

  /** The aircraft in the air, as injected (for a trainer's list of faults in force). */
  faults(): AdsbTrafficFault[] {
    return this.flying.map((x) => ({ ...x.fault }));
  }

  /** Where an aircraft is at sim time `tS`. */
  private at(a: Flying, tS: number): { latLon: LatLon; altAmslM: number } {
    const d = a.speedMps * (tS - a.startS);
    const h = (a.headingDeg * Math.PI) / 180;
    return { latLon: a.frame.toLatLon({ n: d * Math.cos(h), e: d * Math.sin(h) }), altAmslM: a.altAmslM + a.climbMps * (tS - a.startS) };
  }

  /** The ADSB_VEHICLE reports due at sim time `tS` (each aircraft once a second). */
  due(tS: number): MavLinkData[] {
    const out: MavLinkData[] = [];
    for (let i = this.flying.length - 1; i >= 0; i--) {
      const a = this.flying[i];
      if (tS >= a.untilS) {
        this.flying.splice(i, 1);
        continue;
      }
      if (tS < a.nextS) continue;
      a.nextS = Math.max(a.nextS + 1, tS);
      const p = this.at(a, tS);
      out.push(
        msg(common.AdsbVehicle, {
          ICAOAddress: a.icao,
          lat: Math.round(p.latLon.lat * 1e7),
          lon: Math.round(p.latLon.lon * 1e7),
          altitudeType: a.fault.altitudeType ?? 0,
          altitude: Math.round(p.altAmslM * 1000),
          heading: Math.round(a.headingDeg * 100) % 36000,
          horVelocity: Math.round(a.speedMps * 100),
          verVelocity: Math.round(a.climbMps * 100),
          callsign: a.callsign,
          emitterType: a.fault.emitterType ?? 7,
          tslc: 1,
          // coords, altitude, heading, velocity, callsign, simulated, vertical velocity valid
          flags: 1 | 2 | 4 | 8 | 16 | 64 | 128,
          squawk: 1200,
        }),
      );
    }
    return out;
  }
}
