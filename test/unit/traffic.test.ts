/**
 * Manned aircraft (ADS-B): ADSB_VEHICLE frames through the real codec into the fleet's traffic
 * picture (src/fleet/traffic.ts: callsign cleaning, altitude types, deduplication across relays,
 * dropping after 20 s), and the threat judge (src/delivery/traffic.ts: threat, closest approach,
 * suggested action), and the alert sentences of the monitor read into codes with translations.
 */
import fs from 'fs';
import path from 'path';
import { MavlinkDecoder, MavlinkEncoder, type Frame } from '../../src/mavlink/codec';
import { msg, common } from '../../src/mavlink/registry';
import { TrafficPicture, cleanCallsign, decodeAdsb } from '../../src/fleet/traffic';
import { judgeFlight, trackOf, TrafficPolicySchema, type AircraftTrack, type JudgeOptions } from '../../src/delivery/traffic';
import { trajectory, type P3 } from '../../src/delivery/route-prediction';
import { PolicySchema } from '../../src/delivery/policy';
import { classifyAlert } from '../../src/alerts';
import en from '../../web/i18n/en.json';
import zh from '../../web/i18n/zh-CN.json';

const ALL_VALID = 1 | 2 | 4 | 8 | 16 | 128;

/** Encode and decode a message as a vehicle would send it (real MAVLink 2 bytes, CRC and all). */
function wire(m: ReturnType<typeof msg>, sysid = 1): Frame {
  const frames: Frame[] = [];
  const dec = new MavlinkDecoder((f) => frames.push(f));
  dec.push(new MavlinkEncoder({ sysid, compid: 1 }).encode(m));
  expect(frames).toHaveLength(1);
  return frames[0];
}

const adsb = (o: Partial<Record<string, unknown>> = {}) =>
  msg(common.AdsbVehicle, { ICAOAddress: 0x7c4a11, lat: 340603000, lon: 1143942000, altitudeType: 0, altitude: 350_000, heading: 9000, horVelocity: 4000, verVelocity: -150, callsign: 'HELI01', emitterType: 7, tslc: 1, flags: ALL_VALID, squawk: 1200, ...o });

