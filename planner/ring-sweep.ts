/**
 * Sweep-line tests on rings (Shamos–Hoey): does an open ring cross or touch itself, and do points
 * lie inside a simple ring. Both run in O((n + m) log n) time whatever the shape: a zigzag whose
 * edges all overlap in x, a comb or a spiral cost the same as a circle of as many vertices.
 *
 * The sweep moves left to right over the edges' endpoints (ordered by x, then y). The edges the
 * sweep line crosses are kept in their vertical order; two edges can only meet after they have been
 * neighbours in that order, so only neighbours are tested, and the first meeting found ends the
 * sweep. Degenerate cases count as meetings: a vertex of one edge on another edge, collinear
 * overlaps, a vertex used twice. Adjacent edges share their common vertex and meet only when they
 * fold back onto each other.
 *
 * Pure and deterministic: no randomness (the ordered set is a list of sorted chunks, not a treap).
 */
import type { LonLat } from './geo';

function orient(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): number {
  return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

function within(ax: number, ay: number, bx: number, by: number, px: number, py: number): boolean {
  return Math.min(ax, bx) <= px && px <= Math.max(ax, bx) && Math.min(ay, by) <= py && py <= Math.max(ay, by);
}

/** Chunk size of the ordered set: inserts and deletes cost O(log n + CHUNK). */
const CHUNK = 128;

interface Chunk {
  items: number[];
  /** Index of this chunk in `Status.chunks`. */
  pos: number;
}

/**
 * The edges crossing the sweep line, bottom to top. The order is fixed when an edge is inserted
 * (by the caller's comparison) and kept until it is deleted, which is right as long as no two edges
 * have crossed to the left of the sweep line: the sweep stops at the first meeting.
 */
class Status {
  private readonly chunks: Chunk[] = [];
  private readonly chunkOf: (Chunk | undefined)[];

  constructor(size: number) {
    this.chunkOf = new Array(size);
  }

  /**
   * Position for a new element: the first element that `isAbove(element)` is false for. Returns
   * [chunk index, index in chunk]; [-1, -1] when `stop()` says the search must end.
   */
  locate(isAbove: (t: number) => boolean, stop: () => boolean): [number, number] {
    const cs = this.chunks;
    let lo = 0, hi = cs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const items = cs[mid].items;
      const up = isAbove(items[items.length - 1]);
      if (stop()) return [-1, -1];
      if (up) lo = mid + 1;
      else hi = mid;
    }
    if (lo === cs.length) return cs.length === 0 ? [0, 0] : [cs.length - 1, cs[cs.length - 1].items.length];
    const items = cs[lo].items;
    let a = 0, b = items.length - 1; // the last item is known not to be below
    while (a < b) {
      const mid = (a + b) >> 1;
      const up = isAbove(items[mid]);
      if (stop()) return [-1, -1];
      if (up) a = mid + 1;
      else b = mid;
    }
    return [lo, a];
  }

  /** Insert `s` at a position from `locate`; returns its neighbours below and above (-1: none). */
  insertAt(s: number, ci: number, k: number): [number, number] {
    if (this.chunks.length === 0) {
      const c: Chunk = { items: [s], pos: 0 };
      this.chunks.push(c);
      this.chunkOf[s] = c;
      return [-1, -1];
    }
    const c = this.chunks[ci];
    c.items.splice(k, 0, s);
    this.chunkOf[s] = c;
    const nb = this.neighbours(c, k);
    if (c.items.length > 2 * CHUNK) this.split(c);
    return nb;
  }

  /** Remove `s`; returns its former neighbours below and above (-1: none). */
  remove(s: number): [number, number] {
    const c = this.chunkOf[s]!;
    const k = c.items.indexOf(s);
    const nb = this.neighbours(c, k);
    c.items.splice(k, 1);
    this.chunkOf[s] = undefined;
    if (c.items.length === 0) {
      this.chunks.splice(c.pos, 1);
      for (let i = c.pos; i < this.chunks.length; i++) this.chunks[i].pos = i;
    }
    return nb;
  }

  /** The last element (in order) of chunk `ci` up to index k - 1, across chunks; -1 when none. */
  below(ci: number, k: number): number {
    if (k > 0) return this.chunks[ci].items[k - 1];
    return ci > 0 ? this.chunks[ci - 1].items[this.chunks[ci - 1].items.length - 1] : -1;
  }

  private neighbours(c: Chunk, k: number): [number, number] {
    const below = k > 0 ? c.items[k - 1] : c.pos > 0 ? last(this.chunks[c.pos - 1].items) : -1;
    const above = k + 1 < c.items.length ? c.items[k + 1] : c.pos + 1 < this.chunks.length ? this.chunks[c.pos + 1].items[0] : -1;
    return [below, above];
  }

  private split(c: Chunk): void {
    const tail: Chunk = { items: c.items.splice(CHUNK), pos: c.pos + 1 };
    this.chunks.splice(c.pos + 1, 0, tail);
    for (let i = c.pos + 2; i < this.chunks.length; i++) this.chunks[i].pos = i;
    for (const s of tail.items) this.chunkOf[s] = tail;
  }
}

