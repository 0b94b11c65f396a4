/**
 * Live vehicles on the map: a heading-rotated arrow per vehicle, a label (call sign, mode, battery,
 * relative altitude), and a trail. A crowded map (a provincial view of hundreds) draws most vehicles
 * on one canvas (vehicles-canvas.ts) and keeps DOM markers, labels and trails for those that need
 * attention. Frames are buffered and applied once per animation frame, so a
 * 10 Hz stream for hundreds of vehicles costs one DOM pass per frame, and only for what changed.
 * A vehicle is drawn stale (grey, dashed, "STALE") when the server says so, when its last frame is older
 * than the server's threshold for it plus a second (at most `staleAfterMs`), or when the link itself is not live: stale data is never shown as live.
 */
import L from 'leaflet';
import type { TelemetryFrame } from './types';
import { t } from './i18n';
import { VehiclesCanvas, type CanvasVehicle, type GlyphLook } from './vehicles-canvas';

/** A frame that carries a position (frames have lat/lon null until the vehicle reports one). */
export type PlacedFrame = TelemetryFrame & { lat: number; lon: number };

export function isPlaced(f: TelemetryFrame): f is PlacedFrame {
  return typeof f.lat === 'number' && typeof f.lon === 'number' && Number.isFinite(f.lat) && Number.isFinite(f.lon);
}

/** A vehicle drawn as its own DOM marker (label, keyboard focus, popup). */
interface DomMarker {
  marker: L.Marker;
  arrowEl: HTMLElement | null;
  labelEl: HTMLElement | null;
  rootEl: HTMLElement | null;
  shownHeading: number;
  shownLabel: string;
  shownClass: string;
}

export interface VehicleEntry extends CanvasVehicle {
  frame: PlacedFrame;
  /** performance.now() / Date.now() (the layer's clock) when the frame arrived. */
  receivedAtMs: number;
  /** Drawn only while the vehicle has a DOM marker or the map is not crowded. */
  trail: L.Polyline | null;
  trailPts: L.LatLng[];
  lastTrailAtMs: number;
  shownTrailStyle: string;
  /** Null while the vehicle is drawn on the shared canvas. */
  dom: DomMarker | null;
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
  /**
   * Up to this many vehicles every one is a DOM marker with its label (default 150). Above, the map is
   * a command view of many: vehicles are drawn on one canvas, and only those that need a person's eye
   * (the selected one, those on a job, holding, returning, landing, link lost, low battery, replays)
   * keep a DOM marker with label and trail, at most `attentionMarkers` of them (default 100).
   */
  domMarkersUpTo?: number;
  attentionMarkers?: number;
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
  private readonly canvas: VehiclesCanvas;
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
  /** Every vehicle a DOM marker (few vehicles) or only those that need attention (many). */
  private allDom = true;
  private domCount = 0;
  private canvasDirty = false;
  private idsCache: string[] | null = null;
  private membershipVersion = 0;

  constructor(private readonly map: L.Map, private readonly opts: VehiclesLayerOptions) {
    this.now = opts.now ?? (() => Date.now());
    this.renderer = L.canvas({ padding: 0.2 });
    this.trails = L.layerGroup();
    this.trails.addTo(map);
    this.canvas = new VehiclesCanvas(() => this.canvasVehicles());
    this.canvas.addTo(map);
    this.group.addTo(map);
    this.staleTimer = setInterval(() => this.refreshAll(), 1000);
    this.trailTimer = setInterval(() => this.flushTrails(), opts.trailRedrawMs ?? 500);
  }

  private *canvasVehicles(): Iterable<CanvasVehicle> {
    for (const e of this.entries.values()) if (!e.dom) yield e;
  }

  private flushTrails(): void {
    if (!this.dirtyTrails.size) return;
    for (const e of this.dirtyTrails) e.trail?.setLatLngs(e.trailPts);
    this.dirtyTrails.clear();
  }

  destroy(): void {
    if (this.staleTimer) clearInterval(this.staleTimer);
    if (this.trailTimer) clearInterval(this.trailTimer);
    if (this.raf) cancelAnimationFrame(this.raf);
    this.group.remove();
    this.trails.remove();
    this.canvas.remove();
  }

