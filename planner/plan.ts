/**
 * planDelivery: zones + request → route, legs, energy, mission, fence and rally items, or a typed
 * error. Pure and deterministic: no I/O, no clock, no randomness; inputs are never mutated.
 */
import type { Feature, LineString } from 'geojson';
import type { MissionItem } from '../src/mavlink/mission-item';
import { planError, type PlanError, type Warning } from './errors';
import type { Leg } from './energy';
import { buildCorridorFence, checkRouteAgainstFence, fenceItems, rallyItems } from './fence';
import { flightLegs, pointOfNoReturn, type PointOfNoReturn } from './flight-legs';
import { geodesicDistanceM, lineLengthM, localProjection, pointInPolygon, pointPolygonDistance, pointRingDistance, segmentSegmentDistance, segmentsIntersect, type LocalProjection, type LonLat, type XY } from './geo';
import { buildMission } from './mission';
import { planRequestSchema, vehicleProfileSchema, DEFAULT_FENCE_CAPACITY, DEFAULT_PROFILE, type NormalizedRequest, type NormalizedStop, type VehicleProfile } from './request';
import { buildRouteIndex, inFreeSpace, obstacleAt, type RouteIndex } from './route';
import { flightOrder, LegPaths, releaseServo, sortieReleaseError } from './sortie';
import { validateZones, type ParsedZones } from './zones';
import { buildZoneIndex, partsInBox, type ZoneIndex } from './zone-index';

export type { PointOfNoReturn } from './flight-legs';

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
  /**
   * launch → drop → launch, [lon, lat] (the way back is the way out reversed). A sortie: launch →
   * each drop in flight order → launch, each leg a shortest path of its own; its properties list
   * the drops (`drops`: index, ref, lon, lat, in flight order).
   */
  route: Feature<LineString>;
  legs: Leg[];
  /** 2-D geodesic length of route, m. */
  distanceM: number;
  durationS: number;
  energyWh: number;
  reserveWh: number;
  /** Battery energy left at landing, Wh. */
  remainingWh: number;
  /**
   * Where turning back stops being possible with the parcel aboard, along the way to the drop. A
   * sortie: along the path to the first drop flown, with every parcel aboard (the heaviest part of
   * the flight, before any release); later legs are lighter, and the whole flight's energy is
   * checked against the battery and reserve (INSUFFICIENT_ENERGY).
   */
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
  /** The drop point as requested (a sortie: `drop`, request index 0, wherever it comes in the flight). */
  drop: { lon: number; lat: number; sealedZone?: string };
  /**
   * Sorties only (requests with stops), in flight order: each drop with its own release item, the
   * proof of that drop. Absent from single-drop plans, whose drop is `drop`.
   */
  drops?: PlanDrop[];
  /** Sorties only: the request indices of the drops in flight order (0 = `drop`, k = stops[k − 1]). */
  dropOrder?: number[];
  cruiseAltM: number;
  /** The drop altitude (a sortie: the highest of its drops' altitudes; each is in `drops`). */
  dropAltM: number;
  farthestFromLaunchM: number;
  request: NormalizedRequest;
}

/** One drop of a sortie. */
export interface PlanDrop {
  /** Request index: 0 is `drop`, k is `stops[k − 1]`. */
  index: number;
  /** The stop's `ref`, echoed. */
  ref?: string;
  lon: number;
  lat: number;
  sealedZone?: string;
  /** This parcel's mass, kg. */
  massKg: number;
  /** Release altitude: the profile's, raised to the minimum of the sealed zone the drop lies in, m. */
  dropAltM: number;
  /** Mission seq of the NAV_WAYPOINT that descends to dropAltM over the drop and holds there. */
  holdSeq: number;
  /** Mission seq of this parcel's release (DO_SET_SERVO on `servo`). */
  releaseSeq: number;
  /** Servo output that releases this parcel. */
  servo: number;
  /** Distance along the route from the launch to this drop, m. */
  alongRouteM: number;
  /** Planned seconds from takeoff to this release. */
  etaS: number;
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
  // stops and their order appear in the echo only when there are stops (single-drop plans are unchanged)
  const stops: NormalizedStop[] = (d.stops ?? []).map((s) => ({ drop: [s.drop[0], s.drop[1]], massKg: s.massKg, ...(s.ref !== undefined ? { ref: s.ref } : {}) }));
  const sortie = stops.length > 0;
  return {
    ok: true,
    req: {
      launch, drop: [d.drop[0], d.drop[1]], ...(sortie ? { stops } : {}), profile, payload: { massKg: d.payload.massKg, release: d.payload.release },
      wind: { speedMps: d.wind.speedMps, fromDeg: ((d.wind.fromDeg % 360) + 360) % 360 }, clearanceM: d.clearanceM,
      fenceCapacity: d.fenceCapacity ?? d.options.fenceMaxItems ?? DEFAULT_FENCE_CAPACITY,
      options: {
        areaMarginM: d.options.areaMarginM, fenceMarginM: d.options.fenceMarginM, corridorMarginM: d.options.corridorMarginM, rallyAltM: d.options.rallyAltM ?? profile.cruiseAltM,
        ...(sortie ? { orderStops: d.options.orderStops ?? 'given' } : {}),
      },
    },
  };
}

