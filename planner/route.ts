/**
 * Any-angle shortest safe paths: a visibility graph over the no-fly zones buffered by their
 * clearance and the operating area shrunk by its margin, searched with A*.
 *
 * - `route-index.ts` builds the index (buffered obstacles, edge grids, corner nodes, occluders);
 * - `corner-nodes.ts`: the graph nodes, their tangent wedges and the grid over them;
 * - `visibility.ts`: the cone scan that gives an expansion's candidate successors;
 * - `segment-check.ts`: segment-vs-obstacle checks;
 * - `route-search.ts`: the search (`findPath`);
 * - `route-reference.ts`: the exact, slow reference search it is tested against.
 */
export { buildRouteIndex, DEFAULT_ROUTE_OPTIONS, inflatedRadiusM, inFreeSpace, obstacleAt } from './route-index';
export type { EdgeGrid, Obstacle, RouteIndex, RouteIndexOptions, SolidGrid } from './route-index';
export { buildNodeGrid } from './corner-nodes';
export type { NodeGrid } from './corner-nodes';
export { segmentIsFree, segmentIsFreeFast } from './segment-check';
export type { EdgeCheckStats } from './segment-check';
export { findPath } from './route-search';
export type { FindPathOptions, FindPathResult } from './route-search';
export { findPathFullScan } from './route-reference';
