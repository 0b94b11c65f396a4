/**
 * Resident requests waiting for an operator: the words and contact as sent (shown as text), the
 * suggested priority and why, the places the text matched with their confidence; one step makes
 * the job (drop point from the chosen place), or the request is rejected with a reason. A request
 * no place matched is placed on the map: the operator arms "place on map" and clicks where the
 * parcel goes; the server checks the point as it checks a catalogue place before keeping it.
 */
import { h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import { formatDateTime } from '../format';
import { PlacesCache } from './places';
import { dropText } from './jobs';

interface Candidate { placeId: string; compoundId: string; confidence: number; method: string }
interface RequestItem {
  id: string;
  receivedAt: string;
  text: string | null;
  contact: string | null;
  priority: 'urgent' | 'high' | 'normal';
  priorityReasons: string[];
  placeId: string | null;
  drop: [number, number] | null;
  confidence: number;
  merges: number;
  match: { candidates?: Candidate[] };
}

export class RequestsPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-requests' });
  private list = h('div', { class: 'requests' });
  private items: RequestItem[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The request waiting for a click on the map (its drop point), if any. */
  private picking: string | null = null;
  private placing = false;

  constructor(private readonly ctx: Ctx, private readonly places: PlacesCache) {
    ctx.store.on('lang', () => this.build());
    this.build();
  }

  private build(): void {
    const head = h('div', { class: 'inline-form' },
      h('button', { type: 'button', 'data-testid': 'requests-refresh', onclick: () => void this.load() }, t('common.refresh')),
      this.ctx.caps.audit ? h('a', { href: '/reports', target: '_blank', rel: 'noopener', 'data-testid': 'reports-link' }, t('requests.reports')) : null);
    replaceChildren(this.el, h('h3', null, t('tab.requests')), head, this.list);
    this.render();
  }

  /** Loads now and every 15 s while the tab is shown (stop() when it is hidden). */
  show(): void {
    void this.load();
    this.timer ??= setInterval(() => void this.load(), 15_000);
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async load(): Promise<void> {
    try {
      await this.places.load(this.ctx.api);
      const rows = await this.ctx.api.get<RequestItem[]>('/api/requests?state=new&limit=200');
      this.items = Array.isArray(rows) ? rows : [];
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.render();
    // Placed points stay on the map until their request becomes a job (or is rejected).
    this.ctx.map.setRequestDrops(this.items.filter((r) => Array.isArray(r.drop) && !r.placeId).map((r) => ({ id: r.id, drop: r.drop as [number, number], pos: dropText(r.drop as [number, number]) })));
  }

  /**
   * A click on the map while a request waits for its drop point: the point is sent to the server,
   * which checks it (sealed zone, no-fly, reach) and keeps it only if it passes. Returns false when
   * no request is waiting (the click is someone else's).
   */
  takeMapClick(lat: number, lon: number): boolean {
    const id = this.picking;
    if (!id || this.placing) return !!id;
    this.placing = true;
    const drop: [number, number] = [Number(lon.toFixed(7)), Number(lat.toFixed(7))];
    this.el.setAttribute('data-placing', id);
    void (async () => {
      try {
        const res = await this.ctx.api.post<{ request: RequestItem; check: { sealedZone?: string | null } }>(`/api/requests/${encodeURIComponent(id)}/drop`, { drop });
        this.picking = null;
        toast(t('requests.placed', { id, pos: dropText(res.request.drop), zone: res.check.sealedZone ?? '—' }));
        await this.load();
      } catch (e) {
        // Refused (no-fly, outside every sealed zone, unreachable): the request keeps waiting for a better point.
        toast(`${t('requests.placeRefused', { pos: dropText(drop) })} ${errorText(e)}`, 'error');
        this.render();
      } finally {
        this.placing = false;
        this.el.removeAttribute('data-placing');
      }
    })();
    return true;
  }

  private pick(id: string | null): void {
    this.picking = id;
    this.render();
  }

  private render(): void {
    if (!this.items.length) return replaceChildren(this.list, h('p', { class: 'muted' }, t('requests.none')));
    replaceChildren(this.list, this.items.map((r) => this.card(r)));
  }

  private card(r: RequestItem): HTMLElement {
    const cands = r.match?.candidates ?? [];
    // A point placed on the map (no catalogue place) comes first: triage without a place uses it.
    const onMap = r.drop && !r.placeId ? h('option', { value: '', selected: true }, t('requests.onMap', { pos: dropText(r.drop) })) : null;
    const place = h('select', { 'data-testid': 'request-place', 'aria-label': t('requests.place') },
      onMap, cands.map((c) => h('option', { value: c.placeId }, `${this.places.label(c.placeId)} · ${t('requests.confidence', { p: `${Math.round(c.confidence * 100)}%` })}`)),
      !onMap && !cands.length ? h('option', { value: '' }, t('requests.noMatch')) : null);
    const canTriage = cands.length > 0 || !!onMap;
    const picking = this.picking === r.id;
    const pickRow = this.ctx.caps.createJobs
      ? h('div', { class: 'inline-form' },
          picking
            ? [h('span', { class: 'hint', 'data-testid': 'request-pick-hint', role: 'status' }, t('requests.pickHint')),
               h('button', { type: 'button', 'data-testid': 'request-pick-cancel', onclick: () => this.pick(null) }, t('common.cancel'))]
            : h('button', { type: 'button', 'data-testid': 'request-place-on-map', onclick: () => this.pick(r.id) }, t('requests.placeOnMap')),
          r.drop ? h('span', { class: 'muted', 'data-testid': 'request-drop' }, `${t('requests.dropAt')}: ${dropText(r.drop)}`) : null)
      : null;
    const prio = h('select', { 'data-testid': 'request-priority', 'aria-label': t('requests.suggested') }, (['urgent', 'high', 'normal'] as const).map((p) => h('option', { value: p, selected: p === r.priority }, t(`priority.${p}`))));
    const reason = h('input', { type: 'text', maxlength: '500', placeholder: t('requests.rejectReason'), 'aria-label': t('requests.rejectReason') });
    const triage = async () => {
      try {
        const res = await this.ctx.api.post<{ job: { id: string } }>(`/api/requests/${encodeURIComponent(r.id)}/triage`, { ...(place.value ? { placeId: place.value } : {}), priority: prio.value });
        toast(t('requests.triaged', { id: res.job.id }));
        await this.load();
      } catch (e) {
        toast(errorText(e), 'error');
      }
    };
    const reject = async () => {
      try {
        await this.ctx.api.post(`/api/requests/${encodeURIComponent(r.id)}/reject`, { reason: reason.value.trim() || '—' });
        toast(t('requests.rejected'));
        await this.load();
      } catch (e) {
        toast(errorText(e), 'error');
      }
    };
    return h('article', { class: `request card prio-${r.priority}${picking ? ' picking' : ''}`, 'data-testid': 'request', 'data-id': r.id },
      h('header', null, h('b', null, r.id), ' ', h('span', { class: 'muted' }, formatDateTime(r.receivedAt)), ' ',
        h('span', { class: `badge prio-${r.priority}` }, t(`priority.${r.priority}`)),
        r.priorityReasons.length ? h('span', { class: 'muted' }, ` ${t('requests.reasons')}: ${r.priorityReasons.map((x) => t(`requests.reason.${x}`)).join(', ')}`) : null),
      h('p', { class: 'request-text', 'data-testid': 'request-text' }, r.text ?? ''),
      r.contact ? h('p', { class: 'muted' }, `${t('requests.contact')}: `, r.contact) : null,
      r.merges ? h('p', { class: 'muted' }, t('requests.merges', { n: r.merges })) : null,
      h('div', { class: 'inline-form' }, place, prio, this.ctx.caps.createJobs ? h('button', { type: 'button', 'data-testid': 'request-triage', disabled: !canTriage, onclick: () => void triage() }, t('requests.triage')) : null),
      pickRow,
      this.ctx.caps.createJobs ? h('div', { class: 'inline-form' }, reason, h('button', { type: 'button', 'data-testid': 'request-reject', onclick: () => void reject() }, t('requests.reject'))) : null);
  }
}
