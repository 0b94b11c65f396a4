/**
 * The map: base layer, zones of the day styled by kind, planned route and fence, drop points, and the
 * live vehicles layer. All data is WGS-84; when the base layer is drawn in GCJ-02 every overlay is
 * shifted for display (`project`) and clicks are shifted back (`unproject`).
 */
import L from 'leaflet';
import type { Feature, FeatureCollection, Geometry, LineString } from 'geojson';
import { wgs84ToGcj02, gcj02ToWgs84 } from './gcj02';
import { addBasemap, type BasemapConfig, type BasemapHealth, type Datum } from './basemap';
import { fenceShapes, mapPositions, rallyPoints } from './geo';
import { VehiclesLayer, type VehiclesLayerOptions } from './vehicles-layer';
import { TrafficLayer } from './traffic-layer';
import type { Delivery, PlanOk } from './types';
import { t } from './i18n';
import { textSpan } from './dom';

export type ZoneKind = 'operating-area' | 'sealed-zone' | 'no-fly' | 'launch-site' | 'rally-point';
export const ZONE_KINDS: ZoneKind[] = ['operating-area', 'sealed-zone', 'no-fly', 'launch-site', 'rally-point'];

/** Styles chosen to tell kinds apart at a glance in daylight, also in greyscale (dash patterns differ). */
export function zoneStyle(kind: string | undefined): L.PathOptions {
  switch (kind) {
    case 'operating-area':
      return { color: '#1e3a8a', weight: 3, dashArray: '10 6', fill: false };
    case 'sealed-zone':
      return { color: '#c2410c', weight: 2, fillColor: '#fb923c', fillOpacity: 0.22 };
    case 'no-fly':
      return { color: '#b91c1c', weight: 2, fillColor: '#dc2626', fillOpacity: 0.35, dashArray: '2 4' };
    case 'launch-site':
      return { color: '#065f46', weight: 2, fillColor: '#10b981', fillOpacity: 0.9 };
    case 'rally-point':
      return { color: '#6b21a8', weight: 2, fillColor: '#c084fc', fillOpacity: 0.9 };
    default:
      return { color: '#374151', weight: 2, fillOpacity: 0.1 };
  }
}

export interface MapViewOptions {
  center?: [number, number];
  zoom?: number;
  onClick?: (lat: number, lon: number) => void;
  onSelectVehicle?: (id: string) => void;
  onSelectDelivery?: (id: string) => void;
  /** What a vehicle is doing, for its label (see VehiclesLayerOptions.statusOf). */
  vehicleStatus?: VehiclesLayerOptions['statusOf'];
}

export class MapView {
  readonly map: L.Map;
  readonly vehicles: VehiclesLayer;
  /** Manned aircraft heard over ADS-B. */
  readonly traffic: TrafficLayer;
  datum: Datum = 'wgs84';
  private removeBase: () => void = () => undefined;
  private readonly zonesLayer = L.featureGroup();
  private readonly planLayer = L.featureGroup();
  private readonly dropsLayer = L.featureGroup();
  private readonly draftLayer = L.featureGroup();
  /** Drop points operators placed on the map for requests not yet made into jobs. */
  private readonly requestDropsLayer = L.featureGroup();
  private requestDrops: Array<{ id: string; drop: [number, number]; pos: string }> = [];
  private zones: FeatureCollection | null = null;
  private plan: PlanOk | null = null;
  private deliveries: Delivery[] = [];
  private selectedDelivery: string | null = null;
  private draft: [number, number] | null = null;
  private fitted = false;
  /** When false, zones are drawn by the zone editor instead. */
  showZones = true;
  private zoomControl: L.Control.Zoom;

  /** Words on the map's own controls, in the console's language. */
  relabel(): void {
    this.zoomControl.remove();
    this.zoomControl = L.control.zoom({ zoomInTitle: t('map.zoomIn'), zoomOutTitle: t('map.zoomOut') }).addTo(this.map);
    this.renderZones();
    this.renderRequestDrops();
  }