  /** Called after every applied batch (for panels that list vehicles). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get size(): number {
    return this.entries.size + this.unplaced.size;
  }

  /** Changes whenever a vehicle appears or is forgotten (not when one merely moves). */
  get version(): number {
    return this.membershipVersion;
  }

  /** How many vehicles are DOM markers now (the rest are drawn on the canvas). */
  get domMarkers(): number {
    return this.domCount;
  }

  /** How many vehicles the canvas drew in its last repaint (those on screen without a DOM marker). */
  get canvasDrawn(): number {
    return this.canvas.drawn;
  }

  /** The vehicles' ids, sorted (the same array until one appears or is forgotten: do not modify). */
  ids(): readonly string[] {
    this.idsCache ??= [...new Set([...this.entries.keys(), ...this.unplaced.keys()])].sort();
    return this.idsCache;
  }

  private membershipChanged(): void {
    this.idsCache = null;
    this.membershipVersion++;
  }

  get(id: string): { frame: TelemetryFrame; stale: boolean; ageMs: number } | undefined {
    const e = this.entries.get(id);
    if (!e) {
      const u = this.unplaced.get(id);
      if (!u) return undefined;
      const ageMs = this.now() - u.receivedAtMs + (u.frame.ageMs || 0);
      return { frame: u.frame, stale: !this.linkLive || u.frame.stale === true || this.now() - u.receivedAtMs > this.silenceLimitMs(u.frame), ageMs };
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

  /** The vehicle drawn on the canvas under a container point (DOM markers take their own clicks). */
  hitTest(x: number, y: number): string | null {
    return this.canvas.hitTest(x, y);
  }

  /** Screen boxes of the vehicles drawn on the canvas (zone names must not cover them). */
  canvasBoxes(): DOMRect[] {
    return this.canvas.boxes();
  }

  /** Forgets a vehicle (it no longer exists: a replay ended, a simulator was stopped, the service restarted without it). */
  remove(id: string): void {
    const e = this.entries.get(id);
    if (this.unplaced.delete(id) || e) this.membershipChanged();
    this.pending.delete(id);
    if (!e) return;
    this.entries.delete(id);
    this.dirtyTrails.delete(e);
    this.removeDom(e);
    if (e.trail) this.trails.removeLayer(e.trail);
    this.canvas.schedule();
    for (const fn of this.listeners) fn();
  }

  /** The vehicle's marker (for a popup), if it is drawn as one (a selected vehicle always is). */
  marker(id: string): L.Marker | undefined {
    return this.entries.get(id)?.dom?.marker;
  }

  /** Queue frames; they are drawn on the next animation frame (latest per vehicle wins). */
  push(frames: TelemetryFrame[]): void {
    const at = this.now();
    for (const f of frames) {
      if (!f || typeof f.id !== 'string') continue;
      if (!isPlaced(f)) {
        // No position yet: list the vehicle; a drawn vehicle that stops reporting one simply goes stale.
        if (!this.entries.has(f.id)) {
          if (!this.unplaced.has(f.id)) this.membershipChanged();
          this.unplaced.set(f.id, { frame: f, receivedAtMs: at });
        }
        continue;
      }
      if (this.unplaced.delete(f.id)) this.membershipChanged();
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
      e.trail?.setLatLngs([]);
      e.latlng = this.opts.project(e.frame.lat, e.frame.lon);
      e.dom?.marker.setLatLng(e.latlng);
    }
    this.canvas.schedule();
  }

  private flush(): void {
    this.raf = 0;
    const batch = this.pending;
    this.pending = new Map();
    let coming = this.entries.size;
    for (const id of batch.keys()) if (!this.entries.has(id)) coming++;
    const allDom = coming <= (this.opts.domMarkersUpTo ?? 150);
    const switched = allDom !== this.allDom;
    this.allDom = allDom;
    for (const f of batch.values()) this.apply(f);
    if (switched) this.refreshAll();
    this.map.getContainer().classList.toggle('crowded', this.entries.size > (this.opts.fullLabelsUpTo ?? 60));
    if (this.canvasDirty) {
      this.canvasDirty = false;
      this.canvas.draw();
    }
    for (const fn of this.listeners) fn();
  }

  private isStale(e: VehicleEntry): boolean {
    return !this.linkLive || e.frame.stale === true || this.now() - e.receivedAtMs > this.silenceLimitMs(e.frame);
  }

  /**
   * The console's own judgement, for when the service's stale frame does not come (a stalled server):
   * the service's threshold for this vehicle (adapted to how often it speaks) plus a second for the
   * frame's way here, never beyond `staleAfterMs`.
   */
  private silenceLimitMs(f: TelemetryFrame): number {
    const cap = this.opts.staleAfterMs ?? 3000;
    const own = f.staleAfterMs;
    return typeof own === 'number' && Number.isFinite(own) && own >= 0 ? Math.min(cap, own + 1000) : cap;
  }

  private create(f: PlacedFrame): VehicleEntry {
    const at = (f as PlacedFrame & { _at?: number })._at ?? this.now();
    const e: VehicleEntry = {
      id: f.id, latlng: this.opts.project(f.lat, f.lon), headingDeg: f.headingDeg, look: 'disarmed',
      frame: f, receivedAtMs: at, trail: null, trailPts: [], lastTrailAtMs: 0, shownTrailStyle: '', dom: null,
    };
    this.entries.set(f.id, e);
    this.membershipChanged();
    return e;
  }

  private createDom(e: VehicleEntry): DomMarker {
    const icon = L.divIcon({ className: 'vehicle-icon', html: vehicleMarkerEl(), iconSize: [32, 32], iconAnchor: [16, 16] });
    // Not a zone: the zone editor neither edits nor snaps to it.
    const marker = L.marker(e.latlng, { icon, keyboard: true, title: e.id, riseOnHover: true, pmIgnore: true, snapIgnore: true } as L.MarkerOptions);
    marker.on('click', () => this.opts.onSelect?.(e.id));
    this.group.addLayer(marker);
    const root = marker.getElement()?.querySelector('.vehicle') as HTMLElement | null;
    root?.setAttribute('data-id', e.id);
    e.dom = {
      marker, rootEl: root, arrowEl: root?.querySelector('.arrow') as HTMLElement | null, labelEl: root?.querySelector('.vlabel') as HTMLElement | null,
      shownHeading: NaN, shownLabel: '', shownClass: '',
    };
    this.domCount++;
    this.canvasDirty = true;
    return e.dom;
  }

  private removeDom(e: VehicleEntry): void {
    if (!e.dom) return;
    e.dom.marker.remove();
    this.group.removeLayer(e.dom.marker);
    e.dom = null;
    this.domCount--;
    this.canvasDirty = true;
  }

  private apply(f: PlacedFrame): void {
    let e = this.entries.get(f.id);
    if (!e) e = this.create(f);
    const moved = e.frame.lat !== f.lat || e.frame.lon !== f.lon;
    e.frame = f;
    e.headingDeg = f.headingDeg;
    if (moved || !e.trailPts.length) {
      e.latlng = this.opts.project(f.lat, f.lon);
      e.dom?.marker.setLatLng(e.latlng);
    }
    const pos = e.latlng;
    const now = this.now();
    const last = e.trailPts[e.trailPts.length - 1];
    if (!last || (last.distanceTo(pos) >= (this.opts.trailMinStepM ?? 4) && now - e.lastTrailAtMs > 250)) {
      e.trailPts.push(pos);
      if (e.trailPts.length > (this.opts.trailPoints ?? 150)) e.trailPts.shift();
      e.lastTrailAtMs = now;
      if (e.trail) this.dirtyTrails.add(e);
    }
    this.render(e);
  }

  private refreshAll(): void {
    for (const e of this.entries.values()) this.render(e);
    if (this.canvasDirty) {
      this.canvasDirty = false;
      this.canvas.schedule();
    }
    for (const fn of this.listeners) fn();
  }

  /** Whether a vehicle keeps its own marker on a crowded map. */
  private needsAttention(e: VehicleEntry, st: { key: string; word: string | null; job: string | null } | null, stale: boolean): boolean {
    const f = e.frame;
    return !!st?.job || !!st?.word || !!f.replay || (f.batteryPct != null && f.batteryPct >= 0 && f.batteryPct < 25) || (stale && f.armed);
  }

  private render(e: VehicleEntry): void {
    const f = e.frame;
    const stale = this.isStale(e);
    const st = this.opts.statusOf?.(f.id, f, stale) ?? null;
    const low = f.batteryPct != null && f.batteryPct >= 0 && f.batteryPct < 25;
    const look: GlyphLook = stale ? 'stale' : f.replay ? 'replay' : low ? 'low-battery' : f.armed ? 'armed' : 'disarmed';
    const wantDom = this.allDom || this.selected === f.id || (this.needsAttention(e, st, stale) && (!!e.dom || this.domCount < (this.opts.attentionMarkers ?? 100)));
    if (wantDom && !e.dom) this.createDom(e);
    else if (!wantDom && e.dom) this.removeDom(e);
    this.renderTrail(e, stale);
    if (!e.dom) {
      e.look = look;
      this.canvasDirty = true;
      return;
    }
    const dom = e.dom;
    const heading = Math.round(((f.headingDeg % 360) + 360) % 360);
    if (heading !== dom.shownHeading && dom.arrowEl) {
      dom.arrowEl.style.transform = `rotate(${heading}deg)`;
      dom.shownHeading = heading;
    }
    const parts = [f.id];
    if (st?.job) parts.push(st.job);
    if (st?.word) parts.push(st.word);
    // On the ground the mode says nothing (ArduPilot stays in RTL or LAND after landing).
    else if (f.armed || !st) parts.push(f.mode);
    parts.push(f.batteryPct == null ? '—%' : `${Math.round(f.batteryPct)}%`, f.altRelM == null ? '— m' : `${Math.round(f.altRelM)} m`);
    if (f.replay) parts.push(t('vehicle.replay'));
    if (stale && !st?.word) parts.push(t('vehicle.stale'));
    const label = parts.join(' · ');
    if (label !== dom.shownLabel && dom.labelEl) {
      dom.labelEl.textContent = label;
      dom.shownLabel = label;
    }
    const cls = ['vehicle', f.armed ? 'armed' : 'disarmed', stale ? 'stale' : 'fresh', this.selected === f.id ? 'selected' : '', low ? 'low-battery' : '', f.replay ? 'replay' : '', st ? `status-${st.key}` : '', st?.job ? 'on-job' : '']
      .filter(Boolean)
      .join(' ');
    if (cls !== dom.shownClass && dom.rootEl) {
      dom.rootEl.className = cls;
      dom.rootEl.setAttribute('data-stale', stale ? 'true' : 'false');
      dom.rootEl.setAttribute('data-status', st?.key ?? '');
      dom.rootEl.setAttribute('data-selected', this.selected === f.id ? 'true' : 'false');
      // The selected drone is drawn above the others.
      dom.marker.setZIndexOffset(this.selected === f.id ? 1000 : st?.job ? 500 : 0);
      dom.shownClass = cls;
    }
  }

  /** Trails for every vehicle on an uncrowded map, else only for those with their own marker. */
  private renderTrail(e: VehicleEntry, stale: boolean): void {
    const show = this.allDom || !!e.dom;
    if (!show) {
      if (e.trail) {
        this.trails.removeLayer(e.trail);
        this.dirtyTrails.delete(e);
        e.trail = null;
        e.shownTrailStyle = '';
      }
      return;
    }
    if (!e.trail) {
      e.trail = L.polyline(e.trailPts, { renderer: this.renderer, weight: 2, opacity: 0.7, color: '#1d4ed8', interactive: false, pmIgnore: true, snapIgnore: true } as L.PolylineOptions);
      this.trails.addLayer(e.trail);
    }
    const style = stale ? 'stale' : this.selected === e.id ? 'selected' : 'fresh';
    if (style !== e.shownTrailStyle) {
      e.trail.setStyle({ color: stale ? '#6b7280' : style === 'selected' ? '#b45309' : '#1d4ed8', dashArray: stale ? '4 6' : undefined });
      e.shownTrailStyle = style;
    }
  }
}
