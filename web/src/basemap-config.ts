/**
 * Base layer configuration (pure: no Leaflet, testable in Node). Every overlay is drawn whether or not tiles load: with provider `none` (or when a
 * tile provider cannot be reached) the map is a plain background with all zones, routes and vehicles.
 *
 * Providers:
 * - `osm`: an OpenStreetMap-style XYZ URL (default `https://tile.openstreetmap.org/{z}/{x}/{y}.png`), WGS-84.
 * - `gcj02`: a Chinese provider drawn in GCJ-02 (default AutoNavi road tiles); overlays are shifted to match.
 * - `offline`: XYZ tiles from a local folder served with the console (default `tiles/{z}/{x}/{y}.png`,
 *   i.e. web/dist/tiles, filled at build time from DROPLINE_TILES_DIR); datum configurable.
 * - `none`: no tiles.
 *
 * Where the choice comes from, first match wins: `?basemap=` in the URL, the user's choice in
 * localStorage, the deployment's `config.json` (written by web/build.js), the built-in default `osm`.
 */
export type BasemapProvider = 'osm' | 'gcj02' | 'offline' | 'none';
export const BASEMAP_PROVIDERS: BasemapProvider[] = ['osm', 'gcj02', 'offline', 'none'];
export type Datum = 'wgs84' | 'gcj02';

export interface BasemapConfig {
  provider: BasemapProvider;
  /** XYZ template; provider default when omitted. */
  url?: string;
  subdomains?: string;
  maxZoom?: number;
  attribution?: string;
  /** Datum of the tiles (default: gcj02 for `gcj02`, wgs84 otherwise). */
  datum?: Datum;
  /** With no tile loaded this long after the first request, fall back to the plain background (default 8000 ms). */
  fallbackAfterMs?: number;
}

export const PROVIDER_DEFAULTS: Record<BasemapProvider, Required<Pick<BasemapConfig, 'url' | 'subdomains' | 'maxZoom' | 'attribution' | 'datum'>>> = {
  osm: { url: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png', subdomains: 'abc', maxZoom: 19, attribution: '© OpenStreetMap contributors', datum: 'wgs84' },
  gcj02: {
    url: 'https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}',
    subdomains: '1234',
    maxZoom: 18,
    attribution: '© AutoNavi',
    datum: 'gcj02',
  },
  offline: { url: 'tiles/{z}/{x}/{y}.png', subdomains: 'abc', maxZoom: 19, attribution: '', datum: 'wgs84' },
  none: { url: '', subdomains: 'abc', maxZoom: 20, attribution: '', datum: 'wgs84' },
};

export function isProvider(v: unknown): v is BasemapProvider {
  return typeof v === 'string' && (BASEMAP_PROVIDERS as string[]).includes(v);
}

/** Merges the sources (URL parameter, stored choice, deployment config) into one complete config. */
export function resolveBasemap(sources: { query?: string | null; stored?: string | null; deployed?: Partial<BasemapConfig> | null }): BasemapConfig & { datum: Datum } {
  let cfg: Partial<BasemapConfig> = { provider: 'osm' };
  if (sources.deployed && isProvider(sources.deployed.provider)) cfg = { ...sources.deployed };
  if (sources.stored) {
    try {
      const s = JSON.parse(sources.stored) as Partial<BasemapConfig>;
      if (isProvider(s.provider)) cfg = s.provider === cfg.provider ? { ...cfg, ...s } : { ...s };
    } catch {
      /* ignore a corrupt stored value */
    }
  }
  if (isProvider(sources.query)) cfg = sources.query === cfg.provider ? cfg : { provider: sources.query };
  const provider = cfg.provider as BasemapProvider;
  const d = PROVIDER_DEFAULTS[provider];
  return {
    provider,
    url: cfg.url || d.url,
    subdomains: cfg.subdomains || d.subdomains,
    maxZoom: cfg.maxZoom ?? d.maxZoom,
    attribution: cfg.attribution ?? d.attribution,
    datum: cfg.datum === 'gcj02' || cfg.datum === 'wgs84' ? cfg.datum : d.datum,
    fallbackAfterMs: cfg.fallbackAfterMs ?? 8000,
  };
}

