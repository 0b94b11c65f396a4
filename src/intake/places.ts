/**
 * The places catalogue: sealed compounds, their buildings and drop points (a courtyard, a rooftop,
 * a gate), named in Chinese and English with aliases. Shape checks and the GeoJSON / CSV import;
 * the checks of drop points against the zones are in place-check.ts.
 */
import { z } from 'zod';
import { parse as parseCsv } from 'csv-parse/sync';

export const PLACE_KINDS = ['compound', 'building', 'drop-point'] as const;
export type PlaceKind = (typeof PLACE_KINDS)[number];

export interface Place {
  /** Stable id (letters, digits, . _ -). */
  id: string;
  kind: PlaceKind;
  /** A building's compound; a drop point's compound or building. */
  parentId?: string;
  name: { zh?: string; en?: string };
  aliases?: string[];
  /** A building's number (3 for 3号楼 / Building 3). */
  number?: number;
  /** Where a parcel for this place is released, [lon, lat] (required for drop points). */
  drop?: [number, number];
}

/** Bounds of one catalogue. */
export const MAX_PLACES = 20_000;
const NameText = z.string().trim().min(1).max(100).refine((s) => !/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(s), 'control characters are not allowed');

export const PlaceSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    kind: z.enum(PLACE_KINDS),
    parentId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
    name: z.object({ zh: NameText.optional(), en: NameText.optional() }).strict(),
    aliases: z.array(NameText).max(20).optional(),
    number: z.number().int().min(0).max(100_000).optional(),
    drop: z.tuple([z.number().min(-180).max(180), z.number().min(-90).max(90)]).optional(),
  })
  .strict();

export const PlacesSchema = z.array(PlaceSchema).max(MAX_PLACES);

export type CatalogueResult = { ok: true; places: Place[] } | { ok: false; code: string; message: string; details?: unknown };

/** Schema, unique ids, a name each, parents that exist and fit (building → compound; drop point → compound or building), drops where needed. */
export function validateCatalogue(input: unknown): CatalogueResult {
  const p = PlacesSchema.safeParse(input);
  if (!p.success) return { ok: false, code: 'INVALID_PLACES', message: 'places do not match the schema', details: p.error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.'), message: i.message })) };
  const places = p.data as Place[];
  const byId = new Map<string, Place>();
  for (const pl of places) {
    if (byId.has(pl.id)) return { ok: false, code: 'DUPLICATE_PLACE', message: `place id ${pl.id} appears twice` };
    byId.set(pl.id, pl);
  }
  for (const pl of places) {
    if (!pl.name.zh && !pl.name.en) return { ok: false, code: 'INVALID_PLACES', message: `place ${pl.id} has no name` };
    if (pl.kind === 'compound' && pl.parentId) return { ok: false, code: 'INVALID_PARENT', message: `compound ${pl.id} cannot have a parent` };
    if (pl.kind !== 'compound') {
      const parent = pl.parentId ? byId.get(pl.parentId) : undefined;
      if (!parent) return { ok: false, code: 'INVALID_PARENT', message: `${pl.kind} ${pl.id} needs an existing parent (got ${pl.parentId ?? 'none'})` };
      if (pl.kind === 'building' && parent.kind !== 'compound') return { ok: false, code: 'INVALID_PARENT', message: `building ${pl.id}: its parent ${parent.id} is a ${parent.kind}, not a compound` };
      if (pl.kind === 'drop-point' && parent.kind === 'drop-point') return { ok: false, code: 'INVALID_PARENT', message: `drop point ${pl.id}: its parent ${parent.id} is a drop point` };
    }
    if (pl.kind === 'drop-point' && !pl.drop) return { ok: false, code: 'INVALID_PLACES', message: `drop point ${pl.id} has no position` };
  }
  return { ok: true, places };
}

const splitAliases = (v: unknown): string[] | undefined => {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v !== 'string' || !v.trim()) return undefined;
  return v.split(/[|;；]/).map((s) => s.trim()).filter(Boolean);
};
const num = (v: unknown): number | undefined => {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(String(v).trim());
  return Number.isFinite(n) ? n : NaN;
};

/** One place from flat fields (CSV columns or GeoJSON properties). */
function fromFields(f: Record<string, unknown>, drop?: [number, number]): Record<string, unknown> {
  const o: Record<string, unknown> = { id: f.id === undefined ? undefined : String(f.id), kind: f.kind, name: {} };
  const nm = o.name as Record<string, string>;
  if (f.name_zh) nm.zh = String(f.name_zh);
  if (f.name_en) nm.en = String(f.name_en);
  if (f.parent || f.parentId) o.parentId = String(f.parent ?? f.parentId);
  const al = splitAliases(f.aliases);
  if (al) o.aliases = al;
  const n = num(f.number);
  if (n !== undefined) o.number = n;
  const lon = num(f.lon), lat = num(f.lat);
  if (drop) o.drop = drop;
  else if (lon !== undefined || lat !== undefined) o.drop = [lon, lat];
  return o;
}

/** Places from CSV with a header: id,kind,parent,name_zh,name_en,aliases (| or ; between),number,lon,lat. */
export function placesFromCsv(text: string): CatalogueResult {
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(text, { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, bom: true, max_record_size: 10_000, to: MAX_PLACES + 1 });
  } catch (e) {
    return { ok: false, code: 'INVALID_CSV', message: `the CSV could not be read: ${String((e as Error).message).split('\n')[0].slice(0, 200)}` };
  }
  if (rows.length > MAX_PLACES) return { ok: false, code: 'TOO_MANY_PLACES', message: `more than ${MAX_PLACES} places` };
  return validateCatalogue(rows.map((r) => fromFields(r)));
}

/** Places from a GeoJSON FeatureCollection: properties as the CSV columns, a Point geometry as the drop position. */
export function placesFromGeoJson(doc: unknown): CatalogueResult {
  const fc = doc as { type?: unknown; features?: unknown };
  if (!fc || fc.type !== 'FeatureCollection' || !Array.isArray(fc.features)) return { ok: false, code: 'INVALID_GEOJSON', message: 'expected a GeoJSON FeatureCollection' };
  if (fc.features.length > MAX_PLACES) return { ok: false, code: 'TOO_MANY_PLACES', message: `more than ${MAX_PLACES} places` };
  const out: Record<string, unknown>[] = [];
  for (const [i, f] of (fc.features as any[]).entries()) {
    const props = f && typeof f.properties === 'object' && f.properties ? f.properties : {};
    const g = f?.geometry;
    if (g && g.type !== 'Point') return { ok: false, code: 'INVALID_GEOJSON', message: `feature ${i}: only Point geometries (the drop position) are taken, not ${String(g.type).slice(0, 30)}` };
    const drop = g && Array.isArray(g.coordinates) ? ([Number(g.coordinates[0]), Number(g.coordinates[1])] as [number, number]) : undefined;
    out.push(fromFields(props, drop));
  }
  return validateCatalogue(out);
}

/** Display name: the language asked for, else the other. */
export function placeName(p: Pick<Place, 'name'>, lang: 'zh-CN' | 'en'): string {
  return (lang === 'en' ? p.name.en ?? p.name.zh : p.name.zh ?? p.name.en) ?? '';
}
