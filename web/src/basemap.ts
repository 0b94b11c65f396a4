/** Adds the configured base layer to a Leaflet map and falls back to the plain background when tiles fail. */
import L from 'leaflet';
import type { BasemapConfig } from './basemap-config';

export * from './basemap-config';

export type BasemapHealth = 'none' | 'loading' | 'ok' | 'fallback';

/**
 * Leaflet's attribution control writes attributions into the page as HTML; the configured attribution
 * (config.json, the browser's stored choice) is text, so it is escaped and shows exactly as written.
 */
export function attributionHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Adds the tile layer (if any) and watches it: if no tile has loaded `fallbackAfterMs` after the
 * first request, or every one of the first 4 requests failed, the layer is removed and `onHealth('fallback')`
 * is reported; the overlays stay. Returns a function that removes the layer and its watchers.
 */
export function addBasemap(map: L.Map, cfg: BasemapConfig, onHealth: (h: BasemapHealth) => void): () => void {
  if (cfg.provider === 'none' || !cfg.url) {
    onHealth('none');
    return () => undefined;
  }
  const layer = L.tileLayer(cfg.url, {
    subdomains: cfg.subdomains ?? 'abc',
    maxZoom: 22,
    maxNativeZoom: cfg.maxZoom ?? 19,
    attribution: attributionHtml(cfg.attribution ?? ''),
    crossOrigin: false,
  });
  let loaded = 0;
  let failed = 0;
  let health: BasemapHealth = 'loading';
  let removed = false;
  const set = (h: BasemapHealth) => {
    if (health === h) return;
    health = h;
    onHealth(h);
  };
  const fallback = () => {
    if (removed || loaded > 0) return;
    removed = true;
    map.removeLayer(layer);
    set('fallback');
  };
  const timer = setTimeout(fallback, cfg.fallbackAfterMs ?? 8000);
  layer.on('tileload', () => {
    loaded++;
    set('ok');
  });
  layer.on('tileerror', () => {
    failed++;
    if (loaded === 0 && failed >= 4) fallback();
  });
  onHealth('loading');
  layer.addTo(map);
  return () => {
    clearTimeout(timer);
    if (!removed) map.removeLayer(layer);
    removed = true;
  };
}
