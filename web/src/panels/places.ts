/**
 * The places catalogue: its version (tied to the zones version it was checked against), every
 * place with the outcome of its drop check; supervisors import CSV or GeoJSON, or edit it as JSON.
 */
import { h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import type { ApiClient } from '../api';

interface Place { id: string; kind: string; parentId?: string; name: { zh?: string; en?: string }; aliases?: string[]; number?: number; drop?: [number, number] }
interface Catalogue { version: number; zonesVersion: number | null; places: Place[]; placeCount: number; checks: Record<string, { ok: boolean; code?: string; sealedZone?: string | null }> }

/** The current catalogue, shared by the requests and places panels (names for the candidates). */
export class PlacesCache {
  cat: Catalogue | null = null;
  private byId = new Map<string, Place>();
  async load(api: ApiClient): Promise<Catalogue> {
    const c = await api.get<Catalogue>('/api/places');
    this.cat = c;
    this.byId = new Map(c.places.map((p) => [p.id, p]));
    return c;
  }
  /** "滨河小区 · 1号楼" / "Riverside Estate · Building 1" in the console's language. */
  label(id: string): string {
    const zh = document.documentElement.lang === 'zh-CN';
    const chain: string[] = [];
    for (let p = this.byId.get(id); p; p = p.parentId ? this.byId.get(p.parentId) : undefined) chain.unshift((zh ? p.name.zh ?? p.name.en : p.name.en ?? p.name.zh) ?? p.id);
    return chain.length ? chain.join(' · ') : id;
  }
}

export class PlacesPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-places' });
  private editor = h('textarea', { rows: '12', spellcheck: 'false', class: 'mono', 'data-testid': 'places-json', 'aria-label': t('places.edit') });

  constructor(private readonly ctx: Ctx, private readonly cache: PlacesCache) {
    ctx.store.on('lang', () => this.render());
    this.render();
  }

  async load(): Promise<void> {
    try {
      await this.cache.load(this.ctx.api);
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.render();
  }

  private async save(body: () => Promise<unknown>): Promise<void> {
    try {
      const r = (await body()) as { version: number };
      toast(t('places.imported', { v: r.version }));
      await this.load();
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  private render(): void {
    const c = this.cache.cat;
    const edit = this.ctx.caps.editZones;
    const file = h('input', { type: 'file', accept: '.csv,.json,.geojson,text/csv,application/json', 'data-testid': 'places-file', 'aria-label': t('places.import') });
    file.addEventListener('change', () => {
      const f = file.files?.[0];
      if (!f) return;
      void f.text().then((text) => this.save(() => this.ctx.api.post('/api/places/import', { format: /\.csv$/i.test(f.name) ? 'csv' : 'geojson', text, ...(c ? { expectVersion: c.version } : {}) })));
    });
    if (c) this.editor.value = JSON.stringify(c.places, null, 1);
    const saveJson = () => {
      let places: unknown;
      try {
        places = JSON.parse(this.editor.value);
      } catch {
        return toast(t('places.invalidJson'), 'error');
      }
      void this.save(() => this.ctx.api.put('/api/places', { places, ...(c ? { expectVersion: c.version } : {}) }));
    };
    const rows = (c?.places ?? []).slice(0, 1000).map((p) => {
      const chk = c!.checks[p.id];
      return h('tr', { 'data-testid': 'place-row' },
        h('td', { class: 'mono' }, p.id),
        h('td', null, p.kind),
        h('td', null, [p.name.zh, p.name.en, ...(p.aliases ?? [])].filter(Boolean).join(' / ')),
        h('td', { class: chk && !chk.ok ? 'bad' : '' }, chk ? (chk.ok ? `${t('places.ok')} ${chk.sealedZone ?? ''}` : chk.code ?? '') : ''));
    });
    replaceChildren(this.el,
      h('h3', null, t('tab.places')),
      h('p', { class: 'muted', 'data-testid': 'places-version' }, c && c.version ? t('places.version', { v: c.version, z: c.zonesVersion ?? '–', n: c.placeCount }) : t('places.empty')),
      edit ? h('div', { class: 'inline-form' }, h('label', null, t('places.import'), ' ', file)) : null,
      h('div', { class: 'scroll-x' }, h('table', { class: 'grid' }, h('thead', null, h('tr', null, ['id', t('places.kind'), t('places.name'), t('places.check')].map((x) => h('th', { scope: 'col' }, x)))), h('tbody', null, rows))),
      edit ? h('details', null, h('summary', null, t('places.edit')), this.editor, h('button', { type: 'button', 'data-testid': 'places-save', onclick: saveJson }, t('common.save'))) : null);
  }
}
