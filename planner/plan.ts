/**
 * planDelivery: zones + request → route, legs, energy, mission, fence and rally items, or a typed
 * error. Pure and deterministic: no I/O, no clock, no randomness; inputs are never mutated.
 */
import type { Feature, LineString } from 'geojson';
import type { MissionItem } from '../src/mavlink/mission-item';
import { planError, type PlanError, type Warning } from './errors';
import { cruiseGroundSpeed, massFactor, type Leg, type LegKind } from './energy';
import { buildCorridorFence, checkRouteAgainstFence, fenceItems, rallyItems } from './fence';
import { geodesicDistanceM, lineLengthM, localProjection, pointInPolygon, pointPolygonDistance, pointRingDistance, round7, segmentSegmentDistance, segmentsIntersect, type LocalProjection, type LonLat, type XY } from './geo';
import { buildMission, settleSeconds } from './mission';
import { planRequestSchema, vehicleProfileSchema, DEFAULT_FENCE_CAPACITY, DEFAULT_PROFILE, type NormalizedRequest, type VehicleProfile } from './request';
import { buildRouteIndex, findPath, inFreeSpace, obstacleAt, type RouteIndex } from './route';
import { validateZones, type ParsedZones } from './zones';
import { buildZoneIndex, partsInBox, type ZoneIndex } from './zone-index';

export interface PointOfNoReturn {
  /**
   * Distance along the outbound route beyond which the vehicle could no longer carry the parcel
   * back to the launch site with the reserve intact (e.g. when the drop is aborted), m. Equal to
   * the outbound length when the parcel can be brought back from the drop point itself.
   */
  alongRouteM: number;
  lon: number;
  lat: number;
  /** True when the point lies before the drop point. */
  onRoute: boolean;
  /** Energy to spare when turning back at the drop point with the parcel (negative = short), Wh. */
  abortMarginWh: number;
}

export interface RallyDistance {
  /** Distance along the full route, m. */
  alongRouteM: number;
  lon: number;
  lat: number;
  /** Nearest uploaded rally point, by name or feature index. */
  rally: string;
  distanceM: number;
}

export interface PlanOk {
  ok: true;
  /** launch → drop → launch, [lon, lat]. */
  route: Feature<LineString>;
  legs: Leg[];
  /** 2-D geodesic length of route, m. */
  distanceM: number;
  durationS: number;
  energyWh: number;
  reserveWh: number;
  /** Battery energy left at landing, Wh. */
  remainingWh: number;
  pointOfNoReturn: PointOfNoReturn;
  /** Nearest rally point at each route vertex; null when no rally point is uploaded. */
  rallyDistances: RallyDistance[] | null;
  /** The largest of rallyDistances' distances, m (null without rally points). */
  maxDistanceToRallyM: number | null;
  mission: MissionItem[];
  fence: MissionItem[];
  rally: MissionItem[];
  /** What the fence is made of and what it costs the vehicle's storage. */
  fenceSummary: FenceSummary;
  warnings: Warning[];
  launch: { name?: string; lon: number; lat: number };
  drop: { lon: number; lat: number; sealedZone?: string };
  cruiseAltM: number;
  dropAltM: number;
  farthestFromLaunchM: number;
  request: NormalizedRequest;
}

export interface FenceSummary {
  /** The vehicle's fence storage the plan was fitted to, items. */
  fenceCapacity: number;
  /** Storage the fence takes: vertices, plus one item for every four polygons beyond the first. */
  storageItems: number;
  /** Fence items uploaded (polygon vertices). */
  items: number;
  /** The corridor margin the inclusion polygon was built with, m (the request's, or narrowed to fit). */
  corridorMarginM: number;
  /** True when the inclusion polygon keeps out of the no-fly zones instead of excluding them. */
  zonesFencedOut: boolean;
  /** The least distance from the route to each polygon, in item order (inclusion first), m. */
  routeClearanceM: number[];
  /** One entry per exclusion polygon, in item order. */
  exclusions: { featureIndex: number; part: number; name?: string; kind: 'no-fly' | 'area-hole'; vertices: number }[];
}

