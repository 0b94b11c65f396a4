/**
 * Flat-earth helpers for the simulator: positions are kept as metres north/east/up of a fixed
 * origin (the instance's first home) and converted to latitude/longitude at the edges.
 * Good to a few centimetres over the tens of kilometres a delivery drone covers.
 */
import { greatCircleDistanceM } from '../planner/geo';

export const EARTH_RADIUS_M = 6378137;
const DEG = Math.PI / 180;

export interface LatLon {
  lat: number;
  lon: number;
}

export interface Ne {
  n: number;
  e: number;
}

export class LocalFrame {
  private readonly mPerDegLat: number;
  private readonly mPerDegLon: number;
  constructor(readonly origin: LatLon) {
    this.mPerDegLat = EARTH_RADIUS_M * DEG;
    this.mPerDegLon = EARTH_RADIUS_M * DEG * Math.cos(origin.lat * DEG);
  }
  toNe(p: LatLon): Ne {
    return { n: (p.lat - this.origin.lat) * this.mPerDegLat, e: (p.lon - this.origin.lon) * this.mPerDegLon };
  }
  toLatLon(p: Ne): LatLon {
    return { lat: this.origin.lat + p.n / this.mPerDegLat, lon: this.origin.lon + p.e / this.mPerDegLon };
  }
}

/** Great-circle distance in metres (haversine on the simulator's sphere, EARTH_RADIUS_M). */
export function distanceM(a: LatLon, b: LatLon): number {
  return greatCircleDistanceM([a.lon, a.lat], [b.lon, b.lat], EARTH_RADIUS_M);
}

/** The point `northM` north and `eastM` east of `p` (flat approximation). */
export function offsetLatLon(p: LatLon, northM: number, eastM: number): LatLon {
  return new LocalFrame(p).toLatLon({ n: northM, e: eastM });
}

/** Even-odd point-in-polygon test in local metres. */
export function insidePolygon(p: Ne, poly: Ne[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const a = poly[i];
    const b = poly[j];
    if (a.n > p.n !== b.n > p.n && p.e < ((b.e - a.e) * (p.n - a.n)) / (b.n - a.n) + a.e) inside = !inside;
  }
  return inside;
}

export function norm(n: number, e: number): number {
  return Math.sqrt(n * n + e * e);
}

/** Bearing in degrees [0, 360) of a north/east vector. */
export function bearingDeg(n: number, e: number): number {
  const d = Math.atan2(e, n) / DEG;
  return d < 0 ? d + 360 : d;
}
