/**
 * Strategic deconfliction: 4-D volumes (corridor × altitude band × time window) of planned and
 * airborne flights, and the choice of a cruise layer or a timed hold at launch that keeps a new
 * flight's volume clear of all of them. Pure: no I/O, no clock (times are inputs, in seconds on any
 * common scale, e.g. Unix seconds), no randomness; inputs are never mutated.
 *
 * A flight's path is its plan's legs (launch → drop → launch). Flown at cruise layer L, every leg
 * whose altitude was the plan's cruise altitude is flown at L instead; vertical legs take
 * |Δalt| / (the plan's climb or descent rate). Cruise legs are cut into pieces of at most `pieceM`.
 * Each piece becomes a volume cell: the piece's ground track widened by `positionToleranceM`, its
 * altitude band widened by `altitudeToleranceM`, and the time window in which the vehicle can be on
 * it when it lifts off up to `launchSlackS` late and flies anything between (1 − tolerance) and
 * (1 + tolerance) times the planned speed (holds included):
 *   [launch + start / (1 + tol), launch + slack + end / (1 − tol)].
 * Two cells conflict when their windows overlap, their altitude bands come closer than
 * `verticalSepM` and their tracks closer than `horizontalSepM`. Two flights are clear when no pair
 * of their cells conflicts, so a vehicle anywhere inside its volume is separated from every other.
 */
import { localProjection, segmentSegmentDistance, type LonLat, type XY } from './geo';

export interface DeconflictOptions {
  /** Cruise layers above launch, m, in order of preference. Default [40, 55, 70]. */
  layersM?: number[];
  /** Highest altitude any part of a flight may reach (the fence's altitude limit less its margin), m. Default 110. */
  ceilingM?: number;
  /** Horizontal separation between volumes, m. Default 50. */
  horizontalSepM?: number;
  /** Vertical separation between volumes, m. Default 10. */
  verticalSepM?: number;
  /** Cross-track and along-track position error of a vehicle around its track, m. Default 10. */
  positionToleranceM?: number;
  /** Altitude error of a vehicle around its planned altitude, m. Default 2 (layers 15 m apart then keep a 10 m separation). */
  altitudeToleranceM?: number;
  /**
   * The vehicle flies between (1 − this) and (1 + this) × its planned speed, all the way (0 ≤ x < 1).
   * Default 0.15: the plan's ground speeds already account for the forecast wind, and a vehicle that
   * strays outside its volume anyway is caught by the tactical separation monitor.
   */
  speedTolerance?: number;
  /** Lift-off may come this late after the planned launch time, s. Default 30. */
  launchSlackS?: number;
  /** Longest timed hold at launch offered, s. Default 1800. */
  maxHoldS?: number;
  /** Cruise legs are cut into pieces no longer than this, m. Default 100. */
  pieceM?: number;
}

export const DEFAULT_DECONFLICT: Required<DeconflictOptions> = {
  layersM: [40, 55, 70],
  ceilingM: 110,
  horizontalSepM: 50,
  verticalSepM: 10,
  positionToleranceM: 10,
  altitudeToleranceM: 2,
  speedTolerance: 0.15,
  launchSlackS: 30,
  maxHoldS: 1800,
  pieceM: 100,
};

/** The parts of a plan (PlanOk) that give a flight's path. */
export interface FlightPath {
  legs: ReadonlyArray<{ kind: string; from: LonLat; to: LonLat; altStartM: number; altEndM: number; durationS: number }>;
  cruiseAltM: number;
}

/** A flight already planned or airborne. */
export interface ActiveFlight {
  id: string;
  path: FlightPath;
  /** Cruise layer it flies, m. */
  layerM: number;
  /** Planned (or actual) lift-off, s. */
  launchAtS: number;
  /** Its own options (tolerances it was planned with); default: the caller's. */
  options?: DeconflictOptions;
}

