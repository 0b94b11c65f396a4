/** Alerts from the server (and the console's own link alerts), newest first, with sound. */
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import type { Ctx } from '../context';
import { formatTime } from '../format';
import { beep, setSoundEnabled, soundEnabled } from '../sound';

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
        if (newest.level !== 'info') beep(newest.level);
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
      h('li', { class: `alert ${x.level} ${i < this.ctx.store.unreadAlerts ? 'unread' : ''}`, 'data-testid': 'alert-item', 'data-level': x.level },
        h('time', null, formatTime(x.at)), ' ',
        h('b', null, t(`alerts.level.${x.level}`)), ' ',
        x.vehicleId ? h('span', { class: 'tag' }, x.vehicleId) : null,
        x.deliveryId ? h('span', { class: 'tag' }, x.deliveryId) : null,
        ' ', x.text)) : h('li', { class: 'muted' }, t('alerts.none')));
  }
}