/** How messages name a point: the launch, the drop, or (sorties) the drop of stops[k − 1]. */
function pointName(what: 'launch' | 'drop', stop: number | undefined): string {
  return stop === undefined || stop === 0 ? `the ${what} point` : `the drop point of stops[${stop - 1}]`;
}

/** `stop`: in a sortie, the drop's request index (named in the message and the details). */
function checkPoint(z: ParsedZones, zi: ZoneIndex, req: NormalizedRequest, p: LonLat, what: 'launch' | 'drop', stop?: number): PlanError | null {
  const xy = zi.projection.toXY(p);
  const area = zi.areaRings;
  const inside = pointInPolygon(xy, area);
  const edgeM = Math.min(...area.map((r) => pointRingDistance(xy, r)));
  const W = what === 'launch' ? 'LAUNCH' : 'DROP';
  const name = pointName(what, stop);
  const tag = stop === undefined ? {} : { stop };
  if (!inside || edgeM < req.options.areaMarginM) {
    return planError(`${W}_OUTSIDE_AREA`, inside
      ? `${name} [${p}] is ${edgeM.toFixed(1)} m inside the operating area's edge, closer than the ${req.options.areaMarginM} m margin`
      : `${name} [${p}] is outside the operating area (${edgeM.toFixed(1)} m from its edge)`,
    { position: p, inside, distanceToEdgeM: round2(edgeM), areaMarginM: req.options.areaMarginM, ...tag });
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
      return planError(`${W}_IN_NO_FLY`, d === 0 ? `${name} [${p}] is inside ${label}` : `${name} [${p}] is ${d.toFixed(1)} m from ${label}, within its ${c} m clearance`,
        { position: p, featureIndex: nf.index, name: nf.name, distanceM: round2(d), clearanceM: c, ...tag });
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

  // the parcels by request index: 0 is `drop`, k is stops[k − 1]
  const dropLL: LonLat = [req.drop[0], req.drop[1]];
  const parcels: Parcel[] = [{ index: 0, ll: dropLL, massKg: req.payload.massKg }];
  (req.stops ?? []).forEach((st, i) => parcels.push({ index: i + 1, ll: [st.drop[0], st.drop[1]], massKg: st.massKg, ...(st.ref !== undefined ? { ref: st.ref } : {}) }));
  const sortie = parcels.length > 1;
  const stopOf = (k: number) => (sortie ? k : undefined);
  const releaseError = sortieReleaseError(req, parcels.length);
  if (releaseError) return { ok: false, error: releaseError };
  const totalKg = parcels.reduce((s, p) => s + p.massKg, 0);
  if (totalKg > prof.maxPayloadKg) {
    if (!sortie) return fail('PAYLOAD_TOO_HEAVY', `payload ${req.payload.massKg} kg exceeds the vehicle's ${prof.maxPayloadKg} kg`, { massKg: req.payload.massKg, maxPayloadKg: prof.maxPayloadKg });
    return fail('PAYLOAD_TOO_HEAVY', `the ${parcels.length} parcels weigh ${kg(totalKg)} kg in total (${parcels.map((p) => kg(p.massKg)).join(' + ')}), more than the vehicle's ${prof.maxPayloadKg} kg`,
      { massKg: kg(totalKg), maxPayloadKg: prof.maxPayloadKg, total: true, parcelsKg: parcels.map((p) => p.massKg) });
  }
  if (req.wind.speedMps > prof.maxWindMps) return fail('WIND_TOO_STRONG', `wind ${req.wind.speedMps} m/s exceeds the vehicle's limit of ${prof.maxWindMps} m/s`, { windMps: req.wind.speedMps, maxWindMps: prof.maxWindMps });

  const launchLL: LonLat = [req.launch.lon, req.launch.lat];
  const e1 = checkPoint(z, zi, req, launchLL, 'launch');
  if (e1) return { ok: false, error: e1 };
  for (const p of parcels) {
    const e2 = checkPoint(z, zi, req, p.ll, 'drop', stopOf(p.index));
    if (e2) return { ok: false, error: e2 };
  }

  const idx = index(req.clearanceM, req.options.areaMarginM);
  const checks: [XY, 'launch' | 'drop', number | undefined][] = [[proj.toXY(launchLL), 'launch', undefined], ...parcels.map((p): [XY, 'drop', number | undefined] => [proj.toXY(p.ll), 'drop', stopOf(p.index)])];
  for (const [p, what, stop] of checks) {
    if (!inFreeSpace(idx, p)) {
      const ob = obstacleAt(idx, p);
      const W = what === 'launch' ? 'LAUNCH' : 'DROP';
      const tag = stop === undefined ? {} : { stop };
      if (ob >= 0) {
        const nf = z.noFly[idx.obstacles[ob].zone];
        return fail(`${W}_IN_NO_FLY`, `${pointName(what, stop)} is within the safety-inflated clearance of no-fly feature #${nf.index}${nf.name ? ` "${nf.name}"` : ''}`, { featureIndex: nf.index, name: nf.name, bufferRadiusM: round2(idx.bufferRadiusM[idx.obstacles[ob].zone]), ...tag });
      }
      return fail(`${W}_OUTSIDE_AREA`, `${pointName(what, stop)} is within the safety-inflated margin of the operating area's edge`, { areaMarginM: req.options.areaMarginM, ...tag });
    }
  }

  // the legs: launch → each drop in flight order → launch, each a shortest path (a single drop: the way back is the way out reversed)
  const paths = new LegPaths(idx, proj, [launchLL, ...parcels.map((p) => p.ll)]);
  const fo = flightOrder(parcels.length, req.options.orderStops ?? 'given', paths);
  if (!fo.ok) {
    const what = sortie ? pointName('drop', fo.unreachable) : 'the drop point';
    return fail('UNREACHABLE', `no safe path joins the launch and ${what}: the drop is cut off by no-fly zones (with their clearance) or the operating area's edge`,
      { reason: fo.reason, clearanceM: req.clearanceM, areaMarginM: req.options.areaMarginM, ...(sortie ? { stop: fo.unreachable } : {}) });
  }
  const order = fo.order;
  const toDrop: LonLat[][] = [];
  let at = 0;
  for (const k of order) {
    toDrop.push(legPath(paths, at, k + 1));
    at = k + 1;
  }
  let back = legPath(paths, at, 0);
  const outbound: LonLat[] = [...toDrop[0], ...toDrop.slice(1).flatMap((p) => p.slice(1))];
  let fullRoute: LonLat[] = [...outbound, ...back.slice(1)];
  // the shape the fence is built round: the way out (a single drop, flown back on the same line) or the whole closed route
  let shapeXY = (sortie ? fullRoute : toDrop[0]).map((c) => proj.toXY(c));

  // altitudes: at least every crossed sealed zone's minimum; each drop at least its zone's minimum
  let cruiseAltM = prof.cruiseAltM;
  const dropAlt = parcels.map(() => prof.dropAltM);
  const dropZone: (string | undefined)[] = parcels.map(() => undefined);
  const parcelXY = parcels.map((p) => proj.toXY(p.ll));
  let rx0 = Infinity, ry0 = Infinity, rx1 = -Infinity, ry1 = -Infinity;
  for (const [x, y] of shapeXY) { rx0 = Math.min(rx0, x); ry0 = Math.min(ry0, y); rx1 = Math.max(rx1, x); ry1 = Math.max(ry1, y); }
  const nearSealed = zi.sealedIndex ? zi.sealedIndex.search(rx0, ry0, rx1, ry1).sort((a, b) => a - b) : [];
  for (const si of nearSealed) {
    const s = zi.sealed[si];
    const poly = s.polygon;
    let crossed = false;
    for (let i = 1; i < shapeXY.length && !crossed; i++) crossed = segmentCrossesPolygon(shapeXY[i - 1], shapeXY[i], poly);
    if (crossed && s.minAltM !== undefined && s.minAltM > cruiseAltM) {
      cruiseAltM = s.minAltM;
      warnings.push({ code: 'CRUISE_ALT_RAISED', message: `cruise altitude raised to ${s.minAltM} m for sealed zone feature #${s.index} "${s.name}"`, details: { featureIndex: s.index, minAltM: s.minAltM } });
    }
    for (let k = 0; k < parcels.length; k++) {
      if (dropZone[k] !== undefined || !pointInPolygon(parcelXY[k], poly)) continue;
      dropZone[k] = s.name;
      if (s.minAltM !== undefined && s.minAltM > dropAlt[k]) {
        dropAlt[k] = s.minAltM;
        const where = sortie && k > 0 ? ` at stops[${k - 1}]` : '';
        warnings.push({ code: 'DROP_ALT_RAISED', message: `drop altitude${where} raised to ${s.minAltM} m, the minimum of sealed zone feature #${s.index} "${s.name}"`, details: { featureIndex: s.index, minAltM: s.minAltM, ...(sortie ? { stop: k } : {}) } });
      }
    }
  }
  const dropAltM = Math.max(...dropAlt);
  if (dropAltM > cruiseAltM) cruiseAltM = dropAltM;
  for (let k = 0; k < parcels.length; k++) {
    if (dropZone[k] !== undefined) continue;
    warnings.push({ code: 'DROP_OUTSIDE_SEALED_ZONE', message: `${sortie && k > 0 ? pointName('drop', k) : 'the drop point'} lies in no sealed zone`, details: { drop: parcels[k].ll, ...(sortie ? { stop: k } : {}) } });
  }

  // fence, decoded as the vehicle will hold it and checked against the route it will fly
  const fenceOpts = { fenceCapacity: req.fenceCapacity, fenceMarginM: req.options.fenceMarginM, corridorMarginM: req.options.corridorMarginM, clearanceM: req.clearanceM, areaMarginM: req.options.areaMarginM };
  let fb = buildCorridorFence(zi, shapeXY, fenceOpts);
  if (!fb.ok && fb.code === 'FENCE_CAPACITY' && sortie) {
    // A loop's fence holds every zone the loop encloses. Flown back over its own legs the route
    // encloses nothing: its fence is the corridor of the way out, as for a single drop.
    const retrace = buildCorridorFence(zi, outbound.map((c) => proj.toXY(c)), fenceOpts);
    if (retrace.ok) {
      const loopM = lineLengthM(fullRoute);
      back = [...outbound].reverse();
      fullRoute = [...outbound, ...back.slice(1)];
      shapeXY = outbound.map((c) => proj.toXY(c));
      const extraM = lineLengthM(fullRoute) - loopM;
      warnings.push({
        code: 'SORTIE_RETRACED',
        message: `the way back retraces the legs flown (${Math.round(extraM)} m longer than the loop): a fence round the loop needs ${fb.details.itemsNeeded ?? 'more'} items, more than the vehicle's ${req.fenceCapacity}`,
        details: { extraM: round2(extraM), loopItemsNeeded: fb.details.itemsNeeded, fenceCapacity: req.fenceCapacity },
      });
      fb = retrace;
    }
  }
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
    routeClearanceM: fb.fit.polygons.map((p) => round2(routeClearance(shapeXY, p.ring))),
    exclusions: fb.fit.polygons.filter((p) => !p.inclusion).map((p) => ({ featureIndex: p.source.featureIndex, part: p.source.part, ...(p.source.name ? { name: p.source.name } : {}), kind: p.source.kind as 'no-fly' | 'area-hole', vertices: p.ring.length })),
  };

  const built = buildMission({ drops: order.map((k, i) => ({ path: toDrop[i], dropAltM: dropAlt[k], servo: releaseServo(req, k) })), back, cruiseAltM, profile: prof, release: req.payload.release });
  const mission = built.items;

  const fl = flightLegs({ drops: order.map((k, i) => ({ index: k, path: toDrop[i], dropAltM: dropAlt[k], massKg: parcels[k].massKg })), back, cruiseAltM, req, tagDrops: sortie });
  if (!fl.ok) return fl;
  const legs: Leg[] = fl.legs;
  const last = legs[legs.length - 1];
  const energyWh = last.cumEnergyWh;
  const reserveWh = (prof.batteryWh * prof.reservePct) / 100;
  const remainingWh = prof.batteryWh - energyWh;
  if (remainingWh < reserveWh) {
    return fail('INSUFFICIENT_ENERGY', `the ${sortie ? `sortie (${parcels.length} drops)` : 'delivery'} needs ${energyWh.toFixed(1)} Wh; with ${prof.batteryWh} Wh and a ${reserveWh.toFixed(1)} Wh reserve it is short by ${(reserveWh - remainingWh).toFixed(1)} Wh`,
      { energyWh: round2(energyWh), batteryWh: prof.batteryWh, reserveWh: round2(reserveWh), shortfallWh: round2(reserveWh - remainingWh) });
  }

  const pnr = pointOfNoReturn(toDrop[0], totalKg, req, cruiseAltM, proj);
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
  const farthestFromLaunchM = Math.max(...(sortie ? fullRoute : toDrop[0]).map((c) => geodesicDistanceM(launchLL, c)));

  const drops: PlanDrop[] = order.map((k, i) => {
    const p = parcels[k], rl = legs[fl.releaseLeg[i]];
    return {
      index: k, ...(p.ref !== undefined ? { ref: p.ref } : {}), lon: p.ll[0], lat: p.ll[1], ...(dropZone[k] ? { sealedZone: dropZone[k] } : {}),
      massKg: p.massKg, dropAltM: dropAlt[k], holdSeq: built.drops[i].holdSeq, releaseSeq: built.drops[i].releaseSeq, servo: releaseServo(req, k),
      alongRouteM: round2(rl.cumDistanceM), etaS: round2(rl.cumDurationS),
    };
  });
  const route: Feature<LineString> = {
    type: 'Feature',
    properties: {
      kind: 'route', distanceM: round2(routeLen), launch: req.launch.name ?? null, drop: dropLL,
      ...(sortie ? { drops: drops.map((d) => ({ index: d.index, ...(d.ref !== undefined ? { ref: d.ref } : {}), lon: d.lon, lat: d.lat })) } : {}),
    },
    geometry: { type: 'LineString', coordinates: fullRoute.map((c) => [c[0], c[1]]) },
  };
  return {
    ok: true, route, legs, distanceM: routeLen, durationS: last.cumDurationS, energyWh, reserveWh, remainingWh, pointOfNoReturn: pnr,
    rallyDistances, maxDistanceToRallyM, mission, fence, rally: ral.items, fenceSummary, warnings,
    launch: { ...(req.launch.name ? { name: req.launch.name } : {}), lon: launchLL[0], lat: launchLL[1] },
    drop: { lon: dropLL[0], lat: dropLL[1], ...(dropZone[0] ? { sealedZone: dropZone[0] } : {}) },
    ...(sortie ? { drops, dropOrder: [...order] } : {}),
    cruiseAltM, dropAltM, farthestFromLaunchM, request: req,
  };
}

/** A parcel of the request: 0 is `drop`, k is stops[k − 1]. */
interface Parcel { index: number; ll: LonLat; massKg: number; ref?: string }

/** The path of a leg the flight order has searched. */
function legPath(paths: LegPaths, a: number, b: number): LonLat[] {
  const r = paths.get(a, b);
  if (!r.ok) throw new Error(`leg ${a} → ${b} has no path`);
  return r.path;
}

/** A mass for messages: to the gram. */
function kg(v: number): number {
  return Math.round(v * 1000) / 1000;
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
