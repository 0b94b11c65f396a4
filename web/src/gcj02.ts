/**
 * WGS-84 ↔ GCJ-02 conversion.
 *
 * Base maps published in mainland China (AutoNavi/Amap, Tencent, the Google China tiles) are drawn in
 * GCJ-02, an obfuscated datum that shifts positions by a few hundred metres. Dropline keeps every
 * coordinate in WGS-84 (what GPS and the autopilot use); when such a base map is shown, overlays are
 * moved into GCJ-02 for display and clicks are moved back to WGS-84.
 *
 * The forward transform is the published GCJ-02 formula (Krasovsky 1940 ellipsoid). The inverse has
 * no closed form: it is solved by fixed-point iteration to better than 1e-9 degrees (≈ 0.1 mm).
 * Outside China's bounding box both directions return the input unchanged, as the providers do.
 */

/** Semi-major axis of the Krasovsky 1940 ellipsoid, metres. */
const KRASOVSKY_A_M = 6378245.0;
/** First eccentricity squared of the Krasovsky 1940 ellipsoid. */
const KRASOVSKY_EE = 0.00669342162296594323;

export interface LatLon {
  lat: number;
  lon: number;
}

/** True when the point is outside the box in which GCJ-02 providers apply the shift. */
export function outOfChina(lat: number, lon: number): boolean {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function shiftLat(x: number, y: number): number {
  let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320.0 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return r;
}

function shiftLon(x: number, y: number): number {
  let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return r;
}

/** The GCJ-02 offset (degrees) at a WGS-84 point. */
function offsetDeg(lat: number, lon: number): { dLat: number; dLon: number } {
  const radLat = (lat / 180.0) * Math.PI;
  let magic = Math.sin(radLat);
  magic = 1 - KRASOVSKY_EE * magic * magic;
  const sqrtMagic = Math.sqrt(magic);
  const dLat = (shiftLat(lon - 105.0, lat - 35.0) * 180.0) / (((KRASOVSKY_A_M * (1 - KRASOVSKY_EE)) / (magic * sqrtMagic)) * Math.PI);
  const dLon = (shiftLon(lon - 105.0, lat - 35.0) * 180.0) / ((KRASOVSKY_A_M / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return { dLat, dLon };
}

function assertFinite(lat: number, lon: number): void {
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
    const err = new RangeError(`coordinate out of range: lat ${lat}, lon ${lon}`) as RangeError & { code: string };
    err.code = 'INVALID_COORDINATE';
    throw err;
  }
}

/** WGS-84 → GCJ-02. Throws a RangeError with code INVALID_COORDINATE for NaN or out-of-range input. */
export function wgs84ToGcj02(lat: number, lon: number): LatLon {
  assertFinite(lat, lon);
  if (outOfChina(lat, lon)) return { lat, lon };
  const { dLat, dLon } = offsetDeg(lat, lon);
  return { lat: lat + dLat, lon: lon + dLon };
}

/**
 * GCJ-02 → WGS-84 by fixed-point iteration: find w such that wgs84ToGcj02(w) = g.
 * Converges to < 1e-9° in a handful of steps (the offset changes slowly with position).
 */
export function gcj02ToWgs84(lat: number, lon: number): LatLon {
  assertFinite(lat, lon);
  if (outOfChina(lat, lon)) return { lat, lon };
  let wLat = lat;
  let wLon = lon;
  for (let i = 0; i < 30; i++) {
    const g = wgs84ToGcj02(wLat, wLon);
    const eLat = g.lat - lat;
    const eLon = g.lon - lon;
    wLat -= eLat;
    wLon -= eLon;
    if (Math.abs(eLat) < 1e-10 && Math.abs(eLon) < 1e-10) break;
  }
  return { lat: wLat, lon: wLon };
}