  constructor(el: HTMLElement, private readonly opts: MapViewOptions = {}) {
    this.map = L.map(el, { center: opts.center ?? [34.06, 114.39], zoom: opts.zoom ?? 14, zoomControl: false, keyboard: true, preferCanvas: false, worldCopyJump: false });
    this.zoomControl = L.control.zoom({ zoomInTitle: t('map.zoomIn'), zoomOutTitle: t('map.zoomOut') }).addTo(this.map);
    L.control.scale({ metric: true, imperial: false, position: 'bottomleft' }).addTo(this.map);
    // Drawing order, bottom to top: zones, their names, the route (overlay pane), drop pins, drones
    // (marker pane, 600) with their labels, popups. Names never cover a drop pin or a drone.
    // Zones sit inside the overlay pane, under its own layer (the route): DOM order within it.
    this.map.createPane('zonesPane', this.map.getPane('overlayPane'));
    for (const [name, z] of [['zoneLabelPane', 450], ['dropsPane', 590]] as const) {
      const pane = this.map.createPane(name);
      pane.style.zIndex = String(z);
      if (name === 'zoneLabelPane') pane.style.pointerEvents = 'none';
    }
    this.map.on('zoomend moveend', () => this.scheduleDeclutter());
    // Drones move: names they fly over are checked again every 2 s.
    const declutterEvery = setInterval(() => this.scheduleDeclutter(), 2000);
    this.map.on('unload', () => clearInterval(declutterEvery));
    this.zonesLayer.addTo(this.map);
    this.planLayer.addTo(this.map);
    this.dropsLayer.addTo(this.map);
    this.draftLayer.addTo(this.map);
    this.requestDropsLayer.addTo(this.map);
    this.vehicles = new VehiclesLayer(this.map, { project: (lat, lon) => this.project(lat, lon), onSelect: (id) => opts.onSelectVehicle?.(id), statusOf: opts.vehicleStatus });
    this.traffic = new TrafficLayer(this.map, (lat, lon) => this.project(lat, lon));
    this.map.on('click', (ev: L.LeafletMouseEvent) => {
      // A click on a drone drawn on the shared canvas selects it (DOM markers take their own clicks).
      const hit = this.vehicles.hitTest(ev.containerPoint.x, ev.containerPoint.y);
      if (hit) {
        opts.onSelectVehicle?.(hit);
        return;
      }
      const p = this.unproject(ev.latlng);
      opts.onClick?.(p.lat, p.lon);
    });
  }

  /** WGS-84 → display. */
  project(lat: number, lon: number): L.LatLng {
    if (this.datum === 'gcj02') {
      const g = wgs84ToGcj02(lat, lon);
      return L.latLng(g.lat, g.lon);
    }
    return L.latLng(lat, lon);
  }

  /** Display → WGS-84. */
  unproject(ll: L.LatLng): { lat: number; lon: number } {
    const lon = ((((ll.lng + 180) % 360) + 360) % 360) - 180;
    if (this.datum === 'gcj02') return gcj02ToWgs84(ll.lat, lon);
    return { lat: ll.lat, lon };
  }

  /** GeoJSON in WGS-84 → display datum (a copy). */
  toDisplay<T extends Geometry | Feature | FeatureCollection>(g: T): T {
    if (this.datum !== 'gcj02') return g;
    return mapPositions(g, (p) => {
      const r = wgs84ToGcj02(p[1], p[0]);
      return [r.lon, r.lat, ...p.slice(2)];
    });
  }

  /** GeoJSON in display datum → WGS-84 (a copy). */
  fromDisplay<T extends Geometry | Feature | FeatureCollection>(g: T): T {
    if (this.datum !== 'gcj02') return g;
    return mapPositions(g, (p) => {
      const r = gcj02ToWgs84(p[1], p[0]);
      return [r.lon, r.lat, ...p.slice(2)];
    });
  }

