/**
 * Security headers for the console and the API (helmet): a strict Content-Security-Policy, nosniff,
 * no referrer, no framing.
 *
 * The policy is written for the console in web/: every script is a file served by the service itself
 * (app.js, zone-editor.js; no inline script, no eval), so a script slipped into the page as data (a
 * zone name, a job note, a vehicle's STATUSTEXT) cannot run even where the page would render it as
 * HTML. Images may come from the service, data:/blob: URLs (Leaflet's icons) and the tile hosts of
 * the console's base maps; everything the page fetches or opens a socket to is the service itself.
 */
import fs from 'fs';
import path from 'path';
import type { IncomingMessage, ServerResponse } from 'http';
import helmet from 'helmet';
import { PROVIDER_DEFAULTS } from '../../web/src/basemap-config';

export interface SecurityHeadersOptions {
  /**
   * Origins (`https://host[:port]`) the console may load map tiles from. Default: the hosts of the
   * built-in `osm` and `gcj02` tile URL templates (web/src/basemap-config.ts), plus the host of the
   * deployment's own base layer URL when `webDir` is given.
   */
  tileHosts?: string[];
  /** The built console: the `basemap.url` of its config.json (web/build.js, DROPLINE_BASEMAP) is allowed too. */
  webDir?: string;
}

/**
 * The origins an XYZ URL template loads tiles from: `{s}` is expanded with each subdomain letter;
 * a relative template (offline tiles served by the service) gives none ('self' covers it).
 */
export function tileOrigins(template: string, subdomains = 'abc'): string[] {
  const m = /^(https?):\/\/([^/?#]+)/i.exec(template);
  if (!m) return [];
  const [, scheme, authority] = m;
  const hosts = authority.includes('{s}') ? [...subdomains].map((s) => authority.replace('{s}', s)) : [authority];
  return [...new Set(hosts.map((h) => `${scheme.toLowerCase()}://${h.toLowerCase()}`))];
}

/** Tile origins of the built-in providers. */
export function defaultTileHosts(): string[] {
  return Object.values(PROVIDER_DEFAULTS).flatMap((p) => tileOrigins(p.url, p.subdomains));
}

/** Tile origins of the deployment's base layer (web/dist/config.json), if it names an absolute URL. */
function deployedTileHosts(webDir: string): string[] {
  try {
    const cfg = JSON.parse(fs.readFileSync(path.join(webDir, 'config.json'), 'utf8')) as { basemap?: { url?: unknown; subdomains?: unknown } };
    const url = cfg?.basemap?.url;
    if (typeof url !== 'string') return [];
    return tileOrigins(url, typeof cfg.basemap?.subdomains === 'string' && cfg.basemap.subdomains ? cfg.basemap.subdomains : 'abc');
  } catch {
    return [];
  }
}

/** A CSP source must not carry spaces, quotes, semicolons or commas (it would end or add a directive). */
function safeSource(s: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[A-Za-z0-9.*:[\]-]+$/.test(s);
}

/**
 * The WebSocket origin of the page itself (ws://host or wss://host). CSP Level 3 lets 'self' match
 * ws/wss of the same host, but not every browser in use does yet; the Host header is accepted only when it
 * is a plain host[:port].
 */
function socketSelf(req: IncomingMessage): string {
  const host = req.headers.host ?? '';
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return "'self'";
  const secure = Boolean((req.socket as { encrypted?: boolean }).encrypted);
  return `${secure ? 'wss' : 'ws'}://${host}`;
}

export function securityHeaders(opts: SecurityHeadersOptions = {}): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const tiles = [...new Set([...(opts.tileHosts ?? defaultTileHosts()), ...(opts.webDir ? deployedTileHosts(opts.webDir) : [])])].filter(safeSource);
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        // Only the bundles the service serves: no inline script, no event-handler attributes, no eval.
        'script-src': ["'self'"],
        'script-src-attr': ["'none'"],
        // Style sheets: app.css only, and no inline style at all (no <style>, no style attributes).
        // Leaflet and leaflet-geoman position and size panes, tiles, markers and tooltips through
        // element.style (the CSSOM, which CSP does not govern), and the console sets styles the same
        // way (web/src/dom.ts), so neither needs 'unsafe-inline'; the browser tests check that the
        // console raises no CSP violation while it is used.
        'style-src': ["'self'"],
        'style-src-attr': ["'none'"],
        'img-src': ["'self'", 'data:', 'blob:', ...tiles],
        'font-src': ["'self'"],
        'connect-src': ["'self'", socketSelf],
        'media-src': ["'self'"],
        'worker-src': ["'self'"],
        'manifest-src': ["'self'"],
        'object-src': ["'none'"],
        'frame-src': ["'none'"],
        'frame-ancestors': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
      },
    },
    // The service speaks plain HTTP unless a proxy in front of it terminates TLS: whether to pin HTTPS
    // (HSTS) for a whole domain is that proxy's decision, not this service's.
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
    xContentTypeOptions: true,
    xPoweredBy: true,
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: false,
  }) as (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
}
