/**
 * The simulated vehicle's flight physics: wind and gusts, velocity control with acceleration and
 * airspeed limits, drift without a position estimate, touchdown, and SmartRTL breadcrumbs.
 */
import { norm, bearingDeg } from '../geo';
import { AIRFRAME, clamp } from './constants';
import type { VehicleState, Nav } from './state';
import { positionOk } from './flight-modes';

export function windVector(v: VehicleState): { n: number; e: number } {
  let spd = 0;
  let from = 0;
  let turb = 0;
  if (v.faults.wind) {
    spd = v.faults.wind.speedMps;
    from = v.faults.wind.fromDeg;
    turb = v.faults.wind.gustMps;
  } else if (v.ap) {
    spd = v.p('SIM_WIND_SPD');
    from = v.p('SIM_WIND_DIR');
    turb = v.p('SIM_WIND_TURB');
  }
  const r = (from * Math.PI) / 180;
  return { n: -spd * Math.cos(r) + v.gust.n * (turb > 0 ? 1 : 0), e: -spd * Math.sin(r) + v.gust.e * (turb > 0 ? 1 : 0) };
}

export function updateGust(v: VehicleState, dt: number): void {
  const turb = v.faults.wind ? v.faults.wind.gustMps : v.ap ? v.p('SIM_WIND_TURB') : 0;
  const tau = 3;
  const sigma = turb;
  const k = Math.sqrt((2 * dt) / tau) * sigma;
  const gauss = () => {
    const u1 = Math.max(1e-9, v.random());
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * v.random());
  };
  v.gust.n += (-v.gust.n / tau) * dt + k * gauss();
  v.gust.e += (-v.gust.e / tau) * dt + k * gauss();
}

export function stepPhysics(v: VehicleState, dt: number, nav: Nav): void {
  updateGust(v, dt);
  const wind = windVector(v);
  const aMax = v.accelMps2();
  // Desired velocity from the navigation request.
  let vdn = 0;
  let vde = 0;
  let vdu = 0;
  let posControl = true;
  if (nav.kind === 'ground') {
    if (!v.flying) {
      v.vel = { n: 0, e: 0, u: 0 };
      v.accel = { n: 0, e: 0 };
      v.pos.u = 0;
      v.airVel = { n: 0, e: 0 };
      return;
    }
    vdu = -v.landSpeedMps();
  } else if (nav.kind === 'drift') {
    posControl = false;
  } else if (nav.kind === 'land') {
    if (nav.n !== null && nav.e !== null) [vdn, vde] = horizontalToward(v, nav.n, nav.e, v.wpSpeedMps(), aMax);
    else posControl = false;
    vdu = -v.landSpeedMps();
    v.landing = true;
  } else {
    const speed = nav.kind === 'goto' ? nav.speedMps : v.wpSpeedMps();
    [vdn, vde] = horizontalToward(v, nav.n, nav.e, nav.kind === 'goto' && nav.speedMps === 0 ? 0 : speed, aMax);
    const dz = nav.u - v.pos.u;
    const up = v.climbMps();
    const dn = nav.kind === 'hold' && nav.pilotDescentMps ? nav.pilotDescentMps : v.descentMps();
    const aZ = v.ap ? Math.max(0.3, v.p('WPNAV_ACCEL_Z') / 100) : 1;
    const vz = Math.sign(dz) * Math.min(Math.sqrt(2 * aZ * Math.abs(dz)), Math.abs(dz) * 2);
    vdu = clamp(vz, -dn, up);
    v.landing = false;
  }
  if (!v.flying) {
    if (vdu > 0.05 && v.takingOff) {
      v.flying = true;
      v.takingOff = false;
      v.landedAtS = -1;
    } else {
      v.vel = { n: 0, e: 0, u: 0 };
      return;
    }
  }
  if (posControl) {
    // Ground-velocity control with accel limit; wind shifts the airspeed needed and gusts leak through.
    let dvn = vdn - (v.vel.n - v.gust.n * 0.15);
    let dve = vde - (v.vel.e - v.gust.e * 0.15);
    const dv = norm(dvn, dve);
    const maxDv = aMax * dt * 1.0;
    if (dv > maxDv) {
      dvn *= maxDv / dv;
      dve *= maxDv / dv;
    }
    let cn = v.vel.n - v.gust.n * 0.15 + dvn;
    let ce = v.vel.e - v.gust.e * 0.15 + dve;
    // Airspeed limit: what the airframe can hold against the wind.
    let an = cn - wind.n;
    let ae = ce - wind.e;
    const air = norm(an, ae);
    if (air > AIRFRAME.maxAirspeedMps) {
      an *= AIRFRAME.maxAirspeedMps / air;
      ae *= AIRFRAME.maxAirspeedMps / air;
      cn = an + wind.n;
      ce = ae + wind.e;
    }
    v.accel = { n: (cn - v.vel.n) / dt, e: (ce - v.vel.e) / dt };
    v.airVel = { n: an, e: ae };
    const gn = cn + v.gust.n * 0.15;
    const ge = ce + v.gust.e * 0.15;
    v.vel.n = gn;
    v.vel.e = ge;
  } else {
    // No position estimate: attitude held level, the vehicle drifts with the air mass.
    const tau = 2;
    v.airVel.n += (-v.airVel.n / tau) * dt;
    v.airVel.e += (-v.airVel.e / tau) * dt;
    const nvn = v.airVel.n + wind.n;
    const nve = v.airVel.e + wind.e;
    v.accel = { n: (nvn - v.vel.n) / dt, e: (nve - v.vel.e) / dt };
    v.vel.n = nvn;
    v.vel.e = nve;
  }
  const aZ = v.ap ? Math.max(0.3, v.p('WPNAV_ACCEL_Z') / 100) * 2 : 2;
  v.vel.u += clamp(vdu - v.vel.u, -aZ * dt, aZ * dt);
  v.pos.n += v.vel.n * dt;
  v.pos.e += v.vel.e * dt;
  v.pos.u += v.vel.u * dt;
  const sp = norm(v.vel.n, v.vel.e);
  if (sp > 1) v.yawDeg = bearingDeg(v.vel.n, v.vel.e);
  if (v.pos.u <= 0) {
    v.pos.u = 0;
    if (v.vel.u <= 0 && v.flying) {
      v.flying = false;
      v.vel = { n: 0, e: 0, u: 0 };
      v.landedAtS = v.tS;
      v.groundSinceS = v.tS;
    }
  }
  // SmartRTL breadcrumbs.
  if (v.flying && v.mode !== 'SMART_RTL' && positionOk(v)) {
    const last = v.breadcrumbs[v.breadcrumbs.length - 1];
    if (!last || Math.hypot(v.pos.n - last.n, v.pos.e - last.e) > 3) {
      v.breadcrumbs.push({ n: v.pos.n, e: v.pos.e });
      if (v.breadcrumbs.length > 300) v.breadcrumbs.shift();
    }
  }
}

export function horizontalToward(v: VehicleState, n: number, e: number, speed: number, aMax: number): [number, number] {
  const dn = n - v.pos.n;
  const de = e - v.pos.e;
  const d = norm(dn, de);
  if (d < 0.01) return [0, 0];
  const vMps = Math.min(speed > 0 ? speed : 0, Math.sqrt(2 * aMax * d) * 0.95, d * 2);
  return [(dn / d) * vMps, (de / d) * vMps];
}