/** One cell of a 4-D volume: a ground segment (local metres) with a half-width, an altitude band and a time window. */
export interface VolumeCell {
  a: XY;
  b: XY;
  halfWidthM: number;
  altLoM: number;
  altHiM: number;
  t0S: number;
  t1S: number;
}

export interface Volume {
  id: string;
  cells: VolumeCell[];
  /** Bounding box of the cells, widened by their half-widths: [minX, minY, maxX, maxY]. */
  box: [number, number, number, number];
  t0S: number;
  t1S: number;
  altHiM: number;
}

export type DeconflictMethod = 'clear' | 'layer' | 'hold';

export interface DeconflictOk {
  ok: true;
  /** 'clear': the first layer at the requested time; 'layer': another layer at that time; 'hold': a timed hold at launch. */
  method: DeconflictMethod;
  layerM: number;
  holdS: number;
  launchAtS: number;
  volume: Volume;
  /** Flights whose volumes the first layer at the requested time would have crossed. */
  avoided: string[];
  /** One line saying what was chosen and why. */
  reason: string;
}

export type DeconflictResult = DeconflictOk | { ok: false; code: 'AIRSPACE_NO_LAYER' | 'AIRSPACE_FULL'; message: string; details: Record<string, unknown> };

const opt = (o?: DeconflictOptions): Required<DeconflictOptions> => ({ ...DEFAULT_DECONFLICT, ...(o ?? {}) });

/** Altitude of a leg end flown at `layerM` instead of the plan's cruise altitude. */
const atLayer = (altM: number, path: FlightPath, layerM: number) => (Math.abs(altM - path.cruiseAltM) < 1e-6 ? layerM : altM);

/** The highest altitude the path reaches at this layer, m. */
export function pathCeilingM(path: FlightPath, layerM: number): number {
  let hi = 0;
  for (const l of path.legs) hi = Math.max(hi, atLayer(l.altStartM, path, layerM), atLayer(l.altEndM, path, layerM));
  return hi;
}

/**
 * The 4-D volume of a flight flown at `layerM` lifting off at `launchAtS`, in the local metres of
 * `origin` (every volume compared must share the origin).
 */