function last(a: number[]): number {
  return a[a.length - 1];
}

/** Edges of an open ring with their endpoints in sweep order (left = smaller x, then smaller y). */
interface Edges {
  n: number;
  lx: Float64Array;
  ly: Float64Array;
  rx: Float64Array;
  ry: Float64Array;
  /** 1 when the ring runs left → right along the edge. */
  forward: Uint8Array;
}

function edgesOf(ring: LonLat[]): Edges {
  const n = ring.length;
  const e: Edges = { n, lx: new Float64Array(n), ly: new Float64Array(n), rx: new Float64Array(n), ry: new Float64Array(n), forward: new Uint8Array(n) };
  for (let i = 0; i < n; i++) {
    const a = ring[i], b = ring[(i + 1) % n];
    const fwd = a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
    const l = fwd ? a : b, r = fwd ? b : a;
    e.lx[i] = l[0];
    e.ly[i] = l[1];
    e.rx[i] = r[0];
    e.ry[i] = r[1];
    e.forward[i] = fwd ? 1 : 0;
  }
  return e;
}

const DELETE = 0, INSERT = 1, QUERY = 2;

interface Events {
  /** Event indices in sweep order: by x, y, then kind (deletions before insertions before queries). */
  order: Int32Array;
  kind: Uint8Array;
  /** Edge index (DELETE, INSERT) or point index (QUERY). */
  id: Int32Array;
}

function sortedEvents(e: Edges, points: LonLat[] = []): Events {
  const m = 2 * e.n + points.length;
  const ex = new Float64Array(m), ey = new Float64Array(m), kind = new Uint8Array(m), id = new Int32Array(m);
  for (let i = 0; i < e.n; i++) {
    ex[2 * i] = e.lx[i]; ey[2 * i] = e.ly[i]; kind[2 * i] = INSERT; id[2 * i] = i;
    ex[2 * i + 1] = e.rx[i]; ey[2 * i + 1] = e.ry[i]; kind[2 * i + 1] = DELETE; id[2 * i + 1] = i;
  }
  for (let k = 0; k < points.length; k++) {
    const j = 2 * e.n + k;
    ex[j] = points[k][0]; ey[j] = points[k][1]; kind[j] = QUERY; id[j] = k;
  }
  const order = Int32Array.from({ length: m }, (_, i) => i);
  order.sort((p, q) => ex[p] - ex[q] || ey[p] - ey[q] || kind[p] - kind[q] || id[p] - id[q]);
  return { order, kind, id };
}

/** A vertex used twice (not as a neighbour's shared corner), or null. O(n log n). */
function repeatedVertex(ring: LonLat[]): LonLat | null {
  const idx = Array.from({ length: ring.length }, (_, i) => i);
  idx.sort((p, q) => ring[p][0] - ring[q][0] || ring[p][1] - ring[q][1]);
  for (let k = 1; k < idx.length; k++) {
    const a = ring[idx[k - 1]], b = ring[idx[k]];
    if (a[0] === b[0] && a[1] === b[1]) return [a[0], a[1]];
  }
  return null;
}

/**
 * The first place found where an open ring (no repeated closing vertex, no consecutive duplicates)
 * crosses or touches itself, or null when the ring is simple. O(n log n).
 */
