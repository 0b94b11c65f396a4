/**
 * KML → zones: a KML document (text) becomes the planner's zones FeatureCollection. Each
 * placemark's kind comes from its `kind` property (ExtendedData), or else from the name of the
 * nearest enclosing folder ("No-fly zones", "Launch sites", "Operating area", ...). Pure: text in,
 * GeoJSON out; parsed with @xmldom/xmldom and converted with @tmcw/togeojson.
 */
import { DOMParser } from '@xmldom/xmldom';
import { kmlWithFolders } from '@tmcw/togeojson';
import type { Feature, FeatureCollection, Geometry } from 'geojson';
import type { Warning } from './errors';
import { ZONE_KINDS, type ZoneKind } from './zones';

export type KmlZonesResult =
  | { ok: true; zones: FeatureCollection; warnings: Warning[] }
  | { ok: false; error: { code: 'INVALID_KML' | 'KML_KIND_UNKNOWN'; message: string; details?: unknown } };

/** Folder or property names (lower case, spaces/underscores as '-', trailing 's' dropped) → kind. */
const KIND_ALIASES: Record<string, ZoneKind> = {
  'operating-area': 'operating-area', 'area': 'operating-area', 'operating-zone': 'operating-area', 'operation-area': 'operating-area',
  'no-fly': 'no-fly', 'nofly': 'no-fly', 'no-fly-zone': 'no-fly', 'nfz': 'no-fly', 'restricted': 'no-fly', 'restricted-area': 'no-fly',
  'sealed-zone': 'sealed-zone', 'sealed': 'sealed-zone', 'sealed-area': 'sealed-zone', 'lockdown': 'sealed-zone', 'lockdown-zone': 'sealed-zone',
  'launch-site': 'launch-site', 'launch': 'launch-site', 'launch-point': 'launch-site',
  'rally-point': 'rally-point', 'rally': 'rally-point', 'landing-spot': 'rally-point',
};

export function kindFromName(name: unknown): ZoneKind | undefined {
  if (typeof name !== 'string') return undefined;
  const k = name.trim().toLowerCase().replace(/[\s_]+/g, '-');
  if ((ZONE_KINDS as readonly string[]).includes(k)) return k as ZoneKind;
  return KIND_ALIASES[k] ?? KIND_ALIASES[k.replace(/s$/, '')] ?? KIND_ALIASES[k.replace(/-zones$/, '-zone')];
}

/** Properties that the planner reads as numbers; KML ExtendedData carries them as text. */
const NUMERIC_PROPS = ['clearanceM', 'minAltM'];
/** Styling that togeojson derives from KML styles: of no use to the planner. */
const STYLE_PROPS = new Set(['styleUrl', 'styleHash', 'styleMapHash', 'stroke', 'stroke-opacity', 'stroke-width', 'fill', 'fill-opacity', 'icon', 'icon-scale', 'icon-offset', 'icon-offset-units', 'label-scale', 'visibility']);

type KmlNode = { type: 'folder'; meta: Record<string, unknown>; children: KmlNode[] } | (Feature<Geometry | null> & { type: 'Feature' });

export function kmlToZones(text: string): KmlZonesResult {
  if (typeof text !== 'string' || text.trim().length === 0) return { ok: false, error: { code: 'INVALID_KML', message: 'the KML text is empty' } };
  const errors: string[] = [];
  let doc: any;
  try {
    doc = new DOMParser({ onError: (level: string, msg: string) => { if (level !== 'warning') errors.push(msg); } }).parseFromString(text, 'text/xml');
  } catch (e) {
    return { ok: false, error: { code: 'INVALID_KML', message: `the KML is not well-formed XML: ${firstLine((e as Error).message)}` } };
  }
  if (errors.length > 0) return { ok: false, error: { code: 'INVALID_KML', message: `the KML is not well-formed XML: ${firstLine(errors[0])}` } };
  if (!doc || !doc.documentElement || doc.documentElement.localName !== 'kml') {
    return { ok: false, error: { code: 'INVALID_KML', message: `the document's root element is <${doc?.documentElement?.localName ?? '?'}>, not <kml>` } };
  }
  let root: { children: KmlNode[] };
  try {
    root = kmlWithFolders(doc) as unknown as { children: KmlNode[] };
  } catch (e) {
    return { ok: false, error: { code: 'INVALID_KML', message: `the KML could not be converted: ${firstLine((e as Error).message)}` } };
  }
  const features: Feature[] = [];
  const warnings: Warning[] = [];
  let placemark = 0;
  const walk = (nodes: KmlNode[], folderKind: ZoneKind | undefined, folderPath: string[]): KmlZonesResult | null => {
    for (const n of nodes) {
      if (n.type === 'folder') {
        const name = typeof n.meta?.name === 'string' ? n.meta.name : '';
        const r = walk(n.children ?? [], kindFromName(name) ?? folderKind, [...folderPath, name]);
        if (r) return r;
        continue;
      }
      const index = placemark++;
      const src = (n.properties ?? {}) as Record<string, unknown>;
      const label = `placemark #${index}${typeof src.name === 'string' ? ` "${src.name}"` : ''}${folderPath.length ? ` in folder "${folderPath.join('/')}"` : ''}`;
      if (!n.geometry) {
        warnings.push({ code: 'KML_PLACEMARK_SKIPPED', message: `${label} has no geometry and was skipped`, details: { placemark: index } });
        continue;
      }
      const explicit = src.kind;
      const kind = explicit !== undefined ? kindFromName(explicit) : folderKind;
      if (!kind) {
        return { ok: false, error: { code: 'KML_KIND_UNKNOWN', message: `${label}: its kind is ${explicit !== undefined ? `"${String(explicit)}", not one of ${ZONE_KINDS.join(', ')}` : 'not given: set an ExtendedData "kind" or put it in a folder named after its kind (e.g. "No-fly zones")'}`, details: { placemark: index, name: src.name, folders: folderPath } } };
      }
      const props: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(src)) if (!STYLE_PROPS.has(k)) props[k] = v;
      props.kind = kind;
      for (const k of NUMERIC_PROPS) {
        if (typeof props[k] === 'string' && (props[k] as string).trim() !== '' && Number.isFinite(Number(props[k]))) props[k] = Number(props[k]);
      }
      let geometry = n.geometry as Geometry;
      if (geometry.type === 'GeometryCollection') {
        const polys = geometry.geometries.filter((g) => g.type === 'Polygon' || g.type === 'MultiPolygon');
        if (kind === 'no-fly' && polys.length === geometry.geometries.length && polys.length > 0) {
          geometry = { type: 'MultiPolygon', coordinates: polys.flatMap((g) => (g.type === 'Polygon' ? [g.coordinates] : (g as any).coordinates)) };
        } else if (geometry.geometries.length === 1) {
          geometry = geometry.geometries[0];
        }
      }
      features.push({ type: 'Feature', properties: props, geometry });
    }
    return null;
  };
  const failed = walk(root.children ?? [], undefined, []);
  if (failed) return failed;
  return { ok: true, zones: { type: 'FeatureCollection', features }, warnings };
}

function firstLine(s: string): string {
  return String(s).split('\n')[0].slice(0, 300);
}
