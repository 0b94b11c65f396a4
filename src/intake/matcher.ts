/**
 * Matches a request's free text against the places catalogue, in three stages, stopping at the
 * first that finds something:
 *   1. exact: a compound's name or alias (Chinese or English, normalised) occurs in the text;
 *   2. pinyin: the text's Chinese read as pinyin contains a compound's name read as pinyin
 *      (homophone slips: 新园小区 for 新苑小区);
 *   3. fuzzy: compounds sharing rare character n-grams with the text are scored by fuse.js's
 *      approximate substring search (typos: "Xinyaun compund").
 * Then the building number in the text ("3号楼", "building 3") and a drop point's own name
 * ("东门", "east gate") narrow the compound down to where the parcel goes.
 * Pure and synchronous: an index built once per catalogue version, about a millisecond per request.
 */
import Fuse from 'fuse.js';
import { pinyin } from 'pinyin-pro';
import type { Place } from './places';
import { GENERIC_EN, GENERIC_ZH, buildingNumber, isHan, isWordChar, normalizeText } from './normalize';

export type MatchMethod = 'place' | 'point' | 'exact' | 'pinyin' | 'fuzzy';

export interface MatchCandidate {
  /** The most precise place found (drop point, building or compound). */
  placeId: string;
  compoundId: string;
  buildingId?: string;
  dropPointId?: string;
  /** Where the parcel would go, when the catalogue knows. */
  drop?: [number, number];
  /** 0…1. */
  confidence: number;
  method: MatchMethod;
  /** The name or alias that matched. */
  matched: string;
}

export interface MatchResult {
  best: MatchCandidate | null;
  candidates: MatchCandidate[];
  buildingNumber?: number;
}

interface Entry {
  key: string;
  compoundId: string;
  /** The alias as written in the catalogue. */
  label: string;
}

export interface MatcherOptions {
  /** Fuse.js threshold (0 exact … 1 anything) for the fuzzy stage. Default 0.34. */
  fuzzyThreshold?: number;
  /** Compounds scored by fuse.js per request, from the n-gram pre-selection. Default 12. */
  fuzzyCandidates?: number;
  /** Candidates returned. Default 5. */
  maxCandidates?: number;
}

const CONF = { place: 1, exactUnique: 0.97, exactBuilding: 0.99, pinyin: 0.85, ambiguous: 0.55, fuzzyMax: 0.8 };

function pinyinOf(han: string): string[] {
  return pinyin(han, { toneType: 'none', type: 'array' }) as string[];
}

/** Keys of a name: itself, and without its generic word (新苑小区 → 新苑, "Xinyuan Compound" → "xinyuan"). */
function keysOf(name: string): string[] {
  const n = normalizeText(name).trim();
  if (!n) return [];
  const out = [n];
  const core = n.replace(GENERIC_ZH, '').replace(GENERIC_EN, '').trim();
  if (core !== n && (isHan(core[0]) ? [...core].length >= 2 : core.length >= 4)) out.push(core);
  return out;
}

export class PlaceMatcher {
  readonly places: ReadonlyMap<string, Place>;
  private readonly children = new Map<string, Place[]>();
  private readonly exact = new Map<string, Entry[]>();
  private readonly pinyinIdx = new Map<string, Array<{ syl: string[]; compoundId: string; label: string }>>();
  private readonly grams = new Map<string, Set<string>>();
  private readonly labels = new Map<string, string[]>();
  /** Single-word Latin keys and their one-letter deletions (symmetric-deletion typo lookup). */
  private readonly deletions = new Map<string, Array<{ key: string; compoundId: string; label: string }>>();
  private readonly o: Required<MatcherOptions>;

  /**
   * The index of a catalogue, built in slices of `sliceSize` compounds with the event loop free
   * between them (pinyin and typo variants of thousands of names take a few hundred ms in all).
   */
  static async build(places: Place[], opts: MatcherOptions & { sliceSize?: number } = {}): Promise<PlaceMatcher> {
    const m = new PlaceMatcher(places, opts, true);
    const compounds = places.filter((p) => p.kind === 'compound');
    const size = opts.sliceSize ?? 100;
    for (let i = 0; i < compounds.length; i += size) {
      m.indexCompounds(compounds.slice(i, i + size));
      if (i + size < compounds.length) await new Promise<void>((r) => setImmediate(r));
    }
    return m;
  }

