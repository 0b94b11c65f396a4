/**
 * Zones of the day: list, version history, and for supervisors and admins editing with leaflet-geoman
 * (draw and edit polygons and points, set each feature's kind and name), GeoJSON/KML import through
 * POST /api/zones/import, and saving a new version with PUT /api/zones.
 */
import L from 'leaflet';
import type { Feature, FeatureCollection } from 'geojson';
import { confirmDialog, h, replaceChildren, textSpan, toast } from '../dom';
import { t } from '../i18n';
import { applyDrawLang } from '../draw-lang';
import { errorText, type Ctx } from '../context';
import { formatDateTime } from '../format';
import { rewind } from '../geo';
import { ZONE_KINDS, zoneStyle } from '../map-view';
import type { ZonesDoc } from '../types';

interface HistoryRow {
  version: number;
  updatedAt?: string;
  updatedBy?: string;
  featureCount?: number;
}

/** Loads web/dist/zone-editor.js (leaflet-geoman) once, and gives the existing map its `pm` controller. */
let editorLoading: Promise<void> | null = null;
export function loadZoneEditor(map: L.Map): Promise<void> {
  const w = window as unknown as { L: { PM?: { Map: new (m: L.Map) => { setGlobalOptions(o: object): void } } } };
  if (!editorLoading) {
    editorLoading = w.L?.PM
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
        const s = document.createElement('script');
        s.src = 'zone-editor.js';
        s.async = true;
        s.onload = () => resolve();
        s.onerror = () => {
          editorLoading = null;
          reject(new Error('zone-editor.js could not be loaded'));
        };
        document.head.appendChild(s);
      });
  }
  return editorLoading.then(() => {
    const m = map as L.Map & { pm?: unknown };
    if (!m.pm && w.L.PM) {
      // As geoman's own map init hook does: attach first, then set options (they read map.pm).
      const pm = new w.L.PM.Map(map);
      m.pm = pm;
      pm.setGlobalOptions({});
    }
  });
}

/** A refused import or save, for the supervisor who fixes the file: the reason and its stable code. */
function zoneErrorText(e: unknown): string {
  const code = (e as { code?: string }).code;
  return code ? `${errorText(e)} [${code}]` : errorText(e);
}

type PmMap = L.Map & { pm?: { addControls(o: object): void; removeControls(): void; setGlobalOptions(o: object): void; setLang?(lang: string, override?: object, fallback?: string): void; globalEditModeEnabled?(): boolean; disableGlobalEditMode?(): void; disableDraw?(): void } };



