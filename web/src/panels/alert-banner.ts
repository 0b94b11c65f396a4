/**
 * Critical alerts as a banner across the top of the console: each stays, on every console and across
 * reloads (the service keeps them), until somebody acknowledges it; the acknowledgement (who, when) is
 * audited and reaches every console. A click on its vehicle or job selects it.
 */
import { h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import { formatDurationS, formatTime } from '../format';
import { alertText } from '../messages';
import type { Alert } from '../types';

/** How many are listed; the rest are counted. */
const SHOWN = 3;

export async function ackAlert(ctx: Ctx, a: Alert): Promise<void> {
  try {
    const r = await ctx.api.post<Alert>(`/api/alerts/${encodeURIComponent(a.id)}/ack`, {});
    ctx.store.addAlert({ ...a, ackedAt: r.ackedAt, ackedBy: r.ackedBy });
  } catch (e) {
    const det = (e as { details?: { ackedBy?: string; ackedAt?: string } }).details;
    // Somebody else was quicker: the alert is acknowledged all the same.
    if (det?.ackedBy) ctx.store.addAlert({ ...a, ackedAt: det.ackedAt, ackedBy: det.ackedBy });
    else toast(errorText(e), 'error');
  }
}

export class AlertBanner {
  readonly el = h('section', { class: 'alert-banner', 'data-testid': 'alert-banner', role: 'alert', 'aria-live': 'assertive', hidden: true });

  constructor(private readonly ctx: Ctx, private readonly onSelectJob: (id: string) => void) {
    ctx.store.on('alerts', () => this.render());
    ctx.store.on('lang', () => this.render());
    ctx.store.on('tick', () => this.renderAges());
    this.render();
  }

  private render(): void {
    const open = this.ctx.store.openCritical();
    this.el.hidden = open.length === 0;
    this.el.setAttribute('data-count', String(open.length));
    const item = (a: Alert) =>
      h('div', { class: 'banner-item', 'data-testid': 'alert-banner-item', 'data-id': a.id },
        h('b', { class: 'banner-level' }, t('alerts.level.critical')),
        h('span', { class: 'banner-time' }, formatTime(a.at), ' ', h('span', { class: 'banner-age', 'data-at': a.at }, '')),
        h('span', { class: 'banner-text', 'data-testid': 'alert-banner-text' }, alertText(a)),
        a.deliveryId ? h('button', { type: 'button', class: 'link tag', onclick: () => this.onSelectJob(a.deliveryId!) }, a.deliveryId) : null,
        a.vehicleId ? h('button', { type: 'button', class: 'link tag', onclick: () => this.ctx.store.selectVehicle(a.vehicleId!) }, a.vehicleId) : null,
        h('button', { type: 'button', class: 'ack', 'data-testid': 'alert-banner-ack', onclick: () => void ackAlert(this.ctx, a) }, t('alerts.acknowledge')));
    replaceChildren(this.el,
      open.slice(0, SHOWN).map(item),
      open.length > SHOWN ? h('p', { class: 'banner-more', 'data-testid': 'alert-banner-more' }, t('alerts.more', { n: open.length - SHOWN })) : null);
    this.renderAges();
  }

  private renderAges(): void {
    if (this.el.hidden) return;
    const now = Date.now();
    for (const el of this.el.querySelectorAll<HTMLElement>('.banner-age')) {
      const at = Date.parse(el.getAttribute('data-at') ?? '');
      el.textContent = Number.isFinite(at) ? `(${t('alerts.ago', { d: formatDurationS(Math.max(0, (now - at) / 1000)) })})` : '';
    }
  }
}