  /** Built at once (synchronously); `deferIndex` leaves the compounds to indexCompounds (see build). */
  constructor(places: Place[], opts: MatcherOptions = {}, deferIndex = false) {
    this.o = { fuzzyThreshold: opts.fuzzyThreshold ?? 0.34, fuzzyCandidates: opts.fuzzyCandidates ?? 12, maxCandidates: opts.maxCandidates ?? 5 };
    const m = new Map<string, Place>();
    for (const p of places) m.set(p.id, p);
    this.places = m;
    for (const p of places) {
      if (!p.parentId) continue;
      const l = this.children.get(p.parentId) ?? [];
      l.push(p);
      this.children.set(p.parentId, l);
    }
    if (!deferIndex) this.indexCompounds(places.filter((p) => p.kind === 'compound'));
  }

  private indexCompounds(compounds: Place[]): void {
    for (const p of compounds) {
      const names = [p.name.zh, p.name.en, ...(p.aliases ?? [])].filter((s): s is string => !!s);
      const seen = new Set<string>();
      for (const name of names) {
        for (const key of keysOf(name)) {
          if (seen.has(key) || key.length < 2) continue;
          seen.add(key);
          const e: Entry = { key, compoundId: p.id, label: name };
          const b = key.slice(0, 2);
          const list = this.exact.get(b) ?? [];
          list.push(e);
          this.exact.set(b, list);
          for (const g of gramsOf(key)) {
            const s = this.grams.get(g) ?? new Set<string>();
            s.add(p.id);
            this.grams.set(g, s);
          }
          const ls = this.labels.get(p.id) ?? [];
          ls.push(key.trim());
          this.labels.set(p.id, ls);
          if (/^[a-z]{5,12}$/.test(key)) {
            for (const v of new Set([key, ...deletionsOf(key)])) {
              const dl = this.deletions.get(v) ?? [];
              dl.push({ key, compoundId: p.id, label: name });
              this.deletions.set(v, dl);
            }
          }
          if (isHan(key[0]) && [...key].every(isHan)) {
            const syl = pinyinOf(key);
            const pl = this.pinyinIdx.get(syl[0]) ?? [];
            pl.push({ syl, compoundId: p.id, label: name });
            this.pinyinIdx.set(syl[0], pl);
          }
        }
      }
    }
  }

  match(text: string, hint: { placeId?: string; point?: [number, number] } = {}): MatchResult {
    const t = normalizeText(text.slice(0, 2000));
    const bn = buildingNumber(t);
    if (hint.placeId && this.places.has(hint.placeId)) {
      const c = this.resolve(hint.placeId, t, bn, CONF.place, 'place', hint.placeId);
      return this.result([c], bn);
    }
    let found = this.exactStage(t);
    let method: MatchMethod = 'exact';
    if (found.size === 0) {
      found = this.pinyinStage(t);
      method = 'pinyin';
    }
    if (found.size === 0) {
      found = this.fuzzyStage(t);
      method = 'fuzzy';
    }
    if (found.size === 0 && hint.point) return this.result(this.nearest(hint.point, t, bn), bn);
    const unique = found.size === 1;
    const out: MatchCandidate[] = [];
    for (const [compoundId, f] of found) {
      const base = method === 'fuzzy' ? f.conf : !unique ? CONF.ambiguous : method === 'exact' ? CONF.exactUnique : CONF.pinyin;
      out.push(this.resolve(compoundId, t, bn, base, method, f.label));
    }
    return this.result(out, bn);
  }

  private result(cands: MatchCandidate[], bn: number | undefined): MatchResult {
    cands.sort((a, b) => b.confidence - a.confidence || a.placeId.localeCompare(b.placeId));
    const candidates = cands.slice(0, this.o.maxCandidates);
    return { best: candidates[0] ?? null, candidates, ...(bn !== undefined ? { buildingNumber: bn } : {}) };
  }

