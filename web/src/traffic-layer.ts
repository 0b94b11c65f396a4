/**
 * Manned aircraft on the map, from the server's `{type:'traffic', aircraft}` (about once a second
 * while any are heard over ADS-B): a glyph of its own (a black and magenta aircraft, a rotor disc for
 * helicopters — never a drone's arrow) turned to its track, a label with its callsign and altitude
 * (AMSL), and its track line for the next 60 s. There are a few aircraft at most, against up to a
 * thousand drones: each is one small DOM marker and one two-point line, updated in place; one that is
 * no longer sent (or not heard for 20 s) is removed. The callsign comes from the air and is only ever
 * set as text.
 */
import L from 'leaflet';
import { t } from './i18n';
import { formatAltM, formatSpeedMps } from './format';

export interface AircraftView {
  icao: string;
  callsign: string;
  lat: number;
  lon: number;
  altAmslM: number | null;
  headingDeg: number | null;
  speedMps: number;
  emitterType: number;
  seenMs: number;
}

/** Track line length, s. */
export const TRACK_AHEAD_S = 60;
const FORGET_MS = 20_000;
const EARTH_R = 6378137;

/** Where an aircraft will be after `s` seconds flying straight (WGS-84). */
export function aheadOf(a: AircraftView, s: number): { lat: number; lon: number } {
  if (a.headingDeg === null || !(a.speedMps > 0)) return { lat: a.lat, lon: a.lon };
  const d = a.speedMps * s;
  const h = (a.headingDeg * Math.PI) / 180;
  const dn = d * Math.cos(h), de = d * Math.sin(h);
  return { lat: a.lat + (dn / EARTH_R) * (180 / Math.PI), lon: a.lon + (de / (EARTH_R * Math.cos((a.lat * Math.PI) / 180))) * (180 / Math.PI) };
}

