/**
 * Dropline planner: GeoJSON zones + a delivery request → a safe route and the MAVLink mission,
 * fence and rally items that fly and enforce it. Pure: no I/O, no clock, no randomness.
 */
export { planDelivery, createPlanner, requiredFenceParams, zoneProjection } from './plan';
export type { PlanOk, PlanDrop, PlanResult, Planner, PointOfNoReturn, RallyDistance, FenceParams, FenceSummary } from './plan';
export { validateZones, MAX_FEATURES, MAX_RING_VERTICES, MAX_TOTAL_VERTICES } from './zones';
export type { ZoneLimitName, ParsedZones, ZoneKind, NoFlyZone, SealedZone, SitePoint, AreaZone, PolygonLonLat } from './zones';
export { PLAN_ERROR_CODES } from './errors';
export type { PlanError, PlanErrorCode, Warning } from './errors';
export { DEFAULT_FENCE_CAPACITY, DEFAULT_PROFILE, MAX_STOPS, planRequestSchema, vehicleProfileSchema, releaseMethods, stopOrders } from './request';
export type { VehicleProfile, NormalizedRequest, NormalizedStop, StopOrder, PlanRequestInput, PlanRequestInput as PlanRequest, ReleaseMethod } from './request';
export { importQgcPlan, exportQgcPlan, qgcPlanToString } from './qgc-plan';
export type { QgcPlanContent, QgcImportResult, QgcPlanMeta } from './qgc-plan';
export type { Leg, LegKind } from './energy';
export { checkRouteAgainstFence, decodeFencePolygons, fenceStorageItems } from './fence';
export { geodesicDistanceM, lineLengthM, localProjection } from './geo';
export type { LonLat, XY } from './geo';
export { kmlToZones } from './kml';
export type { KmlZonesResult } from './kml';
export { importWaypoints, exportWaypoints, WPL_HEADER } from './waypoints';
export type { WaypointsImportResult, WaypointsExport } from './waypoints';
export type { QgcPreserved } from './qgc-plan';
