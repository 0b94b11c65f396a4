/**
 * Flying from the console: one vehicle's view (frame, status since when, its job), the HOLD / RTL /
 * LAND / CONTINUE / RELEASE buttons aimed at one vehicle, and the confirmed command itself. The job
 * card, the flying drone's map popup and the command bar all use these, so a command always goes to
 * the vehicle the operator is looking at, and is offered only when it can apply.
 */
import { confirmDialog, h, replaceChildren, toast } from './dom';
import { t } from './i18n';
import { errorText, type Ctx } from './context';
import { vehiclePath } from './api';
import { formatDurationS, formatTime } from './format';
import { ALERTING_STATUSES, COMMAND_ACTIONS, commandBlocker, flightStatus, statusSinceHint, type CommandAction, type FlightStatus } from './vehicle-status';
import type { Delivery, TelemetryFrame } from './types';

export interface VehicleView {
  id: string;
  frame: TelemetryFrame;
  stale: boolean;
  ageMs: number;
  job?: Delivery;
  status: FlightStatus;
  sinceMs: number;
  simulated: boolean;
}

/** Everything the console knows about one vehicle now (and since when its status holds). */
export function vehicleView(ctx: Ctx, id: string | null | undefined): VehicleView | undefined {
  if (!id) return undefined;
  const v = ctx.map.vehicles.get(id);
  if (!v) return undefined;
  const job = ctx.store.activeJob(id);
  const status = flightStatus(v.frame, v.stale, job);
  const seen = ctx.store.statusBook.update(id, status, statusSinceHint(status, v.frame, job));
  return { id, frame: v.frame, stale: v.stale, ageMs: v.ageMs, job, status, sinceMs: seen.sinceMs, simulated: ctx.store.simVehicleIds.has(id) || id.startsWith('replay-') };
}

/** "HOLDING since 12:03:04 (0:42)": the status word and, for those that need attention, since when. */
export function statusText(v: Pick<VehicleView, 'status' | 'sinceMs'>, nowMs = Date.now()): string {
  const word = t(`fstatus.${v.status}`);
  if (!ALERTING_STATUSES.has(v.status)) return word;
  return `${word} · ${t('fstatus.since', { time: formatTime(v.sinceMs), d: formatDurationS(Math.max(0, (nowMs - v.sinceMs) / 1000)) })}`;
}

/** A status chip (class fstatus-<status>): loud for HOLDING, RTL, LANDING, LINK LOST. */
export function statusChip(v: VehicleView, testid: string): HTMLElement {
  return h('span', { class: `fstatus fstatus-${v.status}`, 'data-testid': testid, 'data-status': v.status, 'data-vehicle': v.id }, statusText(v));
}

export function blockerFor(ctx: Ctx, action: CommandAction, v: VehicleView | undefined): string | null {
  const role = ctx.store.me?.role ?? 'operator';
  if (!ctx.caps.fly) return 'cmd.why.readOnly';
  if (!v) return 'cmd.why.noData';
  return commandBlocker(action, v.frame, { role, simulated: v.simulated, stale: v.stale, job: v.job });
}

/** Confirms (naming the vehicle and its job) and sends a flight command to exactly `vehicleId`. */
export async function commandVehicle(ctx: Ctx, vehicleId: string, action: CommandAction): Promise<boolean> {
  const v = vehicleView(ctx, vehicleId);
  const why = blockerFor(ctx, action, v);
  if (why) {
    toast(`${t(`cmd.${action}`)} · ${vehicleId}: ${t(why)}`, 'error');
    return false;
  }
  const job = v?.job;
  const ok = await confirmDialog({
    title: t(`cmd.confirm.${action}`, { v: vehicleId }),
    body: `${job ? `${t('cmd.confirmJob', { id: job.id })} ` : ''}${t(`cmd.confirmBody.${action}`)}`,
    confirmLabel: t(`cmd.${action}`),
    danger: action === 'land' || action === 'release',
  });
  if (!ok) return false;
  try {
    const r = await ctx.api.post<{ ok: boolean; result?: { result?: string } }>(`${vehiclePath(vehicleId)}/commands`, { action, confirm: true });
    const res = r?.result?.result ?? (r?.ok ? 'ACCEPTED' : 'FAILED');
    toast(t('cmd.sent', { a: t(`cmd.${action}`), v: vehicleId, r: t(`ack.${res}`) === `ack.${res}` ? res : t(`ack.${res}`) }), r?.ok === false ? 'error' : 'info');
    return r?.ok !== false;
  } catch (e) {
    toast(errorText(e), 'error');
    return false;
  }
}