  setBasemap(cfg: BasemapConfig & { datum: Datum }, onHealth: (h: BasemapHealth) => void): void {
    this.removeBase();
    const datumChanged = this.datum !== cfg.datum;
    this.datum = cfg.datum;
    this.removeBase = addBasemap(this.map, cfg, (hl) => {
      onHealth(hl);
      // Tiles are gone: overlays are drawn in WGS-84 on the plain background.
      if (hl === 'fallback' && this.datum !== 'wgs84') {
        this.datum = 'wgs84';
        this.redrawAll();
      }
    });
    if (datumChanged) this.redrawAll();
  }

  redrawAll(): void {
    this.renderZones();
    this.renderPlan();
    this.renderDrops();
    this.renderDraft();
    this.vehicles.reproject();
  }

  setZones(fc: FeatureCollection | null): void {
    this.zones = fc;
    this.renderZones();
    if (!this.fitted && fc && fc.features.length) {
      const b = this.zonesLayer.getBounds();
      if (b.isValid()) {
        this.map.fitBounds(b, { padding: [20, 20] });
        this.fitted = true;
      }
    }
  }

  /** Leaflet layers for a zones FeatureCollection, styled by kind, in display coordinates; each layer knows its feature's index (`zoneIndex`). */
  zoneLayers(fc: FeatureCollection): L.GeoJSON {
    const shown = this.toDisplay(fc);
    const index = new Map<Feature, number>();
    shown.features.forEach((f, i) => index.set(f, i));
    return L.geoJSON(shown, {
      style: (f) => ({ ...zoneStyle(f?.properties?.kind), className: `zone zone-${String(f?.properties?.kind ?? 'other')}`, pane: 'zonesPane' }),
      // Points are never snapped to by the zone editor (a polygon's corner does not jump onto a rally point).
      pointToLayer: (f, ll) => L.circleMarker(ll, { ...zoneStyle(f.properties?.kind), radius: f.properties?.kind === 'launch-site' ? 9 : 7, pane: 'zonesPane', className: `zone zone-${String(f.properties?.kind ?? 'other')}`, snapIgnore: true } as L.CircleMarkerOptions),
      onEachFeature: (f, layer) => {
        (layer as L.Layer & { zoneIndex?: number }).zoneIndex = index.get(f);
        const kind = String(f.properties?.kind ?? '');
        const name = f.properties?.name ? String(f.properties.name) : '';
        const label = `${name ? name + ' — ' : ''}${t(`zone.kind.${kind}`)}`;
        // Names come from supervisors and imported files: tooltips get them as text (an element), never as HTML.
        if (kind === 'launch-site' || kind === 'rally-point' || kind === 'sealed-zone') {
          // Permanent names, under drop pins and drones, placed to avoid each other (declutter()).
          layer.bindTooltip(textSpan(name || t(`zone.kind.${kind}`)), { permanent: true, direction: kind === 'sealed-zone' ? 'top' : 'auto', offset: kind === 'sealed-zone' ? [0, -14] : [0, 0], className: `zone-label ${kind}`, interactive: false, pane: 'zoneLabelPane' });
        } else layer.bindTooltip(textSpan(label), { sticky: true });
      },
    });
  }

  private renderZones(): void {
    this.zonesLayer.clearLayers();
    this.zoneByIndex.clear();
    if (!this.zones || !this.showZones) return;
    // Path clicks bubble to the map (Leaflet's default), so a drop point can be picked inside a sealed zone.
    this.zoneLayers(this.zones).eachLayer((l) => {
      this.zonesLayer.addLayer(l);
      const i = (l as L.Layer & { zoneIndex?: number }).zoneIndex;
      if (i !== undefined) this.zoneByIndex.set(i, l);
    });
    this.applyOffending();
    this.scheduleDeclutter();
  }

  private readonly zoneByIndex = new Map<number, L.Layer>();
  private offending: number | null = null;
  private refusal: L.Popup | null = null;

  /** Highlights the zone that refused a drop (its index in the zones), or none. */
  setOffendingZone(featureIndex: number | null): void {
    this.offending = featureIndex;
    this.applyOffending();
  }

  private applyOffending(): void {
    for (const [i, l] of this.zoneByIndex) {
      const el = (l as L.Path).getElement?.() as SVGElement | undefined;
      if (!el) continue;
      el.classList.toggle('zone-offending', i === this.offending);
      if (i === this.offending) (l as L.Path).bringToFront?.();
    }
  }