/** Validate one aircraft of a server message (anything else is ignored). */
export function asAircraft(x: unknown): AircraftView | null {
  const a = x as Partial<AircraftView> | null;
  if (!a || typeof a.icao !== 'string' || typeof a.callsign !== 'string') return null;
  if (typeof a.lat !== 'number' || typeof a.lon !== 'number' || !Number.isFinite(a.lat) || !Number.isFinite(a.lon)) return null;
  return {
    icao: a.icao.slice(0, 6),
    callsign: a.callsign.slice(0, 8),
    lat: a.lat,
    lon: a.lon,
    altAmslM: typeof a.altAmslM === 'number' && Number.isFinite(a.altAmslM) ? a.altAmslM : null,
    headingDeg: typeof a.headingDeg === 'number' && Number.isFinite(a.headingDeg) ? a.headingDeg : null,
    speedMps: typeof a.speedMps === 'number' && Number.isFinite(a.speedMps) ? a.speedMps : 0,
    emitterType: typeof a.emitterType === 'number' ? a.emitterType : 0,
    seenMs: typeof a.seenMs === 'number' ? a.seenMs : Date.now(),
  };
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** A fixed-wing aircraft and a helicopter (rotor disc and tail), pointing up (north). */
const PLANE_D = 'M16,2 L18,12 L29,17 L29,20 L18,17 L17.5,25 L21,28 L21,30 L16,28.5 L11,30 L11,28 L14.5,25 L14,17 L3,20 L3,17 L14,12 Z';
const HELI_D = 'M16,7 a5,5 0 1,1 -0.01,0 Z M15,17 L17,17 L17,29 L15,29 Z M11,28 L21,28 L21,30 L11,30 Z';

interface Drawn {
  marker: L.Marker;
  glyph: SVGSVGElement;
  label: HTMLElement;
  track: L.Polyline;
  shown: string;
  seenMs: number;
}

export class TrafficLayer {
  private readonly drawn = new Map<string, Drawn>();
  private readonly pane: string;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(private readonly map: L.Map, private readonly project: (lat: number, lon: number) => L.LatLng, private readonly now: () => number = Date.now) {
    this.pane = 'trafficPane';
    if (!map.getPane(this.pane)) {
      const p = map.createPane(this.pane);
      // Above the drones' canvas (595), under their DOM markers (600).
      p.style.zIndex = '597';
    }
    this.timer = setInterval(() => this.forgetOld(), 5000);
    map.on('unload', () => clearInterval(this.timer));
  }

  /** The aircraft drawn now (icao → callsign), for tests and the status line. */
  list(): Array<{ icao: string; callsign: string }> {
    return [...this.drawn.entries()].map(([icao, d]) => ({ icao, callsign: d.label.dataset.callsign ?? '' }));
  }

  /** Draw the aircraft of one traffic message; those not in it are removed. */
  update(raw: unknown[]): void {
    const seen = new Set<string>();
    for (const x of raw) {
      const a = asAircraft(x);
      if (!a) continue;
      seen.add(a.icao);
      this.draw(a);
    }
    for (const icao of [...this.drawn.keys()]) if (!seen.has(icao)) this.remove(icao);
  }

  clear(): void {
    for (const icao of [...this.drawn.keys()]) this.remove(icao);
  }

  private forgetOld(): void {
    const now = this.now();
    for (const [icao, d] of this.drawn) if (now - d.seenMs > FORGET_MS) this.remove(icao);
  }

  private remove(icao: string): void {
    const d = this.drawn.get(icao);
    if (!d) return;
    d.marker.remove();
    d.track.remove();
    this.drawn.delete(icao);
  }

  private draw(a: AircraftView): void {
    const at = this.project(a.lat, a.lon);
    const end = aheadOf(a, TRACK_AHEAD_S);
    const line = [at, this.project(end.lat, end.lon)];
    let d = this.drawn.get(a.icao);
    if (!d) {
      const root = document.createElement('div');
      root.className = 'aircraft';
      root.setAttribute('data-testid', 'aircraft');
      root.setAttribute('data-icao', a.icao);
      const glyph = document.createElementNS(SVG_NS, 'svg');
      glyph.setAttribute('viewBox', '0 0 32 32');
      glyph.setAttribute('class', 'aircraft-glyph');
      const path = document.createElementNS(SVG_NS, 'path');
      path.setAttribute('d', a.emitterType === 7 ? HELI_D : PLANE_D);
      glyph.appendChild(path);
      const label = document.createElement('div');
      label.className = 'aircraft-label';
      label.setAttribute('data-testid', 'aircraft-label');
      root.append(glyph, label);
      const icon = L.divIcon({ html: root, className: 'aircraft-icon', iconSize: [28, 28], iconAnchor: [14, 14] });
      const marker = L.marker(at, { icon, pane: this.pane, keyboard: false, interactive: false });
      const track = L.polyline(line, { pane: this.pane, color: '#be185d', weight: 2, dashArray: '6 4', interactive: false });
      marker.addTo(this.map);
      track.addTo(this.map);
      d = { marker, glyph, label, track, shown: '', seenMs: a.seenMs };
      this.drawn.set(a.icao, d);
    } else {
      d.marker.setLatLng(at);
      d.track.setLatLngs(line);
    }
    d.seenMs = Math.max(a.seenMs, this.now() - 1000);
    d.glyph.style.transform = `rotate(${a.headingDeg ?? 0}deg)`;
    const alt = a.altAmslM === null ? t('traffic.noAlt') : formatAltM(a.altAmslM);
    const text = t('traffic.label', { callsign: a.callsign, alt });
    if (text !== d.shown) {
      d.shown = text;
      d.label.textContent = text;
      d.label.dataset.callsign = a.callsign;
    }
    d.label.parentElement?.setAttribute('title', t('traffic.aircraftTitle', { callsign: a.callsign, icao: a.icao, alt, speed: formatSpeedMps(a.speedMps), track: a.headingDeg === null ? '—' : Math.round(a.headingDeg) }));
  }
}
