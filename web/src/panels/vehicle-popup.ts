/**
 * The popup of a drone on the map: call sign, what it is doing since when, the job it flies, its
 * numbers, and (for roles that fly) HOLD / RTL / LAND / CONTINUE / RELEASE aimed at that drone.
 */
import L from 'leaflet';
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import type { Ctx } from '../context';
import { formatAltM, formatPct, formatSpeedMps, modeText } from '../format';
import { FlightControls, statusChip, vehicleView } from '../flight';
import { separationChip } from './separation';
import { trafficChip } from './traffic';

export class VehiclePopup {
  private readonly popup: L.Popup;
  private readonly body = h('div', { class: 'vpopup-body' });
  private readonly el: HTMLElement;
  private readonly controls: FlightControls | null;
  private id: string | null = null;
  private marker: L.Marker | null = null;

  constructor(private readonly ctx: Ctx) {
    this.controls = ctx.caps.fly ? new FlightControls(ctx, 'popup-cmd') : null;
    this.el = h('div', { class: 'vpopup', 'data-testid': 'vehicle-popup' }, this.body, this.controls?.el ?? null);
    this.popup = L.popup({ closeButton: true, autoPan: true, autoClose: true, maxWidth: 340, minWidth: 240, className: 'vehicle-popup' }).setContent(this.el);
    this.popup.on('remove', () => {
      this.id = null;
      this.marker?.unbindPopup();
      this.marker = null;
    });
    ctx.store.on('tick', () => this.refresh());
    ctx.store.on('deliveries', () => this.refresh());
    ctx.store.on('lang', () => this.refresh());
    ctx.map.vehicles.onChange(() => {
      if (this.id && !ctx.map.vehicles.get(this.id)) this.close();
    });
  }

  get openFor(): string | null {
    return this.id;
  }

  open(id: string): void {
    const marker = this.ctx.map.vehicles.marker(id);
    if (!marker) return;
    if (this.marker && this.marker !== marker) this.marker.unbindPopup();
    this.id = id;
    this.marker = marker;
    this.el.setAttribute('data-vehicle', id);
    this.controls?.setVehicle(id);
    this.refresh();
    marker.bindPopup(this.popup);
    marker.openPopup();
  }

  close(): void {
    this.ctx.map.map.closePopup(this.popup);
  }

  refresh(): void {
    if (!this.id) return;
    const v = vehicleView(this.ctx, this.id);
    this.controls?.refresh();
    if (!v) {
      replaceChildren(this.body, h('h4', null, this.id), h('p', { class: 'muted' }, t('cmd.noData')));
      return;
    }
    const f = v.frame;
    replaceChildren(this.body,
      h('h4', null, v.id, ' ', statusChip(v, 'popup-status')),
      v.job
        ? h('p', null, h('button', { type: 'button', class: 'link', 'data-testid': 'popup-job', onclick: () => this.ctx.store.selectJob(v.job!.id) }, t('cmd.onJob', { id: v.job.id })), ' · ', t(`state.${v.job.state}`))
        : h('p', { class: 'muted', 'data-testid': 'popup-job' }, t('cmd.noJob')),
      v.job ? separationChip(v.job, 'popup-separation') : null,
      v.job ? trafficChip(v.job, 'popup-traffic') : null,
      h('p', { class: 'vpopup-facts' }, [modeText(f.mode), f.armed ? t('vehicle.armed') : t('vehicle.disarmed'), `${t('vehicle.battery')} ${formatPct(f.batteryPct)}`, `${t('vehicle.alt')} ${formatAltM(f.altRelM)}`, formatSpeedMps(f.groundSpeedMps)].join(' · ')));
  }
}