describe('ADSB_VEHICLE decoding', () => {
  it('position, altitude, track, speeds, emitter and ICAO address', () => {
    const a = decodeAdsb(wire(adsb()).data as common.AdsbVehicle, 'sim0/1', 1_000_000)!;
    expect(a).toMatchObject({ icao: '7C4A11', callsign: 'HELI01', lat: 34.0603, lon: 114.3942, altAmslM: 350, altType: 'pressure', altCorrected: true, headingDeg: 90, speedMps: 40, climbMps: -1.5, emitterType: 7, squawk: 1200, seenMs: 1_000_000, relays: ['sim0/1'] });
  });

  it('the callsign is hostile input: only printable ASCII without blanks, at most 8 characters; the ICAO address when none', () => {
    expect(cleanCallsign('AB\u0001<b>\u0000')).toBe('AB<b>');
    expect(cleanCallsign('  CCA 1234 ')).toBe('CCA1234');
    expect(cleanCallsign('\u7a7a\u4e2d12345678')).toBe('12345678');
    const a = decodeAdsb(wire(adsb({ callsign: '<i>x\u0007' })).data as common.AdsbVehicle, 'sim0/1', 0)!;
    expect(a.callsign).toBe('<i>x');
    expect(decodeAdsb(wire(adsb({ callsign: '        ' })).data as common.AdsbVehicle, 'sim0/1', 0)!.callsign).toBe('7C4A11');
    expect(decodeAdsb(wire(adsb({ flags: ALL_VALID & ~16 })).data as common.AdsbVehicle, 'sim0/1', 0)!.callsign).toBe('7C4A11');
  });

  it('no valid position: not an aircraft; no valid altitude: altitude unknown; no valid heading: no track', () => {
    expect(decodeAdsb(wire(adsb({ flags: ALL_VALID & ~1 })).data as common.AdsbVehicle, 'v', 0)).toBeNull();
    expect(decodeAdsb(wire(adsb({ lat: 0, lon: 0 })).data as common.AdsbVehicle, 'v', 0)).toBeNull();
    expect(decodeAdsb(wire(adsb({ flags: ALL_VALID & ~2 })).data as common.AdsbVehicle, 'v', 0)!.altAmslM).toBeNull();
    expect(decodeAdsb(wire(adsb({ flags: ALL_VALID & ~4 })).data as common.AdsbVehicle, 'v', 0)!.headingDeg).toBeNull();
  });

  it('geometric altitude is brought to AMSL with the relaying vehicle\'s geoid separation (GPS_RAW_INT), else marked uncorrected', () => {
    const p = new TrafficPicture(undefined, { now: () => 5000 });
    try {
      p.handle('sim0/1', wire(adsb({ altitudeType: 1, altitude: 300_000 })));
      expect(p.list()[0]).toMatchObject({ altType: 'geometric', altAmslM: 300, altCorrected: false });
      // the vehicle's GPS: 60 m above MSL, 40 m above the ellipsoid → geoid −20 m
      p.handle('sim0/1', wire(msg(common.GpsRawInt, { timeUsec: 0n, fixType: 3, lat: 340603000, lon: 1143942000, alt: 60_000, eph: 100, epv: 100, vel: 0, cog: 0, satellitesVisible: 10, altEllipsoid: 40_000, hAcc: 0, vAcc: 0, velAcc: 0, hdgAcc: 0, yaw: 0 })));
      p.handle('sim0/1', wire(adsb({ altitudeType: 1, altitude: 300_000 })));
      expect(p.list()[0]).toMatchObject({ altType: 'geometric', altAmslM: 320, altCorrected: true });
    } finally {
      p.close();
    }
  });
});

describe('traffic picture', () => {
  it('one aircraft relayed by two vehicles is one entry (newest report), listing both; dropped 20 s after the last report', () => {
    let now = 10_000;
    const p = new TrafficPicture(undefined, { now: () => now });
    try {
      p.handle('sim0/1', wire(adsb({ lat: 340600000 }), 1));
      now += 500;
      p.handle('sim1/2', wire(adsb({ lat: 340610000 }), 2));
      // the first vehicle's older report (tslc 3: heard 2 s before) does not move it back
      now += 100;
      p.handle('sim0/1', wire(adsb({ lat: 340590000, tslc: 3 }), 1));
      let l = p.list();
      expect(l).toHaveLength(1);
      expect(l[0].lat).toBeCloseTo(34.061, 6);
      expect(l[0].relays.sort()).toEqual(['sim0/1', 'sim1/2']);
      p.handle('sim0/1', wire(adsb({ ICAOAddress: 0x780abc, callsign: 'CES5123' }), 1));
      expect(p.list().map((a) => a.callsign).sort()).toEqual(['CES5123', 'HELI01']);
      // a tlog replay's aircraft are not today's
      p.handle('replay-1/1', wire(adsb({ ICAOAddress: 0x123456 }), 1));
      expect(p.list().map((a) => a.icao).sort()).toEqual(['780ABC', '7C4A11']);
      now += 19_000;
      expect(p.list()).toHaveLength(2);
      now += 1_500;
      l = p.list();
      expect(l).toHaveLength(0);
    } finally {
      p.close();
    }
  });
});

// ------------------------------------------------------------------------------------------ judge

const POL = TrafficPolicySchema.parse({});
const O: JudgeOptions = { horizonS: POL.horizonS, alertM: POL.alertM, alertVerticalM: POL.alertVerticalM, stepS: 0.5, lowestLayerZ: null };
const still = (x: number, y: number, z: number): P3[] => trajectory({ kind: 'still', at: { x, y, z } }, O.horizonS, O.stepS);
const moving = (x: number, y: number, z: number, vx: number, vy: number): P3[] => trajectory({ kind: 'velocity', from: { x, y, z }, vx, vy, vz: 0 }, O.horizonS, O.stepS);
const plane = (x: number, y: number, z: number, vx: number, vy: number, callsign = 'HELI01'): AircraftTrack => ({ icao: '7C4A11', callsign, pos: { x, y, z }, vx, vy, vz: 0 });

