/**
 * Resident requests waiting for an operator: the words and contact as sent (shown as text), the
 * suggested priority and why, the places the text matched with their confidence; one step makes
 * the job (drop point from the chosen place), or the request is rejected with a reason.
 */
import { h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import { formatDateTime } from '../format';
import { PlacesCache } from './places';

interface Candidate { placeId: string; compoundId: string; confidence: number; method: string }
interface RequestItem {
  id: string;
  receivedAt: string;
  text: string | null;
  contact: string | null;
  priority: 'urgent' | 'high' | 'normal';
  priorityReasons: string[];
  placeId: string | null;
  confidence: number;
  merges: number;
  match: { candidates?: Candidate[] };
}

export class RequestsPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-requests' });
  private list = h('div', { class: 'requests' });
  private items: RequestItem[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;

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
  }

  private render(): void {
    if (!this.items.length) return replaceChildren(this.list, h('p', { class: 'muted' }, t('requests.none')));
    replaceChildren(this.list, this.items.map((r) => this.card(r)));
  }

  private card(r: RequestItem): HTMLElement {
    const cands = r.match?.candidates ?? [];
    const place = h('select', { 'data-testid': 'request-place', 'aria-label': t('requests.place') },
      cands.length ? cands.map((c) => h('option', { value: c.placeId }, `${this.places.label(c.placeId)} · ${t('requests.confidence', { p: `${Math.round(c.confidence * 100)}%` })}`)) : h('option', { value: '' }, t('requests.noMatch')));
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
    return h('article', { class: `request card prio-${r.priority}`, 'data-testid': 'request', 'data-id': r.id },
      h('header', null, h('b', null, r.id), ' ', h('span', { class: 'muted' }, formatDateTime(r.receivedAt)), ' ',
        h('span', { class: `badge prio-${r.priority}` }, t(`priority.${r.priority}`)),
        r.priorityReasons.length ? h('span', { class: 'muted' }, ` ${t('requests.reasons')}: ${r.priorityReasons.map((x) => t(`requests.reason.${x}`)).join(', ')}`) : null),
      h('p', { class: 'request-text', 'data-testid': 'request-text' }, r.text ?? ''),
      r.contact ? h('p', { class: 'muted' }, `${t('requests.contact')}: `, r.contact) : null,
      r.merges ? h('p', { class: 'muted' }, t('requests.merges', { n: r.merges })) : null,
      h('div', { class: 'inline-form' }, place, prio, this.ctx.caps.createJobs ? h('button', { type: 'button', 'data-testid': 'request-triage', disabled: !cands.length, onclick: () => void triage() }, t('requests.triage')) : null),
      this.ctx.caps.createJobs ? h('div', { class: 'inline-form' }, reason, h('button', { type: 'button', 'data-testid': 'request-reject', onclick: () => void reject() }, t('requests.reject'))) : null);
  }
}