export function findSelfIntersection(ring: LonLat[]): LonLat | null {
  const n = ring.length;
  if (n < 3) return null;
  const dup = repeatedVertex(ring);
  if (dup) return dup;
  const e = edgesOf(ring);
  const { lx, ly, rx, ry } = e;
  const adjacent = (i: number, j: number) => j === (i + 1) % n || i === (j + 1) % n;

  /** Where edges i and j meet (other than at the corner adjacent edges share), or null. */
  const meet = (i: number, j: number): LonLat | null => {
    if (adjacent(i, j)) {
      const [k, m] = j === (i + 1) % n ? [i, j] : [j, i];
      const a = ring[k], v = ring[m], b = ring[(m + 1) % n];
      // Adjacent edges meet beyond their shared vertex only when they fold back onto each other.
      if (orient(a[0], a[1], v[0], v[1], b[0], b[1]) === 0 && (b[0] - v[0]) * (a[0] - v[0]) + (b[1] - v[1]) * (a[1] - v[1]) > 0) return [v[0], v[1]];
      return null;
    }
    const a1x = lx[i], a1y = ly[i], a2x = rx[i], a2y = ry[i], b1x = lx[j], b1y = ly[j], b2x = rx[j], b2y = ry[j];
    const d1 = orient(b1x, b1y, b2x, b2y, a1x, a1y), d2 = orient(b1x, b1y, b2x, b2y, a2x, a2y);
    const d3 = orient(a1x, a1y, a2x, a2y, b1x, b1y), d4 = orient(a1x, a1y, a2x, a2y, b2x, b2y);
    if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) {
      const t = d1 / (d1 - d2);
      return [a1x + t * (a2x - a1x), a1y + t * (a2y - a1y)];
    }
    if (d1 === 0 && within(b1x, b1y, b2x, b2y, a1x, a1y)) return [a1x, a1y];
    if (d2 === 0 && within(b1x, b1y, b2x, b2y, a2x, a2y)) return [a2x, a2y];
    if (d3 === 0 && within(a1x, a1y, a2x, a2y, b1x, b1y)) return [b1x, b1y];
    if (d4 === 0 && within(a1x, a1y, a2x, a2y, b2x, b2y)) return [b2x, b2y];
    return null;
  };

  const status = new Status(n);
  const ev = sortedEvents(e);
  let hit: LonLat | null = null;
  const stop = () => hit !== null;
  for (let k = 0; k < ev.order.length && !hit; k++) {
    const kind = ev.kind[ev.order[k]], s = ev.id[ev.order[k]];
    if (kind === DELETE) {
      const [p, q] = status.remove(s);
      if (p >= 0 && q >= 0) hit = meet(p, q);
      continue;
    }
    // Insert s, whose left endpoint (px, py) is the sweep position.
    const px = lx[s], py = ly[s];
    const isAbove = (t: number): boolean => {
      const o = orient(lx[t], ly[t], rx[t], ry[t], px, py);
      if (o !== 0) return o > 0;
      // (px, py) lies on t's line, so on t (t spans the sweep position). Only t's neighbour along
      // the ring may start there too: then their directions order them, unless they overlap.
      if (adjacent(s, t) && lx[t] === px && ly[t] === py) {
        const o2 = orient(lx[t], ly[t], rx[t], ry[t], rx[s], ry[s]);
        if (o2 !== 0) return o2 > 0;
      }
      hit = [px, py];
      return false;
    };
    const [ci, ki] = status.locate(isAbove, stop);
    if (hit) break;
    const [p, q] = status.insertAt(s, ci, ki);
    if (p >= 0) hit = meet(s, p);
    if (!hit && q >= 0) hit = meet(s, q);
  }
  return hit;
}

/**
 * Index of the first point that lies outside a simple ring (open, either winding), or -1 when every
 * point is inside or on the ring. The ring must not cross itself (check with findSelfIntersection
 * first). O((n + m) log n) for n vertices and m points.
 */
export function firstPointOutside(ring: LonLat[], points: LonLat[]): number {
  if (points.length === 0) return -1;
  const e = edgesOf(ring);
  const { n, lx, ly, rx, ry, forward } = e;
  // The ring's interior lies left of its direction: above a forward edge when counter-clockwise.
  let area2 = 0;
  for (let i = 0; i < n; i++) {
    const a = ring[i], b = ring[(i + 1) % n];
    area2 += a[0] * b[1] - b[0] * a[1];
  }
  const ccw = area2 > 0;
  const vertices = new Set<string>();
  for (const v of ring) vertices.add(`${v[0]},${v[1]}`);
  const status = new Status(n);
  const ev = sortedEvents(e, points);
  let first = -1;
  for (let k = 0; k < ev.order.length; k++) {
    const kind = ev.kind[ev.order[k]], s = ev.id[ev.order[k]];
    if (kind === DELETE) {
      status.remove(s);
      continue;
    }
    if (kind === INSERT) {
      const px = lx[s], py = ly[s];
      const [ci, ki] = status.locate((t) => {
        const o = orient(lx[t], ly[t], rx[t], ry[t], px, py);
        return o !== 0 ? o > 0 : orient(lx[t], ly[t], rx[t], ry[t], rx[s], ry[s]) > 0;
      }, () => false);
      status.insertAt(s, ci, ki);
      continue;
    }
    // A query: inside when the edge right below the point has the interior above it.
    const [px, py] = points[s];
    if (vertices.has(`${px},${py}`)) continue; // on the ring
    let onRing = false;
    const [ci, ki] = status.locate((t) => {
      const o = orient(lx[t], ly[t], rx[t], ry[t], px, py);
      if (o === 0 && within(lx[t], ly[t], rx[t], ry[t], px, py)) onRing = true;
      return o > 0;
    }, () => onRing);
    if (onRing) continue;
    const t = status.below(ci, ki);
    const inside = t >= 0 && (forward[t] === 1) === ccw && lx[t] !== rx[t];
    if (!inside && (first < 0 || s < first)) first = s;
  }
  return first;
}