export type PlanResult = PlanOk | { ok: false; error: PlanError };

/** A planner bound to one set of zones: validates them once and reuses the route index. */
export interface Planner {
  zones: ParsedZones;
  plan(request: unknown): PlanResult;
  /** The route index for a clearance and area margin (built on first use, then kept). */
  routeIndex(clearanceM?: number, areaMarginM?: number): RouteIndex;
}

export function createPlanner(zones: unknown): { ok: true; planner: Planner } | { ok: false; error: PlanError } {
  const v = validateZones(zones);
  if (!v.ok) return v;
  const parsed = v.zones;
  const proj = zoneProjection(parsed);
  const zi = buildZoneIndex(parsed, proj);
  const cache = new Map<string, RouteIndex>();
  const index = (clearanceM: number, areaMarginM: number) => {
    const key = `${clearanceM}|${areaMarginM}`;
    let idx = cache.get(key);
    if (!idx) {
      idx = buildRouteIndex(parsed, proj, { clearanceM, areaMarginM });
      cache.set(key, idx);
    }
    return idx;
  };
  return { ok: true, planner: { zones: parsed, plan: (request) => safePlan(parsed, zi, index, request), routeIndex: (c = 30, m = 20) => index(c, m) } };
}

export function planDelivery(zones: unknown, request: unknown): PlanResult {
  const p = createPlanner(zones);
  if (!p.ok) return p;
  return p.planner.plan(request);
}

/** The local frame: centred on the operating area's bounding box. */
export function zoneProjection(z: ParsedZones): LocalProjection {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const [x, y] of z.area.polygon[0]) { minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
  return localProjection((minX + maxX) / 2, (minY + maxY) / 2);
}

function safePlan(z: ParsedZones, zi: ZoneIndex, index: (c: number, m: number) => RouteIndex, request: unknown): PlanResult {
  try {
    return plan(z, zi, index, request);
  } catch (e) {
    return { ok: false, error: planError('INVALID_REQUEST', `the plan could not be computed: ${(e as Error).message}`) };
  }
}

function fail(code: PlanError['code'], message: string, details?: unknown): { ok: false; error: PlanError } {
  return { ok: false, error: planError(code, message, details) };
}

