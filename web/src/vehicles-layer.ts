/**
 * Live vehicles on the map: a heading-rotated arrow per vehicle, a label (call sign, mode, battery,
 * relative altitude), and a trail. Frames are buffered and applied once per animation frame, so a
 * 10 Hz stream for hundreds of vehicles costs one DOM pass per frame, and only for what changed.
 * A vehicle is drawn stale (grey, dashed, "STALE") when the server says so, when its last frame is older
 * than `staleAfterMs`, or when the link itself is not live: stale data is never shown as live.
 */
import L from 'leaflet';
import type { TelemetryFrame } from './types';
import { t } from './i18n';

/** A frame that carries a position (frames have lat/lon null until the vehicle reports one). */
export type PlacedFrame = TelemetryFrame & { lat: number; lon: number };

export function isPlaced(f: TelemetryFrame): f is PlacedFrame {
  return typeof f.lat === 'number' && typeof f.lon === 'number' && Number.isFinite(f.lat) && Number.isFinite(f.lon);
}

export interface VehicleEntry {
  frame: PlacedFrame;
  /** performance.now() / Date.now() (the layer's clock) when the frame arrived. */
  receivedAtMs: number;
  marker: L.Marker;
  trail: L.Polyline;
  trailPts: L.LatLng[];
  lastTrailAtMs: number;
  arrowEl: HTMLElement | null;
  labelEl: HTMLElement | null;
  rootEl: HTMLElement | null;
  shownHeading: number;
  shownLabel: string;
  shownClass: string;
}

export interface VehiclesLayerOptions {
  /** Age after which a vehicle without new frames is shown stale (default 3000 ms). */
  staleAfterMs?: number;
  /** Trail length in points (default 150). */
  trailPoints?: number;
  /** Minimum spacing of trail points (default 4 m). */
  trailMinStepM?: number;
  /**
   * Trails are redrawn together at most this often (default 500 ms): each redraw repaints the trail
   * canvas, so batching keeps hundreds of trails cheap while markers still move at the full rate.
   */
  trailRedrawMs?: number;
  /**
   * Above this many vehicles the map is "crowded": labels are shown only for the selected vehicle and
   * for those that need attention (stale, low battery); the rest keep their icon and tooltip (default 60).
   */
  fullLabelsUpTo?: number;
  /** Convert a WGS-84 position to the map's display datum. */
  project: (lat: number, lon: number) => L.LatLng;
  onSelect?: (id: string) => void;
  /**
   * What the vehicle is doing, for its label and class (status-<key>): e.g. {key: 'holding', word:
   * 'HOLDING', job: 'D00002'}. Default: none.
   */
  statusOf?: (id: string, frame: PlacedFrame, stale: boolean) => { key: string; word: string | null; job: string | null } | null;
  now?: () => number;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * The marker's content, built as DOM (Leaflet would write an `html` string into the page as HTML):
 * <div class="vehicle"><div class="arrow"><svg>…</svg></div><div class="vlabel"></div></div>.
 */
function vehicleMarkerEl(): HTMLElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '-16 -16 32 32');
  svg.setAttribute('width', '32');
  svg.setAttribute('height', '32');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', 'M0,-14 L10,12 L0,6 L-10,12 Z');
  svg.appendChild(path);
  const arrow = document.createElement('div');
  arrow.className = 'arrow';
  arrow.appendChild(svg);
  const label = document.createElement('div');
  label.className = 'vlabel';
  const root = document.createElement('div');
  root.className = 'vehicle';
  root.setAttribute('data-testid', 'vehicle-marker');
  root.append(arrow, label);
  return root;
}