  /** A refusal shown where the operator clicked. */
  showRefusal(lat: number, lon: number, content: HTMLElement): void {
    this.closeRefusal();
    this.refusal = L.popup({ closeButton: true, autoClose: false, closeOnClick: true, className: 'refusal-popup', maxWidth: 320 }).setLatLng(this.project(lat, lon)).setContent(content);
    this.refusal.openOn(this.map);
  }

  closeRefusal(): void {
    if (this.refusal) this.map.closePopup(this.refusal);
    this.refusal = null;
  }

  setPlan(plan: PlanOk | null): void {
    this.plan = plan;
    this.renderPlan();
  }

  private renderPlan(): void {
    this.planLayer.clearLayers();
    const plan = this.plan;
    if (!plan) return;
    const routeGeom = (plan.route && 'geometry' in plan.route ? plan.route.geometry : plan.route) as LineString | undefined;
    // The zone editor neither edits nor snaps to what is not a zone.
    const noEdit = { pmIgnore: true, snapIgnore: true } as L.PathOptions;
    for (const s of fenceShapes(plan.fence)) {
      const style: L.PathOptions = { ...noEdit, ...(s.kind === 'inclusion' ? { color: '#0f766e', weight: 2, dashArray: '6 4', fill: false, interactive: false } : { color: '#7f1d1d', weight: 2, dashArray: '6 4', fill: false, interactive: false }) };
      if (s.type === 'polygon') this.planLayer.addLayer(L.polygon(s.latLons.map(([la, lo]) => this.project(la, lo)), style));
      else this.planLayer.addLayer(L.circle(this.project(s.center[0], s.center[1]), { ...style, radius: s.radiusM }));
    }
    for (const [la, lo] of rallyPoints(plan.rally)) {
      this.planLayer.addLayer(L.circleMarker(this.project(la, lo), { ...noEdit, ...zoneStyle('rally-point'), radius: 5, interactive: false }));
    }
    if (routeGeom?.type === 'LineString') {
      const pts = routeGeom.coordinates.map((c) => this.project(c[1], c[0]));
      this.planLayer.addLayer(L.polyline(pts, { ...noEdit, color: '#ffffff', weight: 7, opacity: 0.9, interactive: false }));
      this.planLayer.addLayer(L.polyline(pts, { ...noEdit, color: '#7c3aed', weight: 4, opacity: 1, interactive: false, className: 'planned-route' }));
    }
  }

  setDeliveries(list: Delivery[], selectedId: string | null): void {
    this.deliveries = list;
    this.selectedDelivery = selectedId;
    this.renderDrops();
  }

  private renderDrops(): void {
    this.dropsLayer.clearLayers();
    this.scheduleDeclutter();
    for (const d of this.deliveries) {
      if (!Array.isArray(d.drop)) continue;
      const sel = d.id === this.selectedDelivery;
      const m = L.circleMarker(this.project(d.drop[1], d.drop[0]), {
        pmIgnore: true, snapIgnore: true, radius: sel ? 10 : 7, bubblingMouseEvents: false, pane: 'dropsPane', className: 'drop-pin', color: '#111827', weight: sel ? 3 : 2, fillColor: d.priority === 'urgent' ? '#dc2626' : d.priority === 'high' ? '#f59e0b' : '#2563eb', fillOpacity: 0.95,
      } as L.CircleMarkerOptions);
      m.bindTooltip(textSpan(`${d.id} · ${t(`state.${d.state}`)}`), { direction: 'top' });
      m.on('click', () => this.opts.onSelectDelivery?.(d.id));
      this.dropsLayer.addLayer(m);
    }
  }

  /**
   * Requests waiting for triage whose drop point was placed on the map ([lon, lat]): drawn as
   * hollow teal squares under the job pins, each named by its request in a tooltip.
   */
  setRequestDrops(list: Array<{ id: string; drop: [number, number]; pos: string }>): void {
    this.requestDrops = list;
    this.renderRequestDrops();
  }