describe('threat judge', () => {
  it('policy defaults: 60 s, 2000 m, 300 m, suggest, 30 s; part of the airspace policy', () => {
    expect(POL).toEqual({ enabled: true, horizonS: 60, alertM: 2000, alertVerticalM: 300, action: 'suggest', clearS: 30 });
    expect(PolicySchema.parse({}).airspace.traffic).toEqual(POL);
  });

  it('a helicopter crossing where the drone will be in 30 s: a threat, closest approach ~0 m in ~30 s → land', () => {
    // drone east at 10 m/s from the origin; helicopter 1200 m south of (300, 0), flying north at 40 m/s
    const t = judgeFlight(moving(0, 0, 120, 10, 0), [plane(300, -1200, 130, 0, 40)], O);
    expect(t).toHaveLength(1);
    expect(t[0].action).toBe('land');
    expect(t[0].minM).toBeLessThan(10);
    expect(t[0].tcaS).toBeCloseTo(30, 0);
    expect(t[0].nowM).toBeCloseTo(Math.hypot(300, 1200), 0);
    expect(t[0].verticalM).toBeCloseTo(10, 0);
  });

  it('passing 1000 m away: a threat (< 2000 m) but hold, not land; closest approach beyond 60 s is not seen', () => {
    const t = judgeFlight(still(0, 0, 120), [plane(-1000, -1500, 150, 0, 50)], O);
    expect(t.map((x) => x.action)).toEqual(['hold']);
    expect(t[0].minM).toBeCloseTo(1000, 0);
    expect(t[0].tcaS).toBeCloseTo(30, 0);
    // 5 km out at 50 m/s: the closest approach comes in 100 s, beyond the horizon; at 60 s it is still 2 km off
    expect(judgeFlight(still(0, 0, 120), [plane(0, -5000, 120, 0, 50)], O)).toEqual([]);
    // within 500 m but 80 s away with a 120 s horizon: hold (land only within 60 s)
    const far = judgeFlight(trajectory({ kind: 'still', at: { x: 0, y: 0, z: 120 } }, 120, O.stepS), [plane(300, -4000, 120, 0, 50)], { ...O, horizonS: 120 });
    expect(far[0]).toMatchObject({ action: 'hold' });
    expect(far[0].tcaS).toBeCloseTo(80, 0);
  });

  it('vertical band: 400 m above is no threat; climbing into the band is; no altitude counts as within it', () => {
    expect(judgeFlight(still(0, 0, 120), [plane(0, -600, 520, 0, 20)], O)).toEqual([]);
    const climbing: AircraftTrack = { ...plane(0, -600, 520, 0, 20), vz: -5 };
    expect(judgeFlight(still(0, 0, 120), [climbing], O)).toHaveLength(1);
    expect(judgeFlight(still(0, 0, 120), [plane(0, -600, NaN, 0, 20)], O)[0]).toMatchObject({ action: 'land', verticalM: 0 });
  });

  it('descend to the lowest layer when that clears the vertical band, else hold', () => {
    // drone at 175 m AMSL (home 60 + 115), aircraft at 420 m: 245 m apart (a threat); the lowest layer 60 + 45 = 105 m is 315 m below it
    const t = judgeFlight(still(0, 0, 175), [plane(-1200, -1500, 420, 0, 50)], { ...O, lowestLayerZ: 105 });
    expect(t[0]).toMatchObject({ action: 'descend', toZ: 105 });
    // aircraft at 380 m: the lowest layer is only 275 m below it → hold
    expect(judgeFlight(still(0, 0, 175), [plane(-1200, -1500, 380, 0, 50)], { ...O, lowestLayerZ: 105 })[0]).toMatchObject({ action: 'hold' });
  });

  it('several aircraft: the most severe first; parallel traffic 3 km away is none', () => {
    const t = judgeFlight(still(0, 0, 120), [plane(-1000, -1500, 150, 0, 50, 'FAR'), plane(0, -800, 120, 0, 40, 'NEAR'), plane(3000, 0, 120, 0, 50, 'PARA')], O);
    expect(t.map((x) => [x.callsign, x.action])).toEqual([['NEAR', 'land'], ['FAR', 'hold']]);
  });

  it("an aircraft's report is advanced by its age along its track", () => {
    const toXY = (ll: [number, number]): [number, number] => [(ll[0] - 114) * 92_000, (ll[1] - 34) * 111_000];
    const a = decodeAdsb(wire(adsb({ lat: 340000000, lon: 1140000000, heading: 0, horVelocity: 5000 })).data as common.AdsbVehicle, 'v', 0)!;
    const tr = trackOf(a, toXY, 2);
    expect(tr.pos.y).toBeCloseTo(100, 6);
    expect(tr.vy).toBeCloseTo(50, 6);
    expect(tr.pos.z).toBeCloseTo(350 - 3, 6);
  });
});