  /** Compound (or a place inside one) → the most precise place the text names, and its drop. */
  private resolve(placeId: string, t: string, bn: number | undefined, conf: number, method: MatchMethod, matched: string): MatchCandidate {
    let p = this.places.get(placeId)!;
    let compound = p;
    while (compound.parentId && this.places.has(compound.parentId)) compound = this.places.get(compound.parentId)!;
    let building: Place | undefined = p.kind === 'building' ? p : p.kind === 'drop-point' && p.parentId && this.places.get(p.parentId)?.kind === 'building' ? this.places.get(p.parentId) : undefined;
    let dropPoint: Place | undefined = p.kind === 'drop-point' ? p : undefined;
    let c = conf;
    if (p.kind === 'compound') {
      const kids = this.children.get(compound.id) ?? [];
      if (bn !== undefined) {
        building = kids.find((k) => k.kind === 'building' && k.number === bn);
        if (building && method === 'exact' && c === CONF.exactUnique) c = CONF.exactBuilding;
      }
      // A drop point named in the text ("东门", "north gate"), else the building's, else the compound's first.
      const pool = [...(building ? this.children.get(building.id) ?? [] : []), ...kids].filter((k) => k.kind === 'drop-point');
      const named = pool.find((d) => [d.name.zh, d.name.en, ...(d.aliases ?? [])].some((n) => n && includesKey(t, normalizeText(n).trim())));
      const ofBuilding = building ? (this.children.get(building.id) ?? []).find((k) => k.kind === 'drop-point') : undefined;
      // Where the parcel goes: a drop point the text names, the building's own, the building, else the compound's gate.
      dropPoint = named ?? ofBuilding ?? (building?.drop ? undefined : pool.find((d) => d.parentId === compound.id));
      p = building ?? named ?? compound;
    }
    const drop = (dropPoint?.drop ?? building?.drop ?? compound.drop) as [number, number] | undefined;
    return {
      placeId: p.id,
      compoundId: compound.id,
      ...(building ? { buildingId: building.id } : {}),
      ...(dropPoint ? { dropPointId: dropPoint.id } : {}),
      ...(drop ? { drop } : {}),
      confidence: Math.round(c * 1000) / 1000,
      method,
      matched,
    };
  }

  private exactStage(t: string): Map<string, { conf: number; label: string }> {
    const hits: Array<{ i: number; len: number; e: Entry }> = [];
    for (let i = 0; i < t.length - 1; i++) {
      const list = this.exact.get(t.slice(i, i + 2));
      if (!list) continue;
      if (isWordChar(t[i]) && isWordChar(t[i - 1])) continue;
      for (const e of list) {
        if (!t.startsWith(e.key, i)) continue;
        if (isWordChar(e.key[e.key.length - 1]) && isWordChar(t[i + e.key.length])) continue;
        hits.push({ i, len: e.key.length, e });
      }
    }
    // A hit inside a longer hit of another compound does not count (花园 inside 金色花园).
    const kept = hits.filter((h) => !hits.some((o) => o !== h && o.e.compoundId !== h.e.compoundId && o.len > h.len && o.i <= h.i && o.i + o.len >= h.i + h.len));
    const out = new Map<string, { conf: number; label: string }>();
    for (const h of kept) if (!out.has(h.e.compoundId)) out.set(h.e.compoundId, { conf: 1, label: h.e.label });
    return out;
  }

  private pinyinStage(t: string): Map<string, { conf: number; label: string }> {
    const out = new Map<string, { conf: number; label: string }>();
    const han = [...t].filter(isHan).join('');
    if (han.length < 2) return out;
    const syl = pinyinOf(han);
    const hits: Array<{ i: number; len: number; compoundId: string; label: string }> = [];
    for (let i = 0; i < syl.length; i++) {
      for (const e of this.pinyinIdx.get(syl[i]) ?? []) {
        if (i + e.syl.length > syl.length) continue;
        let ok = true;
        for (let k = 1; k < e.syl.length && ok; k++) ok = syl[i + k] === e.syl[k];
        if (ok) hits.push({ i, len: e.syl.length, compoundId: e.compoundId, label: e.label });
      }
    }
    const kept = hits.filter((h) => !hits.some((o) => o !== h && o.compoundId !== h.compoundId && o.len > h.len && o.i <= h.i && o.i + o.len >= h.i + h.len));
    for (const h of kept) if (!out.has(h.compoundId)) out.set(h.compoundId, { conf: 1, label: h.label });
    return out;
  }