function normalise(z: ParsedZones, request: unknown): { ok: true; req: NormalizedRequest } | { ok: false; error: PlanError } {
  const r = planRequestSchema.safeParse(request);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    return fail('INVALID_REQUEST', `invalid request: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, { issues });
  }
  const d = r.data;
  let launch: NormalizedRequest['launch'];
  if (typeof d.launch === 'string') {
    const site = z.launchSites.find((s) => s.name === d.launch);
    if (!site) return fail('UNKNOWN_LAUNCH_SITE', `no launch site named "${d.launch}"; known: ${z.launchSites.map((s) => `"${s.name}"`).join(', ') || 'none'}`, { launch: d.launch, known: z.launchSites.map((s) => s.name) });
    launch = { name: site.name, lon: site.lon, lat: site.lat };
  } else if (Array.isArray(d.launch)) {
    launch = { lon: d.launch[0], lat: d.launch[1] };
  } else {
    const site = z.launchSites[0];
    if (!site) return fail('INVALID_REQUEST', 'the request names no launch and the zones have no launch site', { path: 'launch' });
    launch = { name: site.name, lon: site.lon, lat: site.lat };
  }
  const profile: VehicleProfile = vehicleProfileSchema.parse({ ...DEFAULT_PROFILE, ...(d.profile ?? {}) });
  return {
    ok: true,
    req: {
      launch, drop: [d.drop[0], d.drop[1]], profile, payload: { massKg: d.payload.massKg, release: d.payload.release },
      wind: { speedMps: d.wind.speedMps, fromDeg: ((d.wind.fromDeg % 360) + 360) % 360 }, clearanceM: d.clearanceM,
      fenceCapacity: d.fenceCapacity ?? d.options.fenceMaxItems ?? DEFAULT_FENCE_CAPACITY,
      options: { areaMarginM: d.options.areaMarginM, fenceMarginM: d.options.fenceMarginM, corridorMarginM: d.options.corridorMarginM, rallyAltM: d.options.rallyAltM ?? profile.cruiseAltM },
    },
  };
}

function checkPoint(z: ParsedZones, zi: ZoneIndex, req: NormalizedRequest, p: LonLat, what: 'launch' | 'drop'): PlanError | null {
  const xy = zi.projection.toXY(p);
  const area = zi.areaRings;
  const inside = pointInPolygon(xy, area);
  const edgeM = Math.min(...area.map((r) => pointRingDistance(xy, r)));
  const W = what === 'launch' ? 'LAUNCH' : 'DROP';
  if (!inside || edgeM < req.options.areaMarginM) {
    return planError(`${W}_OUTSIDE_AREA`, inside
      ? `the ${what} point [${p}] is ${edgeM.toFixed(1)} m inside the operating area's edge, closer than the ${req.options.areaMarginM} m margin`
      : `the ${what} point [${p}] is outside the operating area (${edgeM.toFixed(1)} m from its edge)`,
    { position: p, inside, distanceToEdgeM: round2(edgeM), areaMarginM: req.options.areaMarginM });
  }
  const reach = Math.max(req.clearanceM, zi.maxZoneClearanceM);
  for (const id of partsInBox(zi, xy[0] - reach, xy[1] - reach, xy[0] + reach, xy[1] + reach)) {
    const part = zi.parts[id];
    if (part.kind !== 'no-fly') continue;
    const nf = z.noFly[part.zone];
    const c = nf.clearanceM ?? req.clearanceM;
    const d = pointPolygonDistance(xy, [part.ring, ...part.holes]);
    if (d < c) {
      const label = `no-fly feature #${nf.index}${nf.name ? ` "${nf.name}"` : ''}`;
      return planError(`${W}_IN_NO_FLY`, d === 0 ? `the ${what} point [${p}] is inside ${label}` : `the ${what} point [${p}] is ${d.toFixed(1)} m from ${label}, within its ${c} m clearance`,
        { position: p, featureIndex: nf.index, name: nf.name, distanceM: round2(d), clearanceM: c });
    }
  }
  return null;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/** Least distance from a polyline to a ring's edges, metres (floored to the centimetre). */
function routeClearance(route: XY[], ring: XY[]): number {
  let d = Infinity;
  for (let i = 1; i < route.length; i++) for (let k = 0; k < ring.length; k++) d = Math.min(d, segmentSegmentDistance(route[i - 1], route[i], ring[k], ring[(k + 1) % ring.length]));
  return Math.floor(d * 100) / 100;
}

function segmentCrossesPolygon(a: XY, b: XY, poly: XY[][]): boolean {
  if (pointInPolygon(a, poly) || pointInPolygon(b, poly)) return true;
  for (const r of poly) for (let i = 0; i < r.length; i++) if (segmentsIntersect(a, b, r[i], r[(i + 1) % r.length])) return true;
  return false;
}

