/**
 * The selected vehicle's battery: its last swap ("Battery swapped 10:42 by operator", or seen in
 * telemetry with the charge before and after) from GET /api/vehicles/:id/battery-swaps, and a
 * "Battery swapped" button (POST …/battery-swap, with an optional pack label and note) for the roles
 * that may record one: operators, supervisors, admins, and trainers on simulated vehicles. The
 * button is disabled with its reason while the vehicle is armed. The elements are built once and
 * updated in place (a click is never lost to a re-render); every value is set as text.
 */
import { confirmDialog, h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { vehiclePath } from '../api';
import { errorText, type Ctx } from '../context';
import { formatPct, formatTime } from '../format';
import { vehicleView } from '../flight';

interface BatterySwap {
  id: number;
  vehicleId: string;
  at: string;
  source: 'operator' | 'telemetry';
  username: string | null;
  packId: string | null;
  note: string | null;
  fromPct: number | null;
  toPct: number | null;
}

/** Swaps seen in telemetry arrive without anybody asking: read again this often while shown. */
const REREAD_MS = 15_000;

export class BatterySwapPanel {
  readonly el = h('section', { class: 'battery-swap', 'data-testid': 'battery-panel' });
  private readonly title = h('h3');
  private readonly last = h('p', { 'data-testid': 'battery-last' });
  private readonly pack = h('input', { type: 'text', maxlength: '40', 'data-testid': 'battery-pack', autocomplete: 'off' });
  private readonly note = h('input', { type: 'text', maxlength: '200', 'data-testid': 'battery-note', autocomplete: 'off' });
  private readonly packLabel = h('label', null);
  private readonly noteLabel = h('label', null);
  private readonly button = h('button', { type: 'button', class: 'cmd', 'data-testid': 'battery-swap' });
  private readonly why = h('span', { class: 'cmd-why muted', 'data-testid': 'battery-swap-why', 'aria-live': 'polite' });
  private readonly form = h('div', { class: 'battery-form' }, this.packLabel, this.noteLabel, this.button, this.why);
  private vehicleId: string | null = null;
  private latest: BatterySwap | null | undefined = undefined;
  private readAtMs = 0;
  private busy = false;
  /** Bumped per vehicle: an answer for a vehicle no longer selected is dropped. */
  private generation = 0;

  constructor(private readonly ctx: Ctx) {
    this.button.addEventListener('click', () => void this.record());
    this.el.append(this.title, this.last, this.form);
    ctx.store.on('lang', () => this.render());
    this.render();
  }

  /** Called while the vehicles view is shown, with the selected vehicle (replays have no battery to swap). */
  show(id: string | null): void {
    const want = id && !id.startsWith('replay-') ? id : null;
    if (want !== this.vehicleId) {
      this.generation++;
      this.vehicleId = want;
      this.latest = undefined;
      this.pack.value = '';
      this.note.value = '';
      if (want) void this.read();
    } else if (want && Date.now() - this.readAtMs > REREAD_MS) void this.read();
    this.render();
  }

  private get role() {
    return this.ctx.store.me?.role;
  }

  /** Why the button is disabled (an i18n key), or null; undefined when the role may not record swaps at all. */
  private blocker(): string | null | undefined {
    const role = this.role;
    if (!role) return undefined;
    const v = vehicleView(this.ctx, this.vehicleId);
    if (role === 'trainer' && !v?.simulated) return 'battery.why.simOnly';
    if (this.busy) return 'battery.why.busy';
    if (v?.frame.armed) return 'battery.why.armed';
    return null;
  }

  private async read(): Promise<void> {
    const id = this.vehicleId;
    if (!id) return;
    const gen = this.generation;
    this.readAtMs = Date.now();
    try {
      const rows = await this.ctx.api.get<BatterySwap[]>(`${vehiclePath(id)}/battery-swaps?limit=1`);
      if (gen !== this.generation) return;
      this.latest = rows[0] ?? null;
    } catch {
      if (gen !== this.generation) return;
      this.latest = undefined;
    }
    this.render();
  }

  private async record(): Promise<void> {
    const id = this.vehicleId;
    if (!id || this.blocker() !== null) return;
    const ok = await confirmDialog({ title: t('battery.confirmTitle', { v: id }), body: t('battery.confirmBody', { v: id }), confirmLabel: t('battery.swapped') });
    if (!ok || id !== this.vehicleId) return;
    const body: { packId?: string; note?: string } = {};
    if (this.pack.value.trim()) body.packId = this.pack.value.trim();
    if (this.note.value.trim()) body.note = this.note.value.trim();
    this.busy = true;
    this.render();
    try {
      const row = await this.ctx.api.post<BatterySwap>(`${vehiclePath(id)}/battery-swap`, body);
      if (id === this.vehicleId) {
        this.latest = row;
        this.pack.value = '';
        this.note.value = '';
      }
      toast(t('battery.recorded', { v: id }));
    } catch (e) {
      toast(errorText(e), 'error');
    } finally {
      this.busy = false;
      this.render();
    }
  }

  private lastText(): string {
    const s = this.latest;
    if (s === undefined) return '';
    if (s === null) return t('battery.none');
    const head =
      s.source === 'telemetry'
        ? t('battery.lastSeen', { time: formatTime(s.at), from: formatPct(s.fromPct), to: formatPct(s.toPct) })
        : t('battery.lastBy', { time: formatTime(s.at), user: s.username ?? '—' });
    return [head, s.packId ? t('battery.pack', { pack: s.packId }) : '', s.note ?? ''].filter(Boolean).join(' · ');
  }

  /** Updates the elements in place (called every second while shown). */
  render(): void {
    this.el.hidden = !this.vehicleId;
    if (!this.vehicleId) return;
    const set = (e: HTMLElement, text: string) => void (e.textContent !== text && (e.textContent = text));
    set(this.title, t('battery.titleFor', { v: this.vehicleId }));
    set(this.last, this.lastText());
    this.last.setAttribute('data-source', this.latest?.source ?? '');
    if (this.packLabel.firstChild?.textContent !== t('battery.packId')) replaceChildren(this.packLabel, t('battery.packId'), ' ', this.pack);
    if (this.noteLabel.firstChild?.textContent !== t('battery.note')) replaceChildren(this.noteLabel, t('battery.note'), ' ', this.note);
    set(this.button, t('battery.swapped'));
    const why = this.blocker();
    this.form.hidden = why === undefined;
    const disabled = why !== null;
    if (this.button.disabled !== disabled) this.button.disabled = disabled;
    const reason = why ? t(why) : '';
    if (this.button.title !== reason) this.button.title = reason;
    set(this.why, reason);
    this.why.setAttribute('data-reason', why ?? '');
  }
}