export class ZonesPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-zones' });
  private history: HistoryRow[] = [];
  private editing = false;
  private editGroup: L.FeatureGroup | null = null;
  private preview: { version: number; layer: L.Layer } | null = null;
  private newKind: string = 'no-fly';
  private newName = '';
  private dirty = false;

  constructor(private readonly ctx: Ctx) {
    ctx.store.on('zones', () => this.render());
    ctx.store.on('lang', () => {
      if (this.editing) applyDrawLang(ctx.map.map);
      this.render();
    });
    const map = ctx.map.map;
    map.on('pm:create', (e: L.LeafletEvent) => {
      const layer = (e as unknown as { layer: L.Layer }).layer;
      if (!this.editing || !this.editGroup) return;
      const kind = (e as unknown as { shape: string }).shape === 'Polygon' || (e as unknown as { shape: string }).shape === 'Rectangle' ? (this.newKind === 'launch-site' || this.newKind === 'rally-point' ? 'no-fly' : this.newKind) : this.newKind === 'launch-site' || this.newKind === 'rally-point' ? this.newKind : 'rally-point';
      (layer as L.Layer & { feature?: Feature }).feature = { type: 'Feature', geometry: null as never, properties: { kind, ...(this.newName ? { name: this.newName } : {}) } };
      if ((layer as L.Path).setStyle) (layer as L.Path).setStyle(zoneStyle(kind));
      // geoman already put the new shape in the edit group (its layerGroup option): it stays on the map,
      // visible at once. (Taking it off the map and adding it to the group again left it invisible.)
      if (!this.editGroup.hasLayer(layer)) this.editGroup.addLayer(layer);
      (layer as L.Path).getElement?.()?.classList.add('zone', `zone-${kind}`, 'zone-new');
      this.bindEditable(layer);
      this.markDirty();
    });
    this.render();
  }

  async loadHistory(): Promise<void> {
    try {
      const rows = await this.ctx.api.get<HistoryRow[]>('/api/zones/history');
      this.history = Array.isArray(rows) ? rows.sort((a, b) => b.version - a.version) : [];
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.render();
  }

  private markDirty(): void {
    this.dirty = true;
    const s = this.el.querySelector('[data-testid="zones-dirty"]');
    if (s) s.textContent = t('zones.unsaved');
  }

  private bindEditable(layer: L.Layer): void {
    layer.on('pm:edit pm:dragend pm:remove', () => this.markDirty());
    const f = (layer as L.Layer & { feature?: Feature }).feature;
    const kind = String(f?.properties?.kind ?? '');
    const name = f?.properties?.name ? String(f.properties.name) : '';
    // Names stay on while editing, as on the map (a drawn shape shows its name at once): sealed zones,
    // launch sites and rally points carry a label; other kinds say their name and kind on hover.
    if (name && (kind === 'sealed-zone' || kind === 'launch-site' || kind === 'rally-point'))
      (layer as L.Layer).bindTooltip?.(textSpan(name), { permanent: true, direction: 'top', className: `zone-label editing ${kind}`, interactive: false, pane: 'zoneLabelPane' });
    else (layer as L.Layer).bindTooltip?.(textSpan(`${name ? name + ' — ' : ''}${t(`zone.kind.${kind}`)}`), { sticky: true });
    this.ctx.map.scheduleDeclutter();
  }

  private async startEditing(fc?: FeatureCollection): Promise<void> {
    let why = '';
    try {
      await loadZoneEditor(this.ctx.map.map);
    } catch (e) {
      why = ` ${(e as Error).message}`;
    }
    const map = this.ctx.map.map as PmMap;
    if (!map.pm) {
      toast(`${t('zones.noEditor')}${why}`, 'error');
      return;
    }
    this.stopPreview();
    this.editing = true;
    this.dirty = Boolean(fc);
    this.ctx.map.showZones = false;
    this.ctx.map.redrawAll();
    const source = fc ?? this.ctx.store.zones?.zones ?? { type: 'FeatureCollection', features: [] };
    this.editGroup = L.featureGroup().addTo(map);
    this.ctx.map.zoneLayers(source as FeatureCollection).eachLayer((l) => {
      this.editGroup!.addLayer(l);
      this.bindEditable(l);
    });
    map.pm.setGlobalOptions({ layerGroup: this.editGroup, snappable: true, allowSelfIntersection: false });
    applyDrawLang(map);
    map.pm.addControls({ position: 'topleft', drawCircle: false, drawCircleMarker: true, drawMarker: false, drawPolyline: false, drawText: false, cutPolygon: false, rotateMode: false, drawRectangle: true });
    this.render();
  }

  private stopEditing(): void {
    const map = this.ctx.map.map as PmMap;
    map.pm?.disableDraw?.();
    map.pm?.disableGlobalEditMode?.();
    map.pm?.removeControls();
    this.editGroup?.remove();
    this.editGroup = null;
    this.editing = false;
    this.dirty = false;
    this.ctx.map.showZones = true;
    this.ctx.map.redrawAll();
    this.render();
  }

  /** The edited zones, back in WGS-84. */
  private collect(): FeatureCollection {
    const features: Feature[] = [];
    this.editGroup?.eachLayer((l) => {
      const gj = (l as L.Layer & { toGeoJSON?: (precision?: number | false) => Feature }).toGeoJSON?.(false);
      if (!gj || gj.type !== 'Feature') return;
      const props = (l as L.Layer & { feature?: Feature }).feature?.properties ?? gj.properties ?? {};
      features.push({ type: 'Feature', properties: { ...props }, geometry: rewind(gj.geometry) });
    });
    return this.ctx.map.fromDisplay({ type: 'FeatureCollection', features });
  }

  private async save(): Promise<void> {
    const fc = this.collect();
    try {
      const doc = await this.ctx.api.put<ZonesDoc>('/api/zones', fc);
      toast(t('zones.saved', { v: doc?.version ?? '?' }));
      await this.reload();
      this.stopEditing();
      void this.loadHistory();
    } catch (e) {
      toast(errorText(e), 'error');
      const det = (e as { details?: unknown }).details;
      const box = this.el.querySelector('[data-testid="zones-error"]');
      if (box) box.textContent = `${zoneErrorText(e)}${det ? ` ${JSON.stringify(det).slice(0, 400)}` : ''}`;
    }
  }

  async reload(): Promise<void> {
    try {
      this.ctx.store.zones = await this.ctx.api.get<ZonesDoc>('/api/zones');
      this.ctx.map.setZones(this.ctx.store.zones.zones);
      this.ctx.store.emit('zones');
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  private async importText(format: 'kml' | 'geojson', text: string): Promise<void> {
    const box = this.el.querySelector('[data-testid="zones-error"]');
    try {
      const r = await this.ctx.api.post<Record<string, unknown>>('/api/zones/import', { format, text });
      const fc = (r?.zones && (r.zones as FeatureCollection).type === 'FeatureCollection' ? r.zones : r?.featureCollection ?? (r?.type === 'FeatureCollection' ? r : null)) as FeatureCollection | null;
      if (r?.ok === false || !fc) {
        const err = (r?.error ?? {}) as { code?: string; message?: string };
        if (box) box.textContent = `${err.code ?? 'IMPORT_FAILED'}: ${err.message ?? JSON.stringify(r).slice(0, 300)}`;
        return;
      }
      if (box) box.textContent = '';
      toast(t('zones.imported', { n: fc.features.length }));
      if (this.editing) this.stopEditing();
      await this.startEditing(fc);
      this.markDirty();
    } catch (e) {
      if (box) box.textContent = zoneErrorText(e);
    }
  }

  private async showVersion(version: number): Promise<void> {
    try {
      const doc = await this.ctx.api.get<ZonesDoc | FeatureCollection>(`/api/zones/history/${version}`);
      const fc = ((doc as ZonesDoc).zones ?? doc) as FeatureCollection;
      this.stopPreview();
      this.ctx.map.showZones = false;
      this.ctx.map.redrawAll();
      const layer = this.ctx.map.zoneLayers(fc).addTo(this.ctx.map.map);
      this.preview = { version, layer };
      this.render();
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  private stopPreview(): void {
    if (!this.preview) return;
    this.ctx.map.map.removeLayer(this.preview.layer);
    this.preview = null;
    if (!this.editing) {
      this.ctx.map.showZones = true;
      this.ctx.map.redrawAll();
    }
  }

  render(): void {
    const { caps, store } = this.ctx;
    const doc = store.zones;
    const features = doc?.zones?.features ?? [];
    const counts = new Map<string, number>();
    for (const f of features) counts.set(String(f.properties?.kind), (counts.get(String(f.properties?.kind)) ?? 0) + 1);
    const kindSel = h('select', { id: 'zone-kind', 'data-testid': 'zone-kind' }, ZONE_KINDS.map((k) => h('option', { value: k }, t(`zone.kind.${k}`))));
    kindSel.value = this.newKind;
    kindSel.addEventListener('change', () => (this.newKind = kindSel.value));
    const nameIn = h('input', { id: 'zone-name', type: 'text', value: this.newName, 'data-testid': 'zone-name' });
    nameIn.addEventListener('input', () => (this.newName = nameIn.value));
    const fmt = h('select', { id: 'zone-import-format', 'data-testid': 'zone-import-format' }, h('option', { value: 'geojson' }, 'GeoJSON'), h('option', { value: 'kml' }, 'KML'));
    const file = h('input', { id: 'zone-import-file', type: 'file', accept: '.geojson,.json,.kml', 'data-testid': 'zone-import-file' });
    const text = h('textarea', { id: 'zone-import-text', rows: '3', 'data-testid': 'zone-import-text', placeholder: '{"type":"FeatureCollection",…}' });
    file.addEventListener('change', async () => {
      const f = file.files?.[0];
      if (!f) return;
      text.value = await f.text();
      fmt.value = /\.kml$/i.test(f.name) ? 'kml' : 'geojson';
    });
    replaceChildren(this.el,
      h('h3', null, t('tab.zones')),
      doc ? h('p', { 'data-testid': 'zones-version', 'data-version': String(doc.version) }, t('zones.version', { v: doc.version, at: formatDateTime(doc.updatedAt), by: doc.updatedBy ?? '—' })) : h('p', { class: 'muted' }, t('zones.none')),
      h('ul', { class: 'legend' }, ZONE_KINDS.map((k) => h('li', null, h('span', { class: `swatch ${k}`, 'aria-hidden': 'true' }), `${t(`zone.kind.${k}`)}: ${counts.get(k) ?? 0}`))),
      this.preview ? h('p', { class: 'banner', 'data-testid': 'zones-preview' }, t('zones.previewing', { v: this.preview.version }), ' ',
        h('button', { type: 'button', onclick: () => {
          this.stopPreview();
          this.render();
        } }, t('zones.backToCurrent'))) : null,
      caps.editZones ? h('div', { class: 'zone-edit' },
        h('h4', null, t('zones.edit')),
        this.editing
          ? [h('p', { class: 'hint' }, t('zones.editHint')),
            h('div', { class: 'grid2' }, h('div', { class: 'field' }, h('label', { for: 'zone-kind' }, t('zones.newKind')), kindSel), h('div', { class: 'field' }, h('label', { for: 'zone-name' }, t('zones.newName')), nameIn)),
            h('p', { class: 'warn', 'data-testid': 'zones-dirty' }, this.dirty ? t('zones.unsaved') : ''),
            h('div', { class: 'buttons' },
              h('button', { type: 'button', class: 'primary', 'data-testid': 'zones-save', onclick: () => void this.save() }, t('common.save')),
              h('button', { type: 'button', 'data-testid': 'zones-cancel', onclick: async () => {
                if (this.dirty && !(await confirmDialog({ title: t('zones.discard') }))) return;
                this.stopEditing();
              } }, t('common.cancel')))]
          : h('button', { type: 'button', 'data-testid': 'zones-edit', onclick: () => void this.startEditing() }, t('zones.startEdit')),
        h('h4', null, t('zones.import')),
        h('div', { class: 'grid2' }, h('div', { class: 'field' }, h('label', { for: 'zone-import-format' }, t('zones.format')), fmt), h('div', { class: 'field' }, h('label', { for: 'zone-import-file' }, t('zones.file')), file)),
        h('div', { class: 'field' }, h('label', { for: 'zone-import-text' }, t('zones.text')), text),
        h('button', { type: 'button', 'data-testid': 'zones-import', onclick: () => void this.importText(fmt.value === 'kml' ? 'kml' : 'geojson', text.value) }, t('zones.importBtn'))) : null,
      h('p', { class: 'bad', role: 'alert', 'data-testid': 'zones-error' }),
      h('h4', null, t('zones.history'), ' ', h('button', { type: 'button', class: 'small', 'data-testid': 'zones-history-refresh', onclick: () => void this.loadHistory() }, t('common.refresh'))),
      h('ol', { class: 'history', 'data-testid': 'zones-history' }, this.history.map((r) => h('li', null,
        h('button', { type: 'button', class: 'link', onclick: () => void this.showVersion(r.version) }, `v${r.version}`),
        ` ${formatDateTime(r.updatedAt)} · ${r.updatedBy ?? '—'} · ${t('zones.features', { n: r.featureCount ?? '?' })}`))));
  }
}