function plan(z: ParsedZones, zi: ZoneIndex, index: (c: number, m: number) => RouteIndex, request: unknown): PlanResult {
  const proj = zi.projection;
  const n = normalise(z, request);
  if (!n.ok) return n;
  const req = n.req;
  const prof = req.profile;
  const warnings: Warning[] = [...z.warnings];
  if (prof.dropAltM > prof.cruiseAltM) return fail('INVALID_REQUEST', `profile.dropAltM (${prof.dropAltM} m) is above profile.cruiseAltM (${prof.cruiseAltM} m)`, { path: 'profile.dropAltM' });
  if (req.payload.massKg > prof.maxPayloadKg) return fail('PAYLOAD_TOO_HEAVY', `payload ${req.payload.massKg} kg exceeds the vehicle's ${prof.maxPayloadKg} kg`, { massKg: req.payload.massKg, maxPayloadKg: prof.maxPayloadKg });
  if (req.wind.speedMps > prof.maxWindMps) return fail('WIND_TOO_STRONG', `wind ${req.wind.speedMps} m/s exceeds the vehicle's limit of ${prof.maxWindMps} m/s`, { windMps: req.wind.speedMps, maxWindMps: prof.maxWindMps });

  const launchLL: LonLat = [req.launch.lon, req.launch.lat];
  const dropLL: LonLat = [req.drop[0], req.drop[1]];
  const e1 = checkPoint(z, zi, req, launchLL, 'launch');
  if (e1) return { ok: false, error: e1 };
  const e2 = checkPoint(z, zi, req, dropLL, 'drop');
  if (e2) return { ok: false, error: e2 };

  const idx = index(req.clearanceM, req.options.areaMarginM);
  const startXY = proj.toXY(launchLL), goalXY = proj.toXY(dropLL);
  for (const [p, what] of [[startXY, 'launch'], [goalXY, 'drop']] as const) {
    if (!inFreeSpace(idx, p)) {
      const ob = obstacleAt(idx, p);
      const W = what === 'launch' ? 'LAUNCH' : 'DROP';
      if (ob >= 0) {
        const nf = z.noFly[idx.obstacles[ob].zone];
        return fail(`${W}_IN_NO_FLY`, `the ${what} point is within the safety-inflated clearance of no-fly feature #${nf.index}${nf.name ? ` "${nf.name}"` : ''}`, { featureIndex: nf.index, name: nf.name, bufferRadiusM: round2(idx.bufferRadiusM[idx.obstacles[ob].zone]) });
      }
      return fail(`${W}_OUTSIDE_AREA`, `the ${what} point is within the safety-inflated margin of the operating area's edge`, { areaMarginM: req.options.areaMarginM });
    }
  }
  const found = findPath(idx, startXY, goalXY);
  if (!found.ok) {
    return fail('UNREACHABLE', `no safe path joins the launch and the drop point: the drop is cut off by no-fly zones (with their clearance) or the operating area's edge`, { reason: found.reason, clearanceM: req.clearanceM, areaMarginM: req.options.areaMarginM });
  }
  const outbound: LonLat[] = found.path.map((p, i) => (i === 0 ? launchLL : i === found.path.length - 1 ? dropLL : ([round7(proj.toLonLat(p)[0]), round7(proj.toLonLat(p)[1])] as LonLat)));
  const outboundXY = outbound.map((c) => proj.toXY(c));
  const fullRoute: LonLat[] = [...outbound, ...outbound.slice(0, -1).reverse()];

  // altitudes: at least every crossed sealed zone's minimum
  let cruiseAltM = prof.cruiseAltM;
  let dropAltM = prof.dropAltM;
  let dropZone: string | undefined;
  let rx0 = Infinity, ry0 = Infinity, rx1 = -Infinity, ry1 = -Infinity;
  for (const [x, y] of outboundXY) { rx0 = Math.min(rx0, x); ry0 = Math.min(ry0, y); rx1 = Math.max(rx1, x); ry1 = Math.max(ry1, y); }
  const nearSealed = zi.sealedIndex ? zi.sealedIndex.search(rx0, ry0, rx1, ry1).sort((a, b) => a - b) : [];
  for (const si of nearSealed) {
    const s = zi.sealed[si];
    const poly = s.polygon;
    let crossed = false;
    for (let i = 1; i < outboundXY.length && !crossed; i++) crossed = segmentCrossesPolygon(outboundXY[i - 1], outboundXY[i], poly);
    if (crossed && s.minAltM !== undefined && s.minAltM > cruiseAltM) {
      cruiseAltM = s.minAltM;
      warnings.push({ code: 'CRUISE_ALT_RAISED', message: `cruise altitude raised to ${s.minAltM} m for sealed zone feature #${s.index} "${s.name}"`, details: { featureIndex: s.index, minAltM: s.minAltM } });
    }
    if (dropZone === undefined && pointInPolygon(goalXY, poly)) {
      dropZone = s.name;
      if (s.minAltM !== undefined && s.minAltM > dropAltM) {
        dropAltM = s.minAltM;
        warnings.push({ code: 'DROP_ALT_RAISED', message: `drop altitude raised to ${s.minAltM} m, the minimum of sealed zone feature #${s.index} "${s.name}"`, details: { featureIndex: s.index, minAltM: s.minAltM } });
      }
    }
  }
  if (dropAltM > cruiseAltM) cruiseAltM = dropAltM;
  if (dropZone === undefined) warnings.push({ code: 'DROP_OUTSIDE_SEALED_ZONE', message: 'the drop point lies in no sealed zone', details: { drop: dropLL } });

  // fence, decoded as the vehicle will hold it and checked against the route it will fly
  const fb = buildCorridorFence(zi, outboundXY, { fenceCapacity: req.fenceCapacity, fenceMarginM: req.options.fenceMarginM, corridorMarginM: req.options.corridorMarginM, clearanceM: req.clearanceM, areaMarginM: req.options.areaMarginM });
  if (!fb.ok) return fail(fb.code, fb.message, fb.details);
  warnings.push(...fb.warnings);
  const fence = fenceItems(fb.fit.polygons, proj);
  const margins = fb.fit.polygons.map((p) => p.marginM);
  const violations = checkRouteAgainstFence(fullRoute, fence, proj, margins);
  if (violations.length > 0) return fail('FENCE_CHECK_FAILED', `the route breaches the fence: ${violations[0].message}`, { violations });
  const ral = rallyItems(z.rallyPoints, fence, proj, req.options.rallyAltM);
  warnings.push(...ral.warnings);
  if (ral.items.length === 0) warnings.push({ code: 'NO_RALLY_POINTS', message: 'no rally point lies inside the corridor fence: RTL goes to home' });
  const fenceSummary: FenceSummary = {
    fenceCapacity: req.fenceCapacity, storageItems: fb.fit.storageItems, items: fence.length, corridorMarginM: fb.fit.corridorMarginM, zonesFencedOut: fb.fit.zonesFencedOut,
    routeClearanceM: fb.fit.polygons.map((p) => round2(routeClearance(outboundXY, p.ring))),
    exclusions: fb.fit.polygons.filter((p) => !p.inclusion).map((p) => ({ featureIndex: p.source.featureIndex, part: p.source.part, ...(p.source.name ? { name: p.source.name } : {}), kind: p.source.kind as 'no-fly' | 'area-hole', vertices: p.ring.length })),
  };

  const mission = buildMission({ outbound, cruiseAltM, dropAltM, profile: prof, release: req.payload.release });

  // legs
  const legs: Leg[] = [];
  let cumD = 0, cumT = 0, cumE = 0;
  const withPayload = massFactor(prof, req.payload.massKg);
  const empty = massFactor(prof, 0);
  const mass = (loaded: boolean) => prof.emptyMassKg + (loaded ? req.payload.massKg : 0);
  const pushLeg = (kind: LegKind, phase: Leg['phase'], from: LonLat, to: LonLat, altStartM: number, altEndM: number, durationS: number, powerW: number, loaded: boolean, extra: Partial<Leg> = {}) => {
    const distanceM = geodesicDistanceM(from, to);
    const energyWh = (powerW * durationS) / 3600;
    cumD += distanceM; cumT += durationS; cumE += energyWh;
    legs.push({ index: legs.length, kind, phase, from, to, distanceM, altStartM, altEndM, ...extra, massKg: mass(loaded), powerW, durationS, energyWh, cumDistanceM: cumD, cumDurationS: cumT, cumEnergyWh: cumE });
  };
  const cruise = (phase: Leg['phase'], path: LonLat[], loaded: boolean): PlanError | null => {
    for (let i = 1; i < path.length; i++) {
      const gs = cruiseGroundSpeed(path[i - 1], path[i], prof.cruiseSpeedMps, req.wind);
      if (!gs.ok) return planError('WIND_TOO_STRONG', `wind ${req.wind.speedMps} m/s from ${req.wind.fromDeg}° leaves no ground speed on the ${phase} leg ${i} (course ${gs.courseDeg.toFixed(0)}°)`, { leg: i, phase, courseDeg: gs.courseDeg, crosswindMps: gs.crosswindMps, tailwindMps: gs.tailwindMps });
      const d = geodesicDistanceM(path[i - 1], path[i]);
      pushLeg('cruise', phase, path[i - 1], path[i], cruiseAltM, cruiseAltM, d / gs.groundSpeedMps, prof.cruisePowerW * (loaded ? withPayload : empty), loaded,
        { courseDeg: round2(gs.courseDeg), tailwindMps: round2(gs.tailwindMps), crosswindMps: round2(gs.crosswindMps), groundSpeedMps: round2(gs.groundSpeedMps) });
    }
    return null;
  };
  pushLeg('takeoff', 'outbound', launchLL, launchLL, 0, cruiseAltM, cruiseAltM / prof.climbRateMps, prof.hoverPowerW * prof.climbPowerFactor * withPayload, true);
  const eo = cruise('outbound', outbound, true);
  if (eo) return { ok: false, error: eo };
  pushLeg('descend', 'outbound', dropLL, dropLL, cruiseAltM, dropAltM, (cruiseAltM - dropAltM) / prof.descentRateMps, prof.hoverPowerW * prof.descentPowerFactor * withPayload, true);
  pushLeg('hold', 'outbound', dropLL, dropLL, dropAltM, dropAltM, prof.holdBeforeReleaseS, prof.hoverPowerW * withPayload, true);
  pushLeg('release', 'outbound', dropLL, dropLL, dropAltM, dropAltM, 0, prof.hoverPowerW * withPayload, true);
  pushLeg('settle', 'return', dropLL, dropLL, dropAltM, dropAltM, settleSeconds(prof, req.payload.release, dropAltM), prof.hoverPowerW * empty, false);
  pushLeg('climb', 'return', dropLL, dropLL, dropAltM, cruiseAltM, (cruiseAltM - dropAltM) / prof.climbRateMps, prof.hoverPowerW * prof.climbPowerFactor * empty, false);
  const back = [...outbound].reverse();
  const er = cruise('return', back, false);
  if (er) return { ok: false, error: er };
  pushLeg('land', 'return', launchLL, launchLL, cruiseAltM, 0, cruiseAltM / prof.descentRateMps, prof.hoverPowerW * prof.descentPowerFactor * empty, false);

  const energyWh = cumE;
  const reserveWh = (prof.batteryWh * prof.reservePct) / 100;
  const remainingWh = prof.batteryWh - energyWh;
  if (remainingWh < reserveWh) {
    return fail('INSUFFICIENT_ENERGY', `the delivery needs ${energyWh.toFixed(1)} Wh; with ${prof.batteryWh} Wh and a ${reserveWh.toFixed(1)} Wh reserve it is short by ${(reserveWh - remainingWh).toFixed(1)} Wh`,
      { energyWh: round2(energyWh), batteryWh: prof.batteryWh, reserveWh: round2(reserveWh), shortfallWh: round2(reserveWh - remainingWh) });
  }

  const pnr = pointOfNoReturn(outbound, req, cruiseAltM, proj);
  const routeLen = lineLengthM(fullRoute);
  const rallyPts = ral.items.map((it) => {
    const src = z.rallyPoints.find((r) => Math.round(r.lat * 1e7) === it.x && Math.round(r.lon * 1e7) === it.y)!;
    return { ll: [it.y / 1e7, it.x / 1e7] as LonLat, name: src.name ?? `feature #${src.index}` };
  });
  let rallyDistances: RallyDistance[] | null = null;
  let maxDistanceToRallyM: number | null = null;
  if (rallyPts.length > 0) {
    rallyDistances = [];
    let along = 0;
    fullRoute.forEach((c, i) => {
      if (i > 0) along += geodesicDistanceM(fullRoute[i - 1], c);
      let best = { rally: '', distanceM: Infinity };
      for (const r of rallyPts) {
        const d = geodesicDistanceM(c, r.ll);
        if (d < best.distanceM) best = { rally: r.name, distanceM: d };
      }
      rallyDistances!.push({ alongRouteM: round2(along), lon: c[0], lat: c[1], rally: best.rally, distanceM: round2(best.distanceM) });
    });
    maxDistanceToRallyM = Math.max(...rallyDistances.map((r) => r.distanceM));
  }
  const farthestFromLaunchM = Math.max(...outbound.map((c) => geodesicDistanceM(launchLL, c)));

  const route: Feature<LineString> = {
    type: 'Feature',
    properties: { kind: 'route', distanceM: round2(routeLen), launch: req.launch.name ?? null, drop: dropLL },
    geometry: { type: 'LineString', coordinates: fullRoute.map((c) => [c[0], c[1]]) },
  };
  return {
    ok: true, route, legs, distanceM: routeLen, durationS: cumT, energyWh, reserveWh, remainingWh, pointOfNoReturn: pnr,
    rallyDistances, maxDistanceToRallyM, mission, fence, rally: ral.items, fenceSummary, warnings,
    launch: { ...(req.launch.name ? { name: req.launch.name } : {}), lon: launchLL[0], lat: launchLL[1] },
    drop: { lon: dropLL[0], lat: dropLL[1], ...(dropZone ? { sealedZone: dropZone } : {}) },
    cruiseAltM, dropAltM, farthestFromLaunchM, request: req,
  };
}