/**
 * HOLD / RTL / LAND / CONTINUE / RELEASE for one vehicle, updated in place (the buttons are never
 * rebuilt while shown, so a click is never lost to a re-render); each disabled with its reason.
 */
export class FlightControls {
  readonly el: HTMLElement;
  private readonly buttons = new Map<CommandAction, HTMLButtonElement>();
  private readonly why: HTMLElement;
  private vehicleId: string | null = null;

  constructor(private readonly ctx: Ctx, private readonly prefix: string, opts: { actions?: CommandAction[]; shortcuts?: boolean } = {}) {
    const actions = opts.actions ?? COMMAND_ACTIONS;
    const keys: Partial<Record<CommandAction, string>> = opts.shortcuts ? { hold: 'H', rtl: 'R', land: 'L' } : {};
    const cls: Record<CommandAction, string> = { hold: 'warn', rtl: 'warn', land: 'danger', continue: '', release: '' };
    for (const a of actions) {
      const k = keys[a];
      const b = h('button', { type: 'button', class: `cmd ${cls[a]}`, 'data-testid': `${prefix}-${a}`, 'data-action': a, 'aria-keyshortcuts': k ? `Alt+${k}` : undefined, onclick: () => {
        if (this.vehicleId) void commandVehicle(ctx, this.vehicleId, a);
      } }, t(`cmd.${a}`));
      this.buttons.set(a, b);
    }
    this.why = h('span', { class: 'cmd-why muted', 'data-testid': `${prefix}-why`, 'aria-live': 'polite' });
    this.el = h('span', { class: 'cmd-buttons', 'data-testid': `${prefix}-buttons` }, [...this.buttons.values()], this.why);
    ctx.store.on('lang', () => {
      for (const [a, b] of this.buttons) b.textContent = t(`cmd.${a}`);
      this.refresh();
    });
  }

  get target(): string | null {
    return this.vehicleId;
  }

  setVehicle(id: string | null): void {
    this.vehicleId = id;
    this.el.setAttribute('data-vehicle', id ?? '');
    this.refresh();
  }

  refresh(): void {
    const v = vehicleView(this.ctx, this.vehicleId);
    let first: string | null = null;
    for (const [a, b] of this.buttons) {
      const why = this.vehicleId ? blockerFor(this.ctx, a, v) : 'cmd.why.noVehicle';
      const disabled = why !== null;
      if (b.disabled !== disabled) b.disabled = disabled;
      const title = why ? t(why) : this.buttons.size && b.getAttribute('aria-keyshortcuts') ? b.getAttribute('aria-keyshortcuts')! : '';
      if (b.title !== title) b.title = title;
      if (why && !first && (a === 'hold' || a === 'rtl' || a === 'land')) first = why;
    }
    const text = first ? t(first) : '';
    if (this.why.textContent !== text) this.why.textContent = text;
    this.why.setAttribute('data-reason', first ?? '');
  }
}

/** Replaces `host`'s content with a vehicle's status chip (or nothing). */
export function renderStatusInto(host: HTMLElement, v: VehicleView | undefined, testid: string): void {
  replaceChildren(host, v ? statusChip(v, testid) : null);
}