  private fuzzyStage(t: string): Map<string, { conf: number; label: string }> {
    // Pre-select compounds by shared n-grams weighted by rarity, then score only those with fuse.js.
    const score = new Map<string, number>();
    const total = this.places.size || 1;
    for (const g of new Set(gramsOf(t))) {
      const s = this.grams.get(g);
      if (!s || s.size > total / 4) continue;
      const w = Math.log(total / s.size);
      for (const id of s) score.set(id, (score.get(id) ?? 0) + w);
    }
    const pre = [...score].sort((a, b) => b[1] - a[1]).slice(0, this.o.fuzzyCandidates);
    const out = new Map<string, { conf: number; label: string }>();
    const best: Array<{ id: string; s: number; label: string }> = [];
    for (const [id] of pre) {
      let bestS = 1;
      let label = '';
      for (const key of this.labels.get(id) ?? []) {
        if (key.length > 32) continue;
        // Short keys tolerate no typo: a 4-letter fuzzy hit is noise.
        if ((isHan(key[0]) ? [...key].length < 3 : key.length < 6)) continue;
        // A short Latin key allows one wrong letter, no more ("anyone" is not "anyuan").
        const threshold = !isHan(key[0]) && key.length < 9 ? Math.min(this.o.fuzzyThreshold, 1.2 / key.length) : this.o.fuzzyThreshold;
        const r = Fuse.match(key, t, { threshold, ignoreLocation: true, isCaseSensitive: true });
        if (r.isMatch && r.score < bestS) (bestS = r.score), (label = key);
      }
      if (label) best.push({ id, s: bestS, label });
    }
    // One wrong, missing, extra or swapped letter in a one-word Latin name ("xihnua" for "xinhua").
    for (const w of t.split(' ')) {
      if (!/^[a-z]{5,13}$/.test(w)) continue;
      for (const v of new Set([w, ...deletionsOf(w)])) {
        for (const e of this.deletions.get(v) ?? []) {
          if (e.key === w || osaDistance(e.key, w) > 1) continue;
          const s = 1 / e.key.length + 0.1;
          const prev = best.find((b) => b.id === e.compoundId);
          if (!prev) best.push({ id: e.compoundId, s, label: e.label });
          else if (s < prev.s) (prev.s = s), (prev.label = e.label);
        }
      }
    }
    best.sort((a, b) => a.s - b.s);
    if (best.length === 0) return out;
    const top = best[0].s;
    for (const b of best) if (b.s <= top + 0.05) out.set(b.id, { conf: Math.max(0.3, CONF.fuzzyMax * (1 - b.s)) * (b === best[0] && best.filter((x) => x.s <= top + 0.05).length === 1 ? 1 : 0.75), label: b.label });
    return out;
  }

  /** No name in the text: the compound of the nearest drop point within 200 m of the given position. */
  private nearest(pt: [number, number], t: string, bn: number | undefined): MatchCandidate[] {
    let best: Place | undefined;
    let bestD = 200;
    for (const p of this.places.values()) {
      if (!p.drop) continue;
      const d = distanceM(pt, p.drop);
      if (d < bestD) (bestD = d), (best = p);
    }
    if (!best) return [];
    return [this.resolve(best.id, t, bn, 0.7, 'point', `${Math.round(bestD)} m`)];
  }
}

function includesKey(t: string, key: string): boolean {
  if (key.length < 2) return false;
  let i = t.indexOf(key);
  while (i >= 0) {
    if (!(isWordChar(key[0]) && isWordChar(t[i - 1])) && !(isWordChar(key[key.length - 1]) && isWordChar(t[i + key.length]))) return true;
    i = t.indexOf(key, i + 1);
  }
  return false;
}

/** Character bigrams of Chinese runs and trigrams of Latin words. */
function gramsOf(s: string): string[] {
  const out: string[] = [];
  const chars = [...s];
  for (let i = 0; i < chars.length - 1; i++) {
    if (isHan(chars[i]) && isHan(chars[i + 1])) out.push(chars[i] + chars[i + 1]);
    else if (isWordChar(chars[i]) && isWordChar(chars[i + 1]) && isWordChar(chars[i + 2])) out.push(chars[i] + chars[i + 1] + chars[i + 2]);
  }
  return out;
}

export function distanceM(a: [number, number], b: [number, number]): number {
  const R = 6371008.8;
  const toR = Math.PI / 180;
  const dLat = (b[1] - a[1]) * toR;
  const dLon = (b[0] - a[0]) * toR;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[1] * toR) * Math.cos(b[1] * toR) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
}

function deletionsOf(w: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < w.length; i++) out.push(w.slice(0, i) + w.slice(i + 1));
  return out;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function osaDistance(a: string, b: string): number {
  const m = a.length, n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => [i, ...new Array(n).fill(0)]);
  for (let j = 0; j <= n; j++) d[0][j] = j;
  for (let i = 1; i <= m; i++)
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[m][n];
}
