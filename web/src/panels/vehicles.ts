/** Every vehicle with its live numbers; stale rows are marked, never shown as live. */
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import type { Ctx } from '../context';
import { formatAltM, formatPct, formatSpeedMps, modeText } from '../format';
import { CommissioningPanel } from './commissioning';
import { BatterySwapPanel } from './battery-swap';

export class VehiclesPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-vehicles' });
  private body = h('tbody');
  private pending = false;
  /** The selected vehicle's commissioning checklist, under the table. */
  private readonly setup: CommissioningPanel;
  /** The selected vehicle's last battery swap and the "Battery swapped" button. */
  private readonly battery: BatterySwapPanel;
  visible = false;

  constructor(private readonly ctx: Ctx) {
    this.setup = new CommissioningPanel(ctx);
    this.battery = new BatterySwapPanel(ctx);
    ctx.store.on('lang', () => this.build());
    ctx.store.on('selection', () => this.render());
    ctx.store.on('tick', () => this.render());
    ctx.map.vehicles.onChange(() => {
      // At most one table render per second-ish burst: the map is the live view.
      if (this.pending || !this.visible) return;
      this.pending = true;
      setTimeout(() => {
        this.pending = false;
        this.render();
      }, 500);
    });
    this.build();
  }

  private build(): void {
    const cols = ['vehicle.id', 'vehicle.mode', 'vehicle.battery', 'vehicle.alt', 'vehicle.speed', 'vehicle.gps', 'vehicle.link', 'vehicle.status'];
    replaceChildren(this.el, h('h3', null, t('tab.vehicles')), h('table', { class: 'grid', 'data-testid': 'vehicle-table' }, h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col' }, t(c))))), this.body), this.battery.el, this.setup.el);
    this.render();
  }

  render(): void {
    if (!this.visible) return;
    this.setup.show(this.ctx.store.selectedVehicle);
    this.battery.show(this.ctx.store.selectedVehicle);
    const vl = this.ctx.map.vehicles;
    const ids = vl.ids();
    if (!ids.length) {
      replaceChildren(this.body, h('tr', null, h('td', { colspan: '8', class: 'muted' }, t('vehicle.none'))));
      return;
    }
    replaceChildren(this.body, ids.map((id) => {
      const v = vl.get(id)!;
      const f = v.frame;
      const sel = this.ctx.store.selectedVehicle === id;
      return h('tr', { class: `${v.stale ? 'stale' : ''} ${sel ? 'selected' : ''}`, 'data-testid': 'vehicle-row', 'data-id': id, 'data-stale': String(v.stale) },
        h('td', null, h('button', { type: 'button', class: 'link', onclick: () => {
          this.ctx.store.selectedVehicle = id;
          this.ctx.store.emit('selection');
          if (f.lat != null && f.lon != null) this.ctx.map.panTo(f.lat, f.lon);
        } }, id)),
        h('td', null, modeText(f.mode), f.armed ? ` · ${t('vehicle.armed')}` : ''),
        h('td', { class: f.batteryPct != null && f.batteryPct < 25 ? 'bad' : '' }, formatPct(f.batteryPct)),
        h('td', null, formatAltM(f.altRelM)),
        h('td', null, formatSpeedMps(f.groundSpeedMps)),
        h('td', null, f.gpsFix == null ? '—' : `${f.gpsFix} / ${f.satellites ?? '—'}`),
        h('td', null, `${f.link?.lossPct != null ? f.link.lossPct.toFixed(0) : '—'}%`),
        h('td', { class: v.stale ? 'bad' : 'good' }, v.stale ? `${t('vehicle.stale')} ${Math.round(v.ageMs / 1000)} s` : f.replay ? t('vehicle.replay') : t('vehicle.live')));
    }));
  }
}