export class VehiclesLayer {
  readonly group = L.layerGroup();
  private readonly trails: L.LayerGroup;
  private readonly entries = new Map<string, VehicleEntry>();
  private pending = new Map<string, PlacedFrame>();
  /** Vehicles heard from that have not reported a position yet: listed, not drawn. */
  private unplaced = new Map<string, { frame: TelemetryFrame; receivedAtMs: number }>();
  private raf = 0;
  private linkLive = false;
  private selected: string | null = null;
  private readonly renderer: L.Canvas;
  private readonly now: () => number;
  private staleTimer: ReturnType<typeof setInterval> | null = null;
  private listeners = new Set<() => void>();
  private dirtyTrails = new Set<VehicleEntry>();
  private trailTimer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly map: L.Map, private readonly opts: VehiclesLayerOptions) {
    this.now = opts.now ?? (() => Date.now());
    this.renderer = L.canvas({ padding: 0.2 });
    this.trails = L.layerGroup();
    this.trails.addTo(map);
    this.group.addTo(map);
    this.staleTimer = setInterval(() => this.refreshAll(), 1000);
    this.trailTimer = setInterval(() => this.flushTrails(), opts.trailRedrawMs ?? 500);
  }

  private flushTrails(): void {
    if (!this.dirtyTrails.size) return;
    for (const e of this.dirtyTrails) e.trail.setLatLngs(e.trailPts);
    this.dirtyTrails.clear();
  }

  destroy(): void {
    if (this.staleTimer) clearInterval(this.staleTimer);
    if (this.trailTimer) clearInterval(this.trailTimer);
    if (this.raf) cancelAnimationFrame(this.raf);
    this.group.remove();
    this.trails.remove();
  }

  /** Called after every applied batch (for panels that list vehicles). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get size(): number {
    return this.entries.size + this.unplaced.size;
  }

  ids(): string[] {
    return [...new Set([...this.entries.keys(), ...this.unplaced.keys()])].sort();
  }

  get(id: string): { frame: TelemetryFrame; stale: boolean; ageMs: number } | undefined {
    const e = this.entries.get(id);
    if (!e) {
      const u = this.unplaced.get(id);
      if (!u) return undefined;
      const ageMs = this.now() - u.receivedAtMs + (u.frame.ageMs || 0);
      return { frame: u.frame, stale: !this.linkLive || u.frame.stale === true || this.now() - u.receivedAtMs > (this.opts.staleAfterMs ?? 3000), ageMs };
    }
    return { frame: e.frame, stale: this.isStale(e), ageMs: this.now() - e.receivedAtMs + (e.frame.ageMs || 0) };
  }

  setLinkLive(live: boolean): void {
    if (live === this.linkLive) return;
    this.linkLive = live;
    this.refreshAll();
  }

  select(id: string | null): void {
    if (id === this.selected) return;
    this.selected = id;
    this.refreshAll();
  }

  get selectedId(): string | null {
    return this.selected;
  }

  /** Forgets a vehicle (it no longer exists: a replay ended, a simulator was stopped, the service restarted without it). */
  remove(id: string): void {
    const e = this.entries.get(id);
    this.unplaced.delete(id);
    this.pending.delete(id);
    if (!e) return;
    this.entries.delete(id);
    this.dirtyTrails.delete(e);
    e.marker.remove();
    this.group.removeLayer(e.marker);
    this.trails.removeLayer(e.trail);
    for (const fn of this.listeners) fn();
  }

  /** The vehicle's marker (for a popup), if it is drawn. */
  marker(id: string): L.Marker | undefined {
    return this.entries.get(id)?.marker;
  }

  /** Queue frames; they are drawn on the next animation frame (latest per vehicle wins). */
  push(frames: TelemetryFrame[]): void {
    const at = this.now();
    for (const f of frames) {
      if (!f || typeof f.id !== 'string') continue;
      if (!isPlaced(f)) {
        // No position yet: list the vehicle; a drawn vehicle that stops reporting one simply goes stale.
        if (!this.entries.has(f.id)) this.unplaced.set(f.id, { frame: f, receivedAtMs: at });
        continue;
      }
      this.unplaced.delete(f.id);
      this.pending.set(f.id, f);
      const e = this.entries.get(f.id);
      if (e) e.receivedAtMs = at;
      else (f as PlacedFrame & { _at?: number })._at = at;
    }
    if (!this.raf) this.raf = requestAnimationFrame(() => this.flush());
  }

  /** Redraw every vehicle in the current datum (after a base-layer change). */
  reproject(): void {
    for (const e of this.entries.values()) {
      e.trailPts = [];
      e.trail.setLatLngs([]);
      e.marker.setLatLng(this.opts.project(e.frame.lat, e.frame.lon));
    }
  }

  private flush(): void {
    this.raf = 0;
    const batch = this.pending;
    this.pending = new Map();
    for (const f of batch.values()) this.apply(f);
    this.map.getContainer().classList.toggle('crowded', this.entries.size > (this.opts.fullLabelsUpTo ?? 60));
    for (const fn of this.listeners) fn();
  }

  private isStale(e: VehicleEntry): boolean {
    return !this.linkLive || e.frame.stale === true || this.now() - e.receivedAtMs > (this.opts.staleAfterMs ?? 3000);
  }

  private create(f: PlacedFrame): VehicleEntry {
    const pos = this.opts.project(f.lat, f.lon);
    const icon = L.divIcon({
      className: 'vehicle-icon',
      html: vehicleMarkerEl(),
      iconSize: [32, 32],
      iconAnchor: [16, 16],
    });
    // Not a zone: the zone editor neither edits nor snaps to it.
    const marker = L.marker(pos, { icon, keyboard: true, title: f.id, riseOnHover: true, pmIgnore: true, snapIgnore: true } as L.MarkerOptions);
    marker.on('click', () => this.opts.onSelect?.(f.id));
    const trail = L.polyline([], { renderer: this.renderer, weight: 2, opacity: 0.7, color: '#1d4ed8', interactive: false, pmIgnore: true, snapIgnore: true } as L.PolylineOptions);
    this.trails.addLayer(trail);
    this.group.addLayer(marker);
    const root = marker.getElement()?.querySelector('.vehicle') as HTMLElement | null;
    root?.setAttribute('data-id', f.id);
    const at = (f as PlacedFrame & { _at?: number })._at ?? this.now();
    const e: VehicleEntry = {
      frame: f, receivedAtMs: at, marker, trail, trailPts: [], lastTrailAtMs: 0,
      arrowEl: root?.querySelector('.arrow') as HTMLElement | null,
      labelEl: root?.querySelector('.vlabel') as HTMLElement | null,
      rootEl: root, shownHeading: NaN, shownLabel: '', shownClass: '',
    };
    this.entries.set(f.id, e);
    return e;
  }

  private apply(f: PlacedFrame): void {
    let e = this.entries.get(f.id);
    if (!e) e = this.create(f);
    const moved = e.frame.lat !== f.lat || e.frame.lon !== f.lon;
    e.frame = f;
    const pos = this.opts.project(f.lat, f.lon);
    if (moved || !e.trailPts.length) e.marker.setLatLng(pos);
    const now = this.now();
    const last = e.trailPts[e.trailPts.length - 1];
    if (!last || (last.distanceTo(pos) >= (this.opts.trailMinStepM ?? 4) && now - e.lastTrailAtMs > 250)) {
      e.trailPts.push(pos);
      if (e.trailPts.length > (this.opts.trailPoints ?? 150)) e.trailPts.shift();
      e.lastTrailAtMs = now;
      this.dirtyTrails.add(e);
    }
    this.render(e);
  }

  private refreshAll(): void {
    for (const e of this.entries.values()) this.render(e);
    for (const fn of this.listeners) fn();
  }

  private render(e: VehicleEntry): void {
    const f = e.frame;
    const stale = this.isStale(e);
    const heading = Math.round(((f.headingDeg % 360) + 360) % 360);
    if (heading !== e.shownHeading && e.arrowEl) {
      e.arrowEl.style.transform = `rotate(${heading}deg)`;
      e.shownHeading = heading;
    }
    const st = this.opts.statusOf?.(f.id, f, stale) ?? null;
    const parts = [f.id];
    if (st?.job) parts.push(st.job);
    if (st?.word) parts.push(st.word);
    // On the ground the mode says nothing (ArduPilot stays in RTL or LAND after landing).
    else if (f.armed || !st) parts.push(f.mode);
    parts.push(f.batteryPct == null ? '—%' : `${Math.round(f.batteryPct)}%`, f.altRelM == null ? '— m' : `${Math.round(f.altRelM)} m`);
    if (f.replay) parts.push(t('vehicle.replay'));
    if (stale && !st?.word) parts.push(t('vehicle.stale'));
    const label = parts.join(' · ');
    if (label !== e.shownLabel && e.labelEl) {
      e.labelEl.textContent = label;
      e.shownLabel = label;
    }
    const cls = ['vehicle', f.armed ? 'armed' : 'disarmed', stale ? 'stale' : 'fresh', this.selected === f.id ? 'selected' : '', f.batteryPct != null && f.batteryPct >= 0 && f.batteryPct < 25 ? 'low-battery' : '', f.replay ? 'replay' : '', st ? `status-${st.key}` : '', st?.job ? 'on-job' : '']
      .filter(Boolean)
      .join(' ');
    if (cls !== e.shownClass && e.rootEl) {
      e.rootEl.className = cls;
      e.rootEl.setAttribute('data-stale', stale ? 'true' : 'false');
      e.rootEl.setAttribute('data-status', st?.key ?? '');
      e.rootEl.setAttribute('data-selected', this.selected === f.id ? 'true' : 'false');
      // The selected drone is drawn above the others.
      e.marker.setZIndexOffset(this.selected === f.id ? 1000 : st?.job ? 500 : 0);
      e.shownClass = cls;
      e.trail.setStyle({ color: stale ? '#6b7280' : this.selected === f.id ? '#b45309' : '#1d4ed8', dashArray: stale ? '4 6' : undefined });
    }
  }
}
