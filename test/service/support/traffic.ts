/**
 * Aircraft placed for the traffic tests ('adsb-traffic' fault, absolute form): shared by the
 * built-in simulator's and ArduCopter SITL's versions of the same scenario.
 */

/**
 * An aircraft crossing `behindM` behind the launch (on the side away from the drop), perpendicular
 * to the launch → drop line, `inS` seconds from now at `speedMps`: the fault's `from` and `headingDeg`.
 */
export function crossingBehindLaunch(launch: { lon: number; lat: number }, drop: [number, number], behindM = 1000, inS = 30, speedMps = 50): { from: [number, number]; headingDeg: number } {
  const kx = 111_320 * Math.cos((launch.lat * Math.PI) / 180), ky = 110_540;
  const ux = (drop[0] - launch.lon) * kx, uy = (drop[1] - launch.lat) * ky;
  const n = Math.hypot(ux, uy);
  const behind = { x: (-behindM * ux) / n, y: (-behindM * uy) / n };
  const perp = { x: -uy / n, y: ux / n };
  const lead = speedMps * inS;
  return {
    from: [launch.lon + (behind.x - perp.x * lead) / kx, launch.lat + (behind.y - perp.y * lead) / ky],
    headingDeg: ((Math.atan2(perp.x, perp.y) * 180) / Math.PI + 360) % 360,
  };
}
