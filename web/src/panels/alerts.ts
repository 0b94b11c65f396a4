/**
 * Alerts from the service (kept there: a new login shows them again) and the console's own link
 * alerts, newest first, in the user's language, with sound; each unacknowledged service alert can be
 * acknowledged, and shows who acknowledged it and when.
 */
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import type { Ctx } from '../context';
import { formatTime } from '../format';
import { alertText } from '../messages';
import { beep, setSoundEnabled, soundEnabled } from '../sound';
import { ackAlert } from './alert-banner';

export class AlertsPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-alerts' });
  private list = h('ol', { class: 'alerts', 'data-testid': 'alert-list' });
  private lastSeen = '';

  constructor(private readonly ctx: Ctx) {
    ctx.store.on('alerts', () => {
      this.render();
      const newest = ctx.store.alerts[0];
      if (newest && newest.id !== this.lastSeen) {
        this.lastSeen = newest.id;
        if (newest.level !== 'info' && !newest.ackedAt && Date.now() - Date.parse(newest.at) < 60000) beep(newest.level);
      }
    });
    ctx.store.on('lang', () => this.build());
    this.build();
  }

  private build(): void {
    const mute = h('input', { id: 'alert-sound', type: 'checkbox', 'data-testid': 'alert-sound', checked: soundEnabled() });
    mute.addEventListener('change', () => setSoundEnabled(mute.checked));
    replaceChildren(this.el,
      h('h3', null, t('tab.alerts')),
      h('div', { class: 'buttons' },
        h('label', { for: 'alert-sound', class: 'inline' }, mute, ' ', t('alerts.sound')),
        h('button', { type: 'button', 'data-testid': 'alert-test-sound', onclick: () => beep('warning') }, t('alerts.test')),
        h('button', { type: 'button', 'data-testid': 'alert-ack', onclick: () => {
          this.ctx.store.unreadAlerts = 0;
          this.ctx.store.emit('alerts');
        } }, t('alerts.ack'))),
      this.list);
    this.render();
  }

  private render(): void {
    const a = this.ctx.store.alerts;
    replaceChildren(this.list, a.length ? a.slice(0, 200).map((x, i) =>
      h('li', { class: `alert ${x.level} ${i < this.ctx.store.unreadAlerts ? 'unread' : ''} ${x.ackedAt ? 'acked' : ''}`, 'data-testid': 'alert-item', 'data-id': x.id, 'data-level': x.level, 'data-code': x.code ?? '' },
        h('time', null, formatTime(x.at)), ' ',
        h('b', null, t(`alerts.level.${x.level}`)), ' ',
        x.vehicleId ? h('span', { class: 'tag' }, x.vehicleId) : null,
        x.deliveryId ? h('span', { class: 'tag' }, x.deliveryId) : null,
        ' ', alertText(x),
        x.ackedAt
          ? h('span', { class: 'acked-by muted', 'data-testid': 'alert-acked-by' }, ' · ', t('alerts.ackedBy', { by: x.ackedBy ?? '—', time: formatTime(x.ackedAt) }))
          : !x.local && x.level !== 'info'
            ? h('button', { type: 'button', class: 'small', 'data-testid': 'alert-item-ack', onclick: () => void ackAlert(this.ctx, x) }, t('alerts.acknowledge'))
            : null)) : h('li', { class: 'muted' }, t('alerts.none')));
  }
}