/**
 * The farthest point along the outbound route from which the parcel could still be carried back
 * to launch with the reserve intact: takeoff + out(s) + back(s) + landing ≤ battery − reserve,
 * all with the payload aboard and the wind on each leg.
 */
function pointOfNoReturn(outbound: LonLat[], req: NormalizedRequest, cruiseAltM: number, proj: LocalProjection): PointOfNoReturn {
  const prof = req.profile;
  const mf = massFactor(prof, req.payload.massKg);
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

export interface FenceParams {
  /** FENCE_TYPE bitmask: 1 max altitude + 4 polygon (= 5); add 2 only with a circle radius as below. */
  fenceType: number;
  /** FENCE_RADIUS if the circle (bit 2) stays enabled: the farthest route point from launch + margin, m. */
  fenceRadiusM: number;
  /** FENCE_ALT_MAX: highest planned altitude + margin, m. */
  fenceAltMaxM: number;
  farthestFromLaunchM: number;
}

/**
 * The fence parameters a plan needs (the preflight policy compares them with the vehicle's):
 * polygon + max altitude, and a circle radius large enough should the circle stay enabled
 * (ArduPilot SITL's default FENCE_RADIUS 150 would be breached by any leg beyond 150 m).
 */
export function requiredFenceParams(plan: Pick<PlanOk, 'farthestFromLaunchM' | 'cruiseAltM'>, marginM = 50): FenceParams {
  return {
    fenceType: 5,
    fenceRadiusM: Math.ceil(plan.farthestFromLaunchM + marginM),
    fenceAltMaxM: Math.ceil(plan.cruiseAltM + Math.max(20, marginM / 2)),
    farthestFromLaunchM: plan.farthestFromLaunchM,
  };
}
