/**
 * The flight cut into legs (takeoff, cruise, descend, hold, release, settle, climb, land) with the
 * time and energy of each (`energy.ts`), the mass aboard on each (a parcel is off once released),
 * and the point of no return.
 */
import { cruiseGroundSpeed, massFactor, type Leg, type LegKind } from './energy';
import { planError, type PlanError } from './errors';
import { geodesicDistanceM, round7, type LocalProjection, type LonLat } from './geo';
import { settleSeconds } from './mission';
import type { NormalizedRequest } from './request';

export interface PointOfNoReturn {
  /**
   * Distance along the outbound route beyond which the vehicle could no longer carry the parcel
   * back to the launch site with the reserve intact (e.g. when the drop is aborted), m. Equal to
   * the outbound length when the parcel can be brought back from the drop point itself. In a
   * sortie: along the path to the first drop flown, with every parcel aboard.
   */
  alongRouteM: number;
  lon: number;
  lat: number;
  /** True when the point lies before the (first) drop point. */
  onRoute: boolean;
  /** Energy to spare when turning back at the (first) drop point with the parcels (negative = short), Wh. */
  abortMarginWh: number;
}

export interface FlightDrop {
  /** Request index (0 = `drop`). */
  index: number;
  /** Path from the launch or the previous drop to this drop, both ends included. */
  path: LonLat[];
  dropAltM: number;
  /** This parcel's mass, kg. */
  massKg: number;
}