  private renderRequestDrops(): void {
    this.requestDropsLayer.clearLayers();
    for (const r of this.requestDrops) {
      const ll = this.project(r.drop[1], r.drop[0]);
      const icon = L.divIcon({ className: 'request-drop', iconSize: [14, 14], iconAnchor: [7, 7] });
      const m = L.marker(ll, { icon, pane: 'dropsPane', pmIgnore: true, snapIgnore: true, keyboard: false, interactive: true, bubblingMouseEvents: false } as L.MarkerOptions);
      m.on('add', () => {
        const el = m.getElement();
        if (el) { el.setAttribute('data-testid', 'request-drop'); el.setAttribute('data-request', r.id); }
      });
      m.bindTooltip(textSpan(t('requests.onMapPin', { id: r.id, pos: r.pos })), { direction: 'top' });
      this.requestDropsLayer.addLayer(m);
    }
  }

  /** The drop point being chosen for a new job ([lon, lat]) or null. */
  setDraft(drop: [number, number] | null): void {
    this.draft = drop;
    this.renderDraft();
  }

  private renderDraft(): void {
    this.draftLayer.clearLayers();
    if (!this.draft) return;
    const ll = this.project(this.draft[1], this.draft[0]);
    const noEdit = { pmIgnore: true, snapIgnore: true } as L.PathOptions;
    this.draftLayer.addLayer(L.circleMarker(ll, { ...noEdit, radius: 11, color: '#111827', weight: 3, fillColor: '#facc15', fillOpacity: 1, interactive: false, className: 'draft-drop', pane: 'dropsPane' }));
    this.draftLayer.addLayer(L.circleMarker(ll, { ...noEdit, radius: 3, color: '#111827', weight: 1, fillColor: '#111827', fillOpacity: 1, interactive: false, pane: 'dropsPane' }));
    this.scheduleDeclutter();
  }

  private declutterTimer: ReturnType<typeof setTimeout> | null = null;
  scheduleDeclutter(): void {
    if (this.declutterTimer) return;
    this.declutterTimer = setTimeout(() => {
      this.declutterTimer = null;
      this.declutter();
    }, 50);
  }

  /**
   * Zone names that would cover a drop pin, a drone or a more important name are hidden (launch
   * sites first, then sealed zones, then rally points); some kinds are hidden when zoomed out.
   */
  declutter(): void {
    const container = this.map.getContainer();
    const zoom = this.map.getZoom();
    container.classList.toggle('zoom-far', zoom < 13);
    container.classList.toggle('zoom-very-far', zoom < 12);
    const labels = [...container.querySelectorAll<HTMLElement>('.zone-label')];
    if (!labels.length) return;
    const rank = (el: HTMLElement) => (el.classList.contains('launch-site') ? 0 : el.classList.contains('sealed-zone') ? 1 : 2);
    labels.sort((a, b) => rank(a) - rank(b));
    for (const el of labels) el.classList.remove('label-hidden');
    const box = container.getBoundingClientRect();
    const taken: DOMRect[] = [...container.querySelectorAll<Element>('.draft-drop, .drop-pin, .vehicle .arrow, .vehicle .vlabel')].map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0);
    taken.push(...this.vehicles.canvasBoxes());
    const overlaps = (a: DOMRect, b: DOMRect) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
    for (const el of labels) {
      const r = el.getBoundingClientRect();
      if (r.width === 0) continue; // hidden by zoom
      const outside = r.left < box.left || r.right > box.right || r.top < box.top || r.bottom > box.bottom;
      if (outside || taken.some((x) => overlaps(r, x))) {
        el.classList.add('label-hidden');
        continue;
      }
      taken.push(r);
    }
  }

  panTo(lat: number, lon: number): void {
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return;
    this.map.panTo(this.project(lat, lon));
  }

  /** Screen position of a WGS-84 point, relative to the map container (for automation and tests). */
  containerPoint(lat: number, lon: number): { x: number; y: number } {
    const p = this.map.latLngToContainerPoint(this.project(lat, lon));
    return { x: p.x, y: p.y };
  }
}