describe('traffic alerts', () => {
  const src = fs.readFileSync(path.resolve(__dirname, '..', '..', 'src', 'delivery', 'traffic.ts'), 'utf8');
  it('every sentence the monitor writes has a code, a level and a translation in both languages', () => {
    expect(src).toContain('`Traffic: ${t.callsign} predicted ${t.minM.toFixed(0)} m from ${vehicleId} in ${t.tcaS.toFixed(0)} s (${t.verticalM.toFixed(0)} m vertically, ${t.nowM.toFixed(0)} m now)`');
    for (const w of ['`${this.text(id, top)}; suggested action ${action}`', '`${this.text(id, top)}; ${id} ordered to ${action}`', '`Traffic clear: ${t.callsign} no longer threatens ${id}`', '`Traffic clear: ${id} continues (no threat for ${pol.clearS} s)`', '`Traffic: ${id} refused to ${kind} (${ack.result})`']) expect(src).toContain(w);
    const samples = [
      ['critical', 'Traffic: HELI01 predicted 950 m from sim0/1 in 24 s (12 m vertically, 1800 m now); suggested action hold', 'traffic.threat'],
      ['critical', 'Traffic: <b>X predicted 120 m from sim0/1 in 31 s (0 m vertically, 1500 m now); sim0/1 ordered to land', 'traffic.actionSent'],
      ['info', 'Traffic clear: HELI01 no longer threatens sim0/1', 'traffic.cleared'],
      ['info', 'Traffic clear: sim0/1 continues (no threat for 30 s)', 'traffic.resumed'],
      ['critical', 'Traffic: sim0/1 refused to hold (FAILED)', 'traffic.refused'],
    ] as const;
    for (const [level, text, code] of samples) {
      const c = classifyAlert(level, text);
      expect([text, c.code, c.level]).toEqual([text, code, level]);
      expect((en as Record<string, string>)[`alert.${code}`]).toBeTruthy();
      expect((zh as Record<string, string>)[`alert.${code}`]).toBeTruthy();
    }
    expect(classifyAlert('critical', samples[0][1]).params).toEqual({ callsign: 'HELI01', minM: '950', vehicle: 'sim0/1', tcaS: '24', verticalM: '12', distanceM: '1800', action: 'hold' });
    expect(classifyAlert('critical', samples[1][1]).params).toMatchObject({ callsign: '<b>X', action: 'land' });
    for (const a of ['hold', 'descend', 'land']) for (const d of [en, zh] as Array<Record<string, string>>) expect(d[`traffic.action.${a}`]).toBeTruthy();
  });
});