export function flightVolume(id: string, path: FlightPath, layerM: number, launchAtS: number, origin: LonLat, options?: DeconflictOptions): Volume {
  const o = opt(options);
  const proj = localProjection(origin[0], origin[1]);
  const fast = 1 + o.speedTolerance, slow = 1 - o.speedTolerance;
  if (!(slow > 0)) throw new RangeError('speedTolerance must be below 1');
  const cells: VolumeCell[] = [];
  let t = 0; // nominal seconds since lift-off
  const push = (a: XY, b: XY, z0: number, z1: number, dur: number) => {
    cells.push({
      a, b,
      halfWidthM: o.positionToleranceM,
      altLoM: Math.min(z0, z1) - o.altitudeToleranceM,
      altHiM: Math.max(z0, z1) + o.altitudeToleranceM,
      t0S: launchAtS + t / fast,
      t1S: launchAtS + o.launchSlackS + (t + dur) / slow,
    });
    t += dur;
  };
  for (const l of path.legs) {
    const a = proj.toXY(l.from), b = proj.toXY(l.to);
    const z0 = atLayer(l.altStartM, path, layerM), z1 = atLayer(l.altEndM, path, layerM);
    const dz0 = Math.abs(l.altEndM - l.altStartM), dz = Math.abs(z1 - z0);
    const lenM = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (l.kind === 'cruise' && lenM > o.pieceM) {
      const n = Math.ceil(lenM / o.pieceM);
      for (let k = 0; k < n; k++) {
        const p = (f: number): XY => [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
        push(p(k / n), p((k + 1) / n), z0 + ((z1 - z0) * k) / n, z0 + ((z1 - z0) * (k + 1)) / n, l.durationS / n);
      }
      continue;
    }
    // Vertical legs take as long per metre as planned; others as planned.
    const dur = dz0 > 1e-6 && lenM < 1 ? (l.durationS * dz) / dz0 : l.durationS;
    push(a, b, z0, z1, dur);
  }
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity, t0 = Infinity, t1 = -Infinity, hi = -Infinity;
  for (const c of cells) {
    minX = Math.min(minX, c.a[0] - c.halfWidthM, c.b[0] - c.halfWidthM);
    minY = Math.min(minY, c.a[1] - c.halfWidthM, c.b[1] - c.halfWidthM);
    maxX = Math.max(maxX, c.a[0] + c.halfWidthM, c.b[0] + c.halfWidthM);
    maxY = Math.max(maxY, c.a[1] + c.halfWidthM, c.b[1] + c.halfWidthM);
    t0 = Math.min(t0, c.t0S);
    t1 = Math.max(t1, c.t1S);
    hi = Math.max(hi, c.altHiM);
  }
  return { id, cells, box: [minX, minY, maxX, maxY], t0S: t0, t1S: t1, altHiM: hi };
}

/** Whether two cells come closer than the separations in space (time not considered). */
function cellsNear(p: VolumeCell, q: VolumeCell, hSepM: number, vSepM: number): boolean {
  if (p.altLoM - q.altHiM >= vSepM || q.altLoM - p.altHiM >= vSepM) return false;
  const reach = p.halfWidthM + q.halfWidthM + hSepM;
  // cheap box rejection before the segment distance
  if (Math.min(p.a[0], p.b[0]) - Math.max(q.a[0], q.b[0]) >= reach || Math.min(q.a[0], q.b[0]) - Math.max(p.a[0], p.b[0]) >= reach) return false;
  if (Math.min(p.a[1], p.b[1]) - Math.max(q.a[1], q.b[1]) >= reach || Math.min(q.a[1], q.b[1]) - Math.max(p.a[1], p.b[1]) >= reach) return false;
  return segmentSegmentDistance(p.a, p.b, q.a, q.b) < reach;
}

function boxesNear(a: Volume, b: Volume, reach: number): boolean {
  return !(a.box[0] - b.box[2] >= reach || b.box[0] - a.box[2] >= reach || a.box[1] - b.box[3] >= reach || b.box[1] - a.box[3] >= reach);
}

/**
 * The first pair of cells of two volumes that conflict (windows overlap and they come closer than
 * the separations), or null when the volumes are clear of each other.
 */
export function volumeConflict(a: Volume, b: Volume, horizontalSepM: number, verticalSepM: number): { a: VolumeCell; b: VolumeCell } | null {
  if (a.t1S <= b.t0S || b.t1S <= a.t0S) return null;
  if (!boxesNear(a, b, horizontalSepM)) return null;
  for (const p of a.cells)
    for (const q of b.cells) if (p.t0S < q.t1S && q.t0S < p.t1S && cellsNear(p, q, horizontalSepM, verticalSepM)) return { a: p, b: q };
  return null;
}

/**
 * The delays d ≥ 0 of `mine` (shifted later by d) that would make it conflict with `others`, as
 * open intervals (lo, hi): the cells are near in space and their windows overlap exactly when
 * other.t0 − mine.t1 < d < other.t1 − mine.t0.
 */
function forbiddenDelays(mine: Volume, others: Volume[], hSepM: number, vSepM: number, out: Array<[number, number, string]>): void {
  for (const other of others) {
    if (!boxesNear(mine, other, hSepM)) continue;
    if (other.t1S - mine.t0S <= 0) continue; // it is over before we could start
    for (const p of mine.cells)
      for (const q of other.cells) {
        const hi = q.t1S - p.t0S;
        if (hi <= 0) continue;
        if (cellsNear(p, q, hSepM, vSepM)) out.push([q.t0S - p.t1S, hi, other.id]);
      }
  }
}

/** The smallest d ≥ 0 inside none of the open intervals, rounded up to whole seconds past their end. */
function smallestFreeDelay(intervals: Array<[number, number, string]>): number {
  const s = intervals.filter((i) => i[1] > 0).sort((x, y) => x[0] - y[0]);
  let d = 0;
  for (const [lo, hi] of s) {
    if (lo >= d) break; // d is free (the interval opens at or after it)
    if (hi > d) d = Math.ceil(hi);
  }
  return d;
}

/**
 * Plan a new flight clear of the active ones: the first layer (in the order given) whose volume at
 * `launchAtS` crosses none of theirs, else the layer and the shortest hold at launch that clear them
 * (ties: the layer given first). Layers whose path would rise above `ceilingM` are not used.
 * `origin`: the local projection's origin for all volumes (default: the new flight's launch point).
 */
export function deconflict(input: {
  id: string;
  path: FlightPath;
  /** The path planned for a layer, when the caller has one (e.g. a plan at that cruise altitude); default: `path` flown at the layer. */
  pathAt?: (layerM: number) => FlightPath | null;
  launchAtS: number;
  active: ReadonlyArray<ActiveFlight>;
  options?: DeconflictOptions;
  origin?: LonLat;
}): DeconflictResult {
  const o = opt(input.options);
  const origin: LonLat = input.origin ?? (input.path.legs[0]?.from as LonLat) ?? [0, 0];
  const pathFor = (l: number) => input.pathAt?.(l) ?? input.path;
  const layers = o.layersM.filter((l) => Number.isFinite(l) && l > 0 && pathCeilingM(pathFor(l), l) + o.altitudeToleranceM <= o.ceilingM);
  if (layers.length === 0)
    return { ok: false, code: 'AIRSPACE_NO_LAYER', message: `no cruise layer of ${o.layersM.join('/')} m keeps the flight below the ${o.ceilingM} m ceiling`, details: { layersM: o.layersM, ceilingM: o.ceilingM } };
  const others = input.active.filter((f) => f.id !== input.id).map((f) => flightVolume(f.id, f.path, f.layerM, f.launchAtS, origin, f.options ?? input.options));
  let best: { layerM: number; holdS: number; avoided: string[] } | null = null;
  let firstAvoided: string[] = [];
  for (const [k, layerM] of layers.entries()) {
    const mine = flightVolume(input.id, pathFor(layerM), layerM, input.launchAtS, origin, input.options);
    const intervals: Array<[number, number, string]> = [];
    forbiddenDelays(mine, others, o.horizontalSepM, o.verticalSepM, intervals);
    const holdS = smallestFreeDelay(intervals);
    const avoided = [...new Set(intervals.filter(([lo, hi]) => lo < 0 && hi > 0).map((i) => i[2]))].sort();
    if (k === 0) firstAvoided = avoided;
    if (!best || holdS < best.holdS) best = { layerM, holdS, avoided };
    if (holdS === 0) break;
  }
  if (!best || best.holdS > o.maxHoldS)
    return { ok: false, code: 'AIRSPACE_FULL', message: `every cruise layer is taken for more than ${o.maxHoldS} s (shortest hold ${best?.holdS ?? '?'} s)`, details: { layersM: layers, shortestHoldS: best?.holdS, maxHoldS: o.maxHoldS } };
  const launchAtS = input.launchAtS + best.holdS;
  const volume = flightVolume(input.id, pathFor(best.layerM), best.layerM, launchAtS, origin, input.options);
  const method: DeconflictMethod = best.holdS > 0 ? 'hold' : best.layerM === layers[0] ? 'clear' : 'layer';
  const reason =
    method === 'clear' ? `cruise at ${best.layerM} m: clear of ${others.length} active flight(s)`
      : method === 'layer' ? `cruise at ${best.layerM} m: ${layers[0]} m crosses ${firstAvoided.join(', ')}`
        : `hold ${best.holdS} s at launch, then cruise at ${best.layerM} m: every layer crosses ${firstAvoided.join(', ') || 'an active flight'} before then`;
  return { ok: true, method, layerM: best.layerM, holdS: best.holdS, launchAtS, volume, avoided: firstAvoided, reason };
}