export interface FlightInput {
  /** The drops in flight order. */
  drops: FlightDrop[];
  /** Path from the last drop to the launch, both ends included. */
  back: LonLat[];
  cruiseAltM: number;
  req: NormalizedRequest;
  /** Tag each drop's legs with its request index (`Leg.drop`): sorties only. */
  tagDrops: boolean;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * Legs of the whole flight, or WIND_TOO_STRONG when a cruise leg has no ground speed. `releaseLeg[i]`
 * is the index of the release leg of `drops[i]`. Legs up to the last release are 'outbound', the
 * rest 'return'.
 */
export function flightLegs(f: FlightInput): { ok: true; legs: Leg[]; releaseLeg: number[] } | { ok: false; error: PlanError } {
  const prof = f.req.profile, wind = f.req.wind, cruiseAltM = f.cruiseAltM;
  const legs: Leg[] = [];
  const releaseLeg: number[] = [];
  let cumD = 0, cumT = 0, cumE = 0;
  const pushLeg = (kind: LegKind, phase: Leg['phase'], from: LonLat, to: LonLat, altStartM: number, altEndM: number, durationS: number, powerW: number, aboardKg: number, extra: Partial<Leg> = {}) => {
    const distanceM = geodesicDistanceM(from, to);
    const energyWh = (powerW * durationS) / 3600;
    cumD += distanceM; cumT += durationS; cumE += energyWh;
    legs.push({ index: legs.length, kind, phase, from, to, distanceM, altStartM, altEndM, ...extra, massKg: prof.emptyMassKg + aboardKg, powerW, durationS, energyWh, cumDistanceM: cumD, cumDurationS: cumT, cumEnergyWh: cumE });
  };
  const cruise = (phase: Leg['phase'], path: LonLat[], aboardKg: number, tag: Partial<Leg>): PlanError | null => {
    const mf = massFactor(prof, aboardKg);
    for (let i = 1; i < path.length; i++) {
      const gs = cruiseGroundSpeed(path[i - 1], path[i], prof.cruiseSpeedMps, wind);
      if (!gs.ok) return planError('WIND_TOO_STRONG', `wind ${wind.speedMps} m/s from ${wind.fromDeg}° leaves no ground speed on the ${phase} leg ${i} (course ${gs.courseDeg.toFixed(0)}°)`, { leg: i, phase, ...tag, courseDeg: gs.courseDeg, crosswindMps: gs.crosswindMps, tailwindMps: gs.tailwindMps });
      const d = geodesicDistanceM(path[i - 1], path[i]);
      pushLeg('cruise', phase, path[i - 1], path[i], cruiseAltM, cruiseAltM, d / gs.groundSpeedMps, prof.cruisePowerW * mf, aboardKg,
        { ...tag, courseDeg: round2(gs.courseDeg), tailwindMps: round2(gs.tailwindMps), crosswindMps: round2(gs.crosswindMps), groundSpeedMps: round2(gs.groundSpeedMps) });
    }
    return null;
  };
  /** Mass of the parcels still aboard once the first `released` drops (flight order) are done. */
  const aboard = (released: number) => f.drops.slice(released).reduce((s, d) => s + d.massKg, 0);
  const launch = f.drops[0].path[0];
  pushLeg('takeoff', 'outbound', launch, launch, 0, cruiseAltM, cruiseAltM / prof.climbRateMps, prof.hoverPowerW * prof.climbPowerFactor * massFactor(prof, aboard(0)), aboard(0));
  for (let i = 0; i < f.drops.length; i++) {
    const d = f.drops[i];
    const tag: Partial<Leg> = f.tagDrops ? { drop: d.index } : {};
    const before = aboard(i), after = aboard(i + 1);
    const mb = massFactor(prof, before), ma = massFactor(prof, after);
    const at = d.path[d.path.length - 1];
    const e = cruise('outbound', d.path, before, tag);
    if (e) return { ok: false, error: e };
    pushLeg('descend', 'outbound', at, at, cruiseAltM, d.dropAltM, (cruiseAltM - d.dropAltM) / prof.descentRateMps, prof.hoverPowerW * prof.descentPowerFactor * mb, before, tag);
    pushLeg('hold', 'outbound', at, at, d.dropAltM, d.dropAltM, prof.holdBeforeReleaseS, prof.hoverPowerW * mb, before, tag);
    releaseLeg.push(legs.length);
    pushLeg('release', 'outbound', at, at, d.dropAltM, d.dropAltM, 0, prof.hoverPowerW * mb, before, tag);
    const phase: Leg['phase'] = i === f.drops.length - 1 ? 'return' : 'outbound';
    pushLeg('settle', phase, at, at, d.dropAltM, d.dropAltM, settleSeconds(prof, f.req.payload.release, d.dropAltM), prof.hoverPowerW * ma, after, tag);
    pushLeg('climb', phase, at, at, d.dropAltM, cruiseAltM, (cruiseAltM - d.dropAltM) / prof.climbRateMps, prof.hoverPowerW * prof.climbPowerFactor * ma, after, tag);
  }
  const rest = aboard(f.drops.length);
  const er = cruise('return', f.back, rest, {});
  if (er) return { ok: false, error: er };
  pushLeg('land', 'return', launch, launch, cruiseAltM, 0, cruiseAltM / prof.descentRateMps, prof.hoverPowerW * prof.descentPowerFactor * massFactor(prof, rest), rest);
  return { ok: true, legs, releaseLeg };
}

/**
 * The farthest point along `outbound` (launch → the first drop) from which the parcels aboard
 * (`massKg`) could still be carried back to launch with the reserve intact: takeoff + out(s) +
 * back(s) + landing ≤ battery − reserve, with the wind on each leg.
 */
export function pointOfNoReturn(outbound: LonLat[], massKg: number, req: NormalizedRequest, cruiseAltM: number, proj: LocalProjection): PointOfNoReturn {
  const prof = req.profile;
  const mf = massFactor(prof, massKg);
  const usableWh = prof.batteryWh * (1 - prof.reservePct / 100)
    - ((cruiseAltM / prof.climbRateMps) * prof.hoverPowerW * prof.climbPowerFactor * mf) / 3600
    - ((cruiseAltM / prof.descentRateMps) * prof.hoverPowerW * prof.descentPowerFactor * mf) / 3600;
  const P = prof.cruisePowerW * mf;
  const perM: number[] = [];
  const lens: number[] = [];
  for (let i = 1; i < outbound.length; i++) {
    const a = outbound[i - 1], b = outbound[i];
    const out = cruiseGroundSpeed(a, b, prof.cruiseSpeedMps, req.wind);
    const ret = cruiseGroundSpeed(b, a, prof.cruiseSpeedMps, req.wind);
    perM.push((out.ok ? P / out.groundSpeedMps / 3600 : Infinity) + (ret.ok ? P / ret.groundSpeedMps / 3600 : Infinity));
    lens.push(geodesicDistanceM(a, b));
  }
  const totalWh = perM.reduce((s, e, i) => s + e * lens[i], 0);
  const abortMarginWh = round2(usableWh - totalWh);
  let spent = 0;
  let along = 0;
  for (let i = 0; i < perM.length; i++) {
    if (spent + perM[i] * lens[i] > usableWh) {
      const s = Math.max(0, (usableWh - spent) / perM[i]);
      const t = lens[i] > 0 ? Math.min(1, s / lens[i]) : 0;
      const pa = proj.toXY(outbound[i]), pb = proj.toXY(outbound[i + 1]);
      const [lon, lat] = proj.toLonLat([pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1])]);
      return { alongRouteM: round2(along + s), lon: round7(lon), lat: round7(lat), onRoute: true, abortMarginWh };
    }
    spent += perM[i] * lens[i];
    along += lens[i];
  }
  const end = outbound[outbound.length - 1];
  return { alongRouteM: round2(along), lon: end[0], lat: end[1], onRoute: false, abortMarginWh };
}
