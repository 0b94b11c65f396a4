/** The audit log (supervisor, admin): who did what to which vehicle or job, and what came back. */
import { h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import { formatDateTime } from '../format';
import type { AuditRecord } from '../types';

function short(v: unknown): string {
  if (v == null) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

export class AuditPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-audit' });
  private body = h('tbody');
  private filter = h('input', { id: 'audit-filter', type: 'text', 'data-testid': 'audit-filter' });
  private rows: AuditRecord[] = [];

  constructor(private readonly ctx: Ctx) {
    ctx.store.on('lang', () => this.build());
    this.build();
  }

  private build(): void {
    const cols = ['audit.at', 'audit.user', 'audit.action', 'audit.target', 'audit.params', 'audit.outcome'];
    replaceChildren(this.el,
      h('h3', null, t('tab.audit')),
      h('form', { class: 'inline-form', onsubmit: (e: Event) => {
        e.preventDefault();
        void this.load();
      } },
      h('label', { for: 'audit-filter' }, t('audit.filter')), this.filter,
      h('button', { type: 'submit', 'data-testid': 'audit-refresh' }, t('common.refresh'))),
      h('div', { class: 'scroll-x' }, h('table', { class: 'grid', 'data-testid': 'audit-table' }, h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col' }, t(c))))), this.body)));
    this.render();
  }

  async load(): Promise<void> {
    const q = this.filter.value.trim();
    try {
      this.rows = await this.ctx.api.get<AuditRecord[]>(`/api/audit?limit=200${q ? `&action=${encodeURIComponent(q)}` : ''}`);
      if (!Array.isArray(this.rows)) this.rows = [];
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.render();
  }

  private render(): void {
    replaceChildren(this.body, this.rows.length ? this.rows.map((r) => h('tr', { 'data-testid': 'audit-row' },
      h('td', null, formatDateTime(r.at)),
      h('td', null, `${r.username} (${t(`role.${r.role}`)})`),
      h('td', { 'data-action': r.action }, t(`audit.action.${r.action}`) === `audit.action.${r.action}` ? r.action : t(`audit.action.${r.action}`)),
      h('td', null, [r.vehicleId, r.deliveryId].filter(Boolean).join(' ')),
      h('td', { class: 'mono' }, short(r.params)),
      h('td', { class: 'mono' }, short(r.outcome)))) : h('tr', null, h('td', { colspan: '6', class: 'muted' }, t('audit.none'))));
  }
}
