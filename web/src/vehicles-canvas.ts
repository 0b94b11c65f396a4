/**
 * Many vehicles drawn on one canvas: a heading-rotated arrow per vehicle, coloured by what it is
 * (stale grey with a dashed outline, low battery red, armed amber, disarmed blue, replay violet), so a
 * provincial view of a thousand drones costs one canvas repaint per animation frame instead of a
 * thousand moving DOM elements. Vehicles off the screen are skipped. Clicks are hit-tested against
 * the positions last drawn (the canvas itself never takes pointer events: the map does).
 */
import L from 'leaflet';

export type GlyphLook = 'disarmed' | 'armed' | 'low-battery' | 'replay' | 'stale';

export interface CanvasVehicle {
  id: string;
  /** Display position (already in the map's datum). */
  latlng: L.LatLng;
  headingDeg: number;
  look: GlyphLook;
}

/** Same shapes and colours as the DOM marker (styles.css `.vehicle .arrow path`). */
const FILL: Record<GlyphLook, string> = {
  disarmed: '#1d4ed8',
  armed: '#b45309',
  'low-battery': '#dc2626',
  replay: '#7c3aed',
  stale: '#9ca3af',
};
/** Drawing order: what needs attention is drawn last, on top. */
const ORDER: GlyphLook[] = ['disarmed', 'armed', 'replay', 'low-battery', 'stale'];
const ARROW = new Path2D('M0,-14 L10,12 L0,6 L-10,12 Z');
const HIT_RADIUS_PX = 14;
const MARGIN_PX = 20;

export class VehiclesCanvas extends L.Layer {
  private canvas: HTMLCanvasElement | null = null;
  private g: CanvasRenderingContext2D | null = null;
  private width = 0;
  private height = 0;
  private zooming = false;
  private raf = 0;
  /** Where each vehicle was drawn last (container pixels), for clicks and for placing zone names. */
  private drawnIds: string[] = [];
  private drawnX = new Float64Array(0);
  private drawnY = new Float64Array(0);
  private drawnCount = 0;

  constructor(private readonly source: () => Iterable<CanvasVehicle>, private readonly paneName = 'vehiclesCanvasPane') {
    super();
  }

  override onAdd(map: L.Map): this {
    let pane = map.getPane(this.paneName);
    if (!pane) {
      pane = map.createPane(this.paneName);
      // Above zones (400), their names (450) and drop pins (590); under DOM markers (600) and popups.
      pane.style.zIndex = '595';
      pane.style.pointerEvents = 'none';
    }
    const c = L.DomUtil.create('canvas', 'vehicles-canvas', pane) as HTMLCanvasElement;
    c.setAttribute('data-testid', 'vehicles-canvas');
    c.setAttribute('aria-hidden', 'true');
    c.style.pointerEvents = 'none';
    this.canvas = c;
    this.g = c.getContext('2d');
    map.on('move resize viewreset zoomend', this.schedule, this);
    map.on('zoomstart', this.onZoomStart, this);
    this.draw();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('move resize viewreset zoomend', this.schedule, this);
    map.off('zoomstart', this.onZoomStart, this);
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
    this.canvas?.remove();
    this.canvas = this.g = null;
    return this;
  }

  private onZoomStart(): void {
    // Positions are wrong while the map animates a zoom: hide until it ends, then redraw.
    this.zooming = true;
    if (this.canvas) this.canvas.style.visibility = 'hidden';
  }

  /** A redraw on the next animation frame (several requests in one frame draw once). */
  schedule(ev?: L.LeafletEvent): void {
    if (ev?.type === 'zoomend') {
      this.zooming = false;
      if (this.canvas) this.canvas.style.visibility = '';
    }
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.draw();
    });
  }

  /** Draws now (the vehicles layer calls this from its own animation-frame flush). */
  draw(): void {
    const map = this._map as L.Map | undefined;
    const c = this.canvas;
    const g = this.g;
    if (!map || !c || !g || this.zooming) return;
    const size = map.getSize();
    const dpr = window.devicePixelRatio || 1;
    if (size.x !== this.width || size.y !== this.height || c.width !== Math.round(size.x * dpr)) {
      this.width = size.x;
      this.height = size.y;
      c.width = Math.round(size.x * dpr);
      c.height = Math.round(size.y * dpr);
      c.style.width = `${size.x}px`;
      c.style.height = `${size.y}px`;
    }
    // The pane moves with the map while panning: keep the canvas over the container.
    L.DomUtil.setPosition(c, map.containerPointToLayerPoint([0, 0]));
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, size.x, size.y);
    const groups = new Map<GlyphLook, Array<{ x: number; y: number; r: number }>>();
    const ids: string[] = [];
    const xs: number[] = [];
    const ys: number[] = [];
    for (const v of this.source()) {
      const p = map.latLngToContainerPoint(v.latlng);
      if (p.x < -MARGIN_PX || p.y < -MARGIN_PX || p.x > size.x + MARGIN_PX || p.y > size.y + MARGIN_PX) continue;
      let list = groups.get(v.look);
      if (!list) groups.set(v.look, (list = []));
      list.push({ x: p.x, y: p.y, r: (v.headingDeg * Math.PI) / 180 });
      ids.push(v.id);
      xs.push(p.x);
      ys.push(p.y);
    }
    g.lineJoin = 'round';
    for (const look of ORDER) {
      const list = groups.get(look);
      if (!list) continue;
      g.fillStyle = FILL[look];
      g.strokeStyle = look === 'stale' ? '#111827' : '#ffffff';
      g.lineWidth = 2;
      g.setLineDash(look === 'stale' ? [3, 2] : []);
      for (const a of list) {
        g.setTransform(dpr * Math.cos(a.r), dpr * Math.sin(a.r), -dpr * Math.sin(a.r), dpr * Math.cos(a.r), dpr * a.x, dpr * a.y);
        g.fill(ARROW);
        g.stroke(ARROW);
      }
    }
    g.setTransform(1, 0, 0, 1, 0, 0);
    this.drawnIds = ids;
    this.drawnX = Float64Array.from(xs);
    this.drawnY = Float64Array.from(ys);
    this.drawnCount = ids.length;
  }

  /** How many vehicles the last repaint drew (those on screen). */
  get drawn(): number {
    return this.drawnCount;
  }

  /** The vehicle drawn nearest a container point, within reach of a click. */
  hitTest(x: number, y: number): string | null {
    let best = -1;
    let bestD = HIT_RADIUS_PX * HIT_RADIUS_PX;
    for (let i = 0; i < this.drawnCount; i++) {
      const dx = this.drawnX[i] - x;
      const dy = this.drawnY[i] - y;
      const d = dx * dx + dy * dy;
      if (d <= bestD) (bestD = d), (best = i);
    }
    return best >= 0 ? this.drawnIds[best] : null;
  }

  /** Screen boxes (client coordinates) of the drawn vehicles, for labels that must not cover them. */
  boxes(): DOMRect[] {
    const c = this.canvas;
    if (!c) return [];
    const box = (this._map as L.Map).getContainer().getBoundingClientRect();
    const out: DOMRect[] = [];
    for (let i = 0; i < this.drawnCount; i++) out.push(new DOMRect(box.left + this.drawnX[i] - 12, box.top + this.drawnY[i] - 14, 24, 28));
    return out;
  }
}
