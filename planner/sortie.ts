/**
 * Sorties: several drops in one flight. The paths between the launch and the drops (each pair
 * searched at most once, always from the lower point index to the higher and reversed for the
 * other direction, so a leg and its reverse are the same line), the order the drops are flown in,
 * and which release output drops which parcel.
 */
import type { PlanError } from './errors';
import { planError } from './errors';
import { lineLengthM, round7, type LocalProjection, type LonLat } from './geo';
import type { NormalizedRequest, StopOrder } from './request';
import { findPath, type RouteIndex } from './route';

export type LegPath = { ok: true; path: LonLat[]; lengthM: number } | { ok: false; reason: string };

/**
 * Shortest paths between points: 0 is the launch, k + 1 the drop of request index k. Each pair is
 * searched once (from its lower index to its higher); the other direction is the same path reversed.
 * The path's ends are the points as given, its inner vertices rounded to 1e-7°.
 */
export class LegPaths {
  /** Route searches made. */
  searches = 0;
  private readonly memo: (LegPath | undefined)[];

  constructor(private readonly idx: RouteIndex, private readonly proj: LocalProjection, readonly points: LonLat[]) {
    this.memo = new Array(points.length * points.length);
  }

  get(a: number, b: number): LegPath {
    const lo = Math.min(a, b), hi = Math.max(a, b);
    const key = lo * this.points.length + hi;
    let r = this.memo[key];
    if (!r) {
      const s = this.points[lo], g = this.points[hi];
      const found = findPath(this.idx, this.proj.toXY(s), this.proj.toXY(g));
      this.searches++;
      if (!found.ok) r = { ok: false, reason: found.reason };
      else {
        const path = found.path.map((p, i): LonLat => {
          if (i === 0) return s;
          if (i === found.path.length - 1) return g;
          const c = this.proj.toLonLat(p);
          return [round7(c[0]), round7(c[1])];
        });
        r = { ok: true, path, lengthM: lineLengthM(path) };
      }
      this.memo[key] = r;
    }
    if (!r.ok || a <= b) return r;
    return { ok: true, path: [...r.path].reverse(), lengthM: r.lengthM };
  }
}

/** The drops' flight order (request indices), or the request index of a drop no path reaches. */
export type FlightOrder = { ok: true; order: number[] } | { ok: false; unreachable: number; reason: string };

/** Routes shorter by less than this are taken as equal (the lexicographically smaller order wins), m. */
const TIE_M = 1e-6;

/**
 * The order the `n` drops are flown in. 'given': 0, 1, …, n − 1. 'shortest': the permutation whose
 * route (launch → drops → launch, each leg a shortest path) is shortest, judged from the paths
 * between every pair of points (n + n(n − 1)/2 searches: 10 for 4 drops); of equal routes the
 * lexicographically smaller order. Every leg the order flies is searched before it is returned.
 */
export function flightOrder(n: number, mode: StopOrder, paths: LegPaths): FlightOrder {
  if (mode === 'shortest') {
    for (let k = 0; k < n; k++) {
      const p = paths.get(0, k + 1);
      if (!p.ok) return { ok: false, unreachable: k, reason: p.reason };
    }
    for (let j = 0; j < n; j++) {
      for (let k = j + 1; k < n; k++) {
        const p = paths.get(j + 1, k + 1);
        if (!p.ok) return { ok: false, unreachable: k, reason: p.reason };
      }
    }
    const len = (a: number, b: number) => (paths.get(a, b) as { lengthM: number }).lengthM;
    let best: number[] = [];
    let bestM = Infinity;
    for (const order of permutations(n)) {
      let m = len(0, order[0] + 1);
      for (let i = 1; i < n; i++) m += len(order[i - 1] + 1, order[i] + 1);
      m += len(order[n - 1] + 1, 0);
      if (m < bestM - TIE_M) { bestM = m; best = order; }
    }
    return { ok: true, order: best };
  }
  const order = Array.from({ length: n }, (_, k) => k);
  let at = 0;
  for (const k of order) {
    const p = paths.get(at, k + 1);
    if (!p.ok) return { ok: false, unreachable: k, reason: p.reason };
    at = k + 1;
  }
  const home = paths.get(at, 0);
  if (!home.ok) return { ok: false, unreachable: order[n - 1], reason: home.reason };
  return { ok: true, order };
}

/** The permutations of 0 … n − 1 in lexicographic order. */
export function permutations(n: number): number[][] {
  const out: number[][] = [];
  const rec = (prefix: number[], rest: number[]) => {
    if (rest.length === 0) { out.push(prefix); return; }
    for (let i = 0; i < rest.length; i++) rec([...prefix, rest[i]], [...rest.slice(0, i), ...rest.slice(i + 1)]);
  };
  rec([], Array.from({ length: n }, (_, k) => k));
  return out;
}

/** Parcel k's release output (request index k; 0 is `drop`). */
export function releaseServo(req: NormalizedRequest, k: number): number {
  return req.profile.releaseServos?.[k] ?? req.profile.releaseServo;
}

/**
 * Why the vehicle cannot release `parcels` parcels one at a time (MULTI_DROP_UNSUPPORTED), or null:
 * a sortie needs release 'servo' and max(1, releaseServos.length) ≥ parcels.
 */
export function sortieReleaseError(req: NormalizedRequest, parcels: number): PlanError | null {
  if (parcels <= 1) return null;
  const release = req.payload.release;
  if (release !== 'servo') {
    return planError('MULTI_DROP_UNSUPPORTED', `a ${release} releases everything at once: a sortie needs release 'servo' (${parcels} parcels, each dropped at its own point)`, { parcels, release, path: 'payload.release' });
  }
  const outputs = Math.max(1, req.profile.releaseServos?.length ?? 0);
  if (outputs < parcels) {
    return planError('MULTI_DROP_UNSUPPORTED', `${parcels} parcels need ${parcels} release outputs; the profile has ${outputs} (profile.releaseServos)`, { parcels, release, releaseOutputs: outputs, path: 'profile.releaseServos' });
  }
  return null;
}
