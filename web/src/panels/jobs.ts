/**
 * Operator workflow, job-centred:
 * - a new job in three clicks: click the drop on the map → the new-job card plans it at once from
 *   the recommended vehicle (readiness, battery, distance, ETA against the promise) and draws the
 *   preview → Dispatch. Nothing is created until the plan is valid; a refusal is shown at the click
 *   with the offending zone highlighted;
 * - the selected job's card right under it: its state and its vehicle's status since when, the
 *   promise (on time / at risk / late), HOLD / RTL / LAND / CONTINUE / RELEASE aimed at the job's own
 *   vehicle, dispatch with preflight for waiting jobs, re-plan and re-dispatch for aborted or failed
 *   ones, progress (to the drop, then home), proof of drop and the timeline;
 * - the queue against the 15-minute promise.
 */
import { confirmDialog, h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import { ApiError } from '../api';
import { formatAltM, formatDistanceM, formatDurationS, formatEnergyWh, formatPct, formatPromise, formatTime, promiseStatus } from '../format';
import { haversineM, parseLatLon } from '../geo';
import { abortReasonText, payloadText, planErrorText, planWarningText, preflightAdvice, preflightDetailText, preflightName, serverErrorText, timelineText, zoneNamerFor, type ZoneNamer } from '../messages';
import { DISPATCH_OVERHEAD_S, promiseView, timeToDropS, type PromiseView } from '../promise';
import { rankVehicles, type Ranked } from '../recommend';
import { FlightControls, statusChip, vehicleView } from '../flight';
import { isAirborne, VEHICLE_JOB_STATES } from '../vehicle-status';
import { TERMINAL_STATES, type Delivery, type PlanOk, type PreflightCheck, type Priority } from '../types';
import { separationChip } from './separation';
import { trafficChip } from './traffic';
import { QueueRecommendations } from './queue-recommendations';
import { sortieFacts, togetherPicker } from './sortie';

const PRIORITY_RANK: Record<string, number> = { urgent: 0, high: 1, normal: 2 };

/** Queue order: open jobs first, then priority (urgent first), then oldest first. */
export function queueOrder(a: Delivery, b: Delivery): number {
  const ta = TERMINAL_STATES.includes(a.state) ? 1 : 0;
  const tb = TERMINAL_STATES.includes(b.state) ? 1 : 0;
  if (ta !== tb) return ta - tb;
  if (ta === 1) return Date.parse(b.createdAt) - Date.parse(a.createdAt);
  const pa = PRIORITY_RANK[a.priority] ?? 3;
  const pb = PRIORITY_RANK[b.priority] ?? 3;
  if (pa !== pb) return pa - pb;
  return Date.parse(a.createdAt) - Date.parse(b.createdAt);
}

/** The sealed zone's name, whether the server sends a name or {id, name}. */
export function zoneName(z: Delivery['sealedZone']): string {
  if (z == null) return '';
  if (typeof z === 'string') return z;
  return z.name ?? (z.id != null ? String(z.id) : '');
}

/** "34.061200, 114.392100" for a [lon, lat] drop: the console always writes lat, lon. */
export function dropText(drop: unknown): string {
  return Array.isArray(drop) && typeof drop[0] === 'number' && typeof drop[1] === 'number' ? `${drop[1].toFixed(6)}, ${drop[0].toFixed(6)}` : '—';
}

export function planSummary(plan: PlanOk, testid = 'plan-summary', namer?: ZoneNamer): HTMLElement {
  const reservePct = plan.energyWh > 0 && Number.isFinite(plan.reserveWh) ? Math.round((plan.reserveWh / (plan.energyWh + plan.reserveWh)) * 100) : null;
  const warnings = (plan.warnings ?? []).map((w) => planWarningText(w, namer));
  return h('div', { class: 'plan-summary', 'data-testid': testid },
    h('dl', { class: 'facts' },
      h('dt', null, t('plan.distance')), h('dd', { 'data-testid': 'plan-distance' }, formatDistanceM(plan.distanceM)),
      h('dt', null, t('plan.eta')), h('dd', { 'data-testid': 'plan-eta' }, formatDurationS(plan.durationS)),
      h('dt', null, t('plan.energy')), h('dd', null, formatEnergyWh(plan.energyWh)),
      h('dt', null, t('plan.reserve')), h('dd', { class: plan.reserveWh < 0 ? 'bad' : '' }, `${formatEnergyWh(plan.reserveWh)}${reservePct != null ? ` (${reservePct}%)` : ''}`)),
    warnings.length
      ? h('ul', { class: 'warnings', 'data-testid': 'plan-warnings' }, warnings.map((w) => h('li', null, '⚠ ', w)))
      : h('p', { class: 'muted', 'data-testid': 'plan-warnings' }, t('plan.noWarnings')));
}

export function checklist(checks: PreflightCheck[], ok: boolean | undefined): HTMLElement {
  return h('div', { class: 'preflight', 'data-testid': 'preflight' },
    h('p', { class: ok ? 'good' : 'bad', 'data-testid': 'preflight-result', 'data-ok': String(Boolean(ok)) }, ok ? t('preflight.pass') : t('preflight.fail')),
    h('ul', { class: 'checklist' }, checks.map((c) => {
      const advice = c.ok ? null : preflightAdvice(c.name);
      return h('li', { class: c.ok ? 'good' : 'bad', 'data-testid': 'preflight-check', 'data-ok': String(c.ok), 'data-name': c.name, title: c.detail ?? '' },
        h('span', { class: 'mark', 'aria-hidden': 'true' }, c.ok ? '✔' : '✘'),
        h('span', { class: 'sr-only' }, c.ok ? t('common.ok') : t('common.failed')),
        h('b', null, preflightName(c.name)), c.detail ? h('span', { class: 'detail' }, ` — ${preflightDetailText(c.name, c.detail)}`) : null,
        advice ? h('div', { class: 'advice', 'data-testid': 'preflight-advice' }, advice) : null);
    })));
}

/** On time / at risk / late, with the time left and what the job still needs. */
export function promiseLine(pv: PromiseView, testid: string): HTMLElement {
  const left = pv.leftS >= 0 ? t('job.left', { d: formatDurationS(pv.leftS) }) : t('job.late', { d: formatDurationS(-pv.leftS) });
  const needs = pv.neededS != null && !pv.final ? ` · ${t('promise.needs', { d: formatDurationS(pv.neededS) })}` : '';
  return h('span', { class: `promise-chip outlook-${pv.outlook}`, 'data-testid': testid, 'data-outlook': pv.outlook, 'data-final': String(pv.final) },
    t(pv.final ? `promise.final.${pv.outlook}` : `promise.${pv.outlook}`), pv.final ? '' : ` · ${left}${needs}`);
}

interface DraftState {
  /** [lon, lat] */
  drop: [number, number];
  seq: number;
  planning: boolean;
  plan: PlanOk | null;
  /** The planner's refusal ({code, message, details}) or another error's text. */
  refusal: { code?: string; message?: string; details?: unknown } | null;
  error: string | null;
  /** The vehicle the plan was made from. */
  vehicleId: string | null;
  /** The person chose the vehicle (else it follows the recommendation). */
  chosen: boolean;
  /** The job this draft re-plans. */
  replanOf: string | null;
}

export class JobsPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-jobs' });
  private form: HTMLFormElement | null = null;
  private latIn!: HTMLInputElement;
  private lonIn!: HTMLInputElement;
  private coordIn!: HTMLInputElement;
  private prioIn!: HTMLSelectElement;
  private payloadIn!: HTMLInputElement;
  private massIn!: HTMLInputElement;
  private reqIn!: HTMLInputElement;
  private contactIn!: HTMLInputElement;
  private noteIn!: HTMLInputElement;
  private draftBox = h('div', { class: 'draft-box', 'data-testid': 'job-draft' });
  private planBox = h('div', { class: 'plan-box' });
  private listEl = h('ol', { class: 'job-list', 'data-testid': 'job-list' });
  private detailEl = h('div', { class: 'job-detail-host' });
  private preflight = new Map<string, { vehicleId: string; ok: boolean; checks: PreflightCheck[] }>();
  private dispatchVehicle = new Map<string, string>();
  /** Jobs chosen to fly with a job (a sortie), by job. */
  private together = new Map<string, Set<string>>();
  /** Why the last dispatch of a job was refused: stays on its card until the next try. */
  private dispatchError = new Map<string, string>();
  private draft: DraftState | null = null;
  /** Kept for the next job: an operator who works urgent jobs does not reset it each time. */
  private lastPriority: Priority = 'normal';
  private busy = false;
  private readonly jobControls: FlightControls | null;
  /** parcelBays: the vehicle profile's parcel bays (policy vehicle.parcelOutputsArdupilot): how many jobs can fly together. */
  private policy = { minBatteryPct: 60, minGpsFix: 3, promiseMin: 15, parcelBays: 0 };

  private readonly recs: QueueRecommendations;

  constructor(private readonly ctx: Ctx) {
    this.recs = new QueueRecommendations(ctx, () => this.renderList());
    this.jobControls = ctx.caps.fly ? new FlightControls(ctx, 'job-cmd') : null;
    this.build();
    const s = ctx.store;
    s.on('deliveries', () => this.renderList());
    s.on('deliveries', () => this.renderDetail());
    s.on('selection', () => this.renderDetail());
    s.on('selection', () => this.renderList());
    s.on('vehicles', () => this.renderDetail());
    s.on('vehicles', () => this.renderDraft());
    s.on('tick', () => this.renderList());
    s.on('tick', () => this.renderLive());
    s.on('tick', () => this.onTickDraft());
    s.on('zones', () => this.onZonesChanged());
    s.on('lang', () => this.build());
    void this.loadPolicy();
  }

  private async loadPolicy(): Promise<void> {
    try {
      const r = await this.ctx.api.get<{ policy?: { minBatteryPct?: number; minGpsFix?: number; promiseMin?: number; vehicle?: { parcelOutputsArdupilot?: unknown } } }>('/api/policy');
      const p = r?.policy ?? {};
      const bays = p.vehicle?.parcelOutputsArdupilot;
      this.policy = { minBatteryPct: p.minBatteryPct ?? 60, minGpsFix: p.minGpsFix ?? 3, promiseMin: p.promiseMin ?? 15, parcelBays: Array.isArray(bays) ? bays.length : 0 };
      this.renderDraft();
      this.renderDetail();
    } catch {
      /* the defaults stand */
    }
  }

  private namer(): ZoneNamer {
    return zoneNamerFor(this.ctx.store.zones?.zones);
  }

  private build(): void {
    const keep = this.form ? this.readForm() : null;
    const { caps } = this.ctx;
    this.form = null;
    if (caps.createJobs) {
      this.latIn = h('input', { id: 'job-lat', type: 'number', step: 'any', inputmode: 'decimal', 'data-testid': 'job-drop-lat', required: true });
      this.lonIn = h('input', { id: 'job-lon', type: 'number', step: 'any', inputmode: 'decimal', 'data-testid': 'job-drop-lon', required: true });
      this.coordIn = h('input', { id: 'job-coord', type: 'text', placeholder: '34.0612, 114.3921', 'data-testid': 'job-drop-text', 'aria-describedby': 'job-hint' });
      this.coordIn.addEventListener('change', () => {
        const p = parseLatLon(this.coordIn.value);
        if (!p) {
          toast(t('job.badCoord'), 'error');
          return;
        }
        this.setDrop([p.lon, p.lat]);
      });
      const onEdit = () => {
        const drop = this.dropFromInputs();
        if (drop) this.setDrop(drop, false);
      };
      this.latIn.addEventListener('change', onEdit);
      this.lonIn.addEventListener('change', onEdit);
      this.prioIn = h('select', { id: 'job-prio', 'data-testid': 'job-priority' }, (['urgent', 'high', 'normal'] as Priority[]).map((p) => h('option', { value: p }, t(`priority.${p}`))));
      this.prioIn.value = this.lastPriority;
      this.prioIn.addEventListener('change', () => (this.lastPriority = this.prioIn.value as Priority));
      this.payloadIn = h('input', { id: 'job-payload', type: 'text', 'data-testid': 'job-payload', placeholder: t('job.payloadPh') });
      this.massIn = h('input', { id: 'job-mass', type: 'number', step: '0.1', min: '0', 'data-testid': 'job-mass' });
      this.massIn.addEventListener('change', () => this.draft && void this.plan());
      this.reqIn = h('input', { id: 'job-req', type: 'text', 'data-testid': 'job-requester' });
      this.contactIn = h('input', { id: 'job-contact', type: 'text', 'data-testid': 'job-contact' });
      this.noteIn = h('input', { id: 'job-note', type: 'text', 'data-testid': 'job-note' });
      const row = (id: string, key: string, input: HTMLElement) => h('div', { class: 'field' }, h('label', { for: id }, t(key)), input);
      this.form = h('form', { class: 'job-form', 'data-testid': 'job-new-form', novalidate: true },
        h('h3', null, t('job.new')),
        h('p', { id: 'job-hint', class: 'hint' }, t('job.hint')),
        h('div', { class: 'grid3' }, row('job-lat', 'job.lat', this.latIn), row('job-lon', 'job.lon', this.lonIn), row('job-coord', 'job.coordText', this.coordIn)),
        this.draftBox,
        h('div', { class: 'grid2' }, row('job-prio', 'job.priority', this.prioIn), row('job-mass', 'job.massKg', this.massIn)),
        h('details', { class: 'job-more', 'data-testid': 'job-more' },
          h('summary', null, t('job.moreDetails')),
          row('job-payload', 'job.payload', this.payloadIn),
          h('div', { class: 'grid2' }, row('job-req', 'job.requester', this.reqIn), row('job-contact', 'job.contact', this.contactIn)),
          row('job-note', 'job.note', this.noteIn)),
        h('div', { class: 'buttons' },
          h('button', { type: 'button', class: 'primary big', 'data-testid': 'btn-draft-dispatch', onclick: () => void this.createAndDispatch() }, t('job.dispatchNow')),
          h('button', { type: 'button', 'data-testid': 'btn-plan-preview', onclick: () => void this.preview() }, t('job.preview')),
          h('button', { type: 'submit', 'data-testid': 'btn-create-job' }, t('job.create')),
          h('button', { type: 'button', 'data-testid': 'btn-clear-job', onclick: () => this.clearDraft() }, t('common.clear'))),
        this.planBox);
      this.form.addEventListener('submit', (e) => {
        e.preventDefault();
        void this.create();
      });
      if (keep) this.writeForm(keep);
    }
    replaceChildren(this.el,
      this.form,
      this.detailEl,
      h('h3', null, t('job.queue')),
      this.listEl);
    this.renderDraft();
    this.renderList();
    this.renderDetail();
  }

  private readForm() {
    return { lat: this.latIn?.value, lon: this.lonIn?.value, prio: this.prioIn?.value, payload: this.payloadIn?.value, mass: this.massIn?.value, req: this.reqIn?.value, contact: this.contactIn?.value, note: this.noteIn?.value };
  }

  private writeForm(v: ReturnType<JobsPanel['readForm']>): void {
    this.latIn.value = v.lat ?? '';
    this.lonIn.value = v.lon ?? '';
    this.prioIn.value = v.prio || this.lastPriority;
    this.payloadIn.value = v.payload ?? '';
    this.massIn.value = v.mass ?? '';
    this.reqIn.value = v.req ?? '';
    this.contactIn.value = v.contact ?? '';
    this.noteIn.value = v.note ?? '';
  }

  private dropFromInputs(): [number, number] | null {
    if (!this.latIn) return null;
    const lat = Number(this.latIn.value);
    const lon = Number(this.lonIn.value);
    if (!this.latIn.value || !this.lonIn.value || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
    return [lon, lat];
  }

  // ---------------------------------------------------------------- the new job (draft)

  /** Called by the app when the map is clicked (roles that create jobs): plans at once. */
  setDrop(drop: [number, number], fillInputs = true, replanOf: string | null = null): void {
    const s = this.ctx.store;
    const p: [number, number] = [Number(drop[0].toFixed(7)), Number(drop[1].toFixed(7))];
    s.draft = { drop: p, plan: null, planError: null };
    const prev = this.draft;
    this.draft = { drop: p, seq: (prev?.seq ?? 0) + 1, planning: true, plan: null, refusal: null, error: null, vehicleId: prev?.chosen ? prev.vehicleId : null, chosen: prev?.chosen ?? false, replanOf };
    if (fillInputs && this.latIn) {
      this.latIn.value = p[1].toFixed(6);
      this.lonIn.value = p[0].toFixed(6);
    }
    this.ctx.map.setDraft(p);
    this.ctx.map.setOffendingZone(null);
    this.ctx.map.closeRefusal();
    this.renderDraft();
    void this.plan();
  }

  /** Vehicles for the new job, best first. */
  private ranking(drop: [number, number] | null): Ranked[] {
    const vl = this.ctx.map.vehicles;
    const fleet = this.ctx.store.fleetIds;
    const cands = vl.ids().filter((id) => fleet === null || fleet.has(id)).map((id) => {
      const v = vl.get(id)!;
      return { id, frame: v.frame, stale: v.stale, busyWith: this.ctx.store.activeJob(id)?.id ?? null, simulated: this.ctx.store.simVehicleIds.has(id) };
    });
    return rankVehicles(cands, drop, { minBatteryPct: this.policy.minBatteryPct, minGpsFix: this.policy.minGpsFix, simulatedOnly: this.ctx.store.me?.role === 'trainer' });
  }

  private draftVehicle(): Ranked | undefined {
    const d = this.draft;
    if (!d) return undefined;
    const ranked = this.ranking(d.drop);
    const current = d.vehicleId ? ranked.find((r) => r.id === d.vehicleId) : undefined;
    if (d.chosen && current) return current;
    // Re-planning the same drop keeps its vehicle while that one is ready.
    if (current?.ready) return current;
    return ranked.find((r) => r.ready);
  }

  /** Plans the draft from its vehicle's position (what dispatch will fly). */
  private async plan(): Promise<void> {
    const d = this.draft;
    if (!d) return;
    const seq = ++d.seq;
    const veh = this.draftVehicle();
    d.vehicleId = veh?.id ?? null;
    d.planning = true;
    this.renderDraft();
    const f = veh?.frame;
    const body: Record<string, unknown> = { drop: d.drop };
    if (f && f.lat != null && f.lon != null) body.launch = [Number(f.lon.toFixed(7)), Number(f.lat.toFixed(7))];
    const mass = this.massIn?.value ? Number(this.massIn.value) : undefined;
    if (mass != null && Number.isFinite(mass)) body.payload = { massKg: mass };
    let plan: PlanOk | null = null;
    let refusal: DraftState['refusal'] = null;
    let error: string | null = null;
    try {
      const r = await this.ctx.api.post<PlanOk | { ok: false; error: { code: string; message: string; details?: unknown } }>('/api/plans', body);
      if ((r as { ok: boolean }).ok === false) refusal = (r as { error: DraftState['refusal'] }).error;
      else plan = r as PlanOk;
    } catch (e) {
      const det = (e as ApiError).details as { code?: string; message?: string; details?: unknown } | undefined;
      if ((e as ApiError).code === 'PLAN_FAILED' && det?.code) refusal = det;
      else error = errorText(e);
    }
    if (this.draft !== d || d.seq !== seq) return;
    d.planning = false;
    d.plan = plan;
    d.refusal = refusal;
    d.error = error;
    this.ctx.store.draft = { drop: d.drop, plan, planError: refusal ? planErrorText(refusal, this.namer()) : error };
    this.ctx.map.setPlan(plan);
    this.showRefusalAtDrop();
    this.renderDraft();
  }

  /** A refusal is shown where the operator clicked, with the zone that refused it highlighted. */
  private showRefusalAtDrop(): void {
    const d = this.draft;
    if (!d || !d.refusal) {
      this.ctx.map.setOffendingZone(null);
      this.ctx.map.closeRefusal();
      return;
    }
    const det = (d.refusal.details ?? {}) as { featureIndex?: number };
    this.ctx.map.setOffendingZone(typeof det.featureIndex === 'number' ? det.featureIndex : null);
    this.ctx.map.showRefusal(d.drop[1], d.drop[0], h('div', { class: 'refusal', 'data-testid': 'drop-refusal', 'data-code': d.refusal.code ?? '' },
      h('b', null, t('job.refused')), ' ', planErrorText(d.refusal, this.namer())));
  }

  /**
   * Every second: a draft waiting for a vehicle takes the first that becomes ready (planned from it);
   * otherwise its readiness line is refreshed (not while the vehicle list is open).
   */
  private onTickDraft(): void {
    const d = this.draft;
    if (!d || d.planning || this.busy) return;
    if (!d.chosen) {
      // Sticky: the planned vehicle stays while it is ready; another is taken only when it is not.
      const ranked = this.ranking(d.drop);
      const current = d.vehicleId ? ranked.find((r) => r.id === d.vehicleId) : undefined;
      const best = ranked.find((r) => r.ready);
      if (best && !current?.ready && best.id !== d.vehicleId) {
        void this.plan();
        return;
      }
    }
    if (document.activeElement?.id !== 'draft-vehicle') this.renderDraft();
  }

  /** The zones changed under an open draft: it is planned again against them. */
  private onZonesChanged(): void {
    // the policy is versioned with the zones: a new version may name other parcel bays
    void this.loadPolicy();
    if (this.draft) void this.plan();
  }

  private clearDraft(): void {
    this.draft = null;
    this.ctx.store.draft = { drop: null, plan: null, planError: null };
    if (this.form) {
      this.form.reset();
      this.prioIn.value = this.lastPriority;
    }
    this.ctx.map.setDraft(null);
    this.ctx.map.setOffendingZone(null);
    this.ctx.map.closeRefusal();
    this.showSelectedPlan();
    this.renderDraft();
  }

  private renderDraft(): void {
    if (!this.form) return;
    const d = this.draft;
    const dispatchBtn = this.form.querySelector('[data-testid="btn-draft-dispatch"]') as HTMLButtonElement | null;
    const createBtn = this.form.querySelector('[data-testid="btn-create-job"]') as HTMLButtonElement | null;
    this.form.classList.toggle('has-draft', !!d);
    if (!d) {
      replaceChildren(this.draftBox);
      replaceChildren(this.planBox);
      if (dispatchBtn) {
        dispatchBtn.disabled = true;
        dispatchBtn.title = t('job.pickDrop');
      }
      if (createBtn) createBtn.disabled = true;
      this.draftBox.setAttribute('data-state', 'empty');
      return;
    }
    const ranked = this.ranking(d.drop);
    const veh = d.vehicleId ? ranked.find((r) => r.id === d.vehicleId) : undefined;
    const sel = h('select', { id: 'draft-vehicle', 'data-testid': 'draft-vehicle', 'aria-describedby': 'draft-readiness' },
      ranked.length ? ranked.map((r, i) => h('option', { value: r.id }, `${i === 0 && r.ready ? '★ ' : ''}${r.id} · ${this.readinessText(r)}`)) : h('option', { value: '' }, t('job.noVehicles')));
    sel.value = d.vehicleId ?? '';
    sel.addEventListener('change', () => {
      if (!this.draft) return;
      this.draft.vehicleId = sel.value || null;
      this.draft.chosen = true;
      void this.plan();
    });
    const neededS = d.plan ? (timeToDropS(d.plan) ?? 0) + DISPATCH_OVERHEAD_S : null;
    const pv = neededS != null ? promiseView({ state: 'planned', promiseBy: new Date(Date.now() + this.policy.promiseMin * 60000).toISOString(), plan: d.plan, progress: null, proofOfDrop: null }, Date.now()) : null;
    const state = d.planning ? 'planning' : d.refusal ? 'refused' : d.error ? 'error' : d.plan ? 'planned' : 'empty';
    this.draftBox.setAttribute('data-state', state);
    replaceChildren(this.draftBox,
      h('p', { class: 'draft-where' }, d.replanOf ? h('span', { class: 'tag', 'data-testid': 'draft-replan-of' }, t('job.replanOf', { id: d.replanOf })) : null,
        h('b', null, t('job.drop')), ' ', h('span', { 'data-testid': 'draft-drop' }, dropText(d.drop))),
      h('div', { class: 'field' }, h('label', { for: 'draft-vehicle' }, t('job.vehicle')), sel),
      h('p', { id: 'draft-readiness', class: veh?.ready ? 'good' : 'bad', 'data-testid': 'draft-readiness', 'data-ready': String(!!veh?.ready) },
        veh ? `${veh.ready ? t('ready.ready') : t('ready.notReady')} · ${this.readinessText(veh)}` : t('job.noReadyVehicle')),
      d.planning ? h('p', { class: 'muted', 'data-testid': 'draft-planning' }, t('job.planning')) : null,
      d.refusal ? h('p', { class: 'bad', role: 'alert', 'data-testid': 'plan-error', 'data-code': d.refusal.code ?? '' }, `${t('job.refused')} ${planErrorText(d.refusal, this.namer())}`) : null,
      d.error ? h('p', { class: 'bad', role: 'alert', 'data-testid': 'plan-error' }, d.error) : null,
      d.plan && pv ? h('p', { class: 'draft-eta', 'data-testid': 'draft-eta' },
        t('job.etaVsPromise', { eta: formatDurationS(neededS), promise: formatDurationS(this.policy.promiseMin * 60) }), ' ', promiseLine(pv, 'draft-outlook')) : null);
    if (d.plan) replaceChildren(this.planBox, h('h4', null, t('plan.preview')), planSummary(d.plan, 'plan-summary', this.namer()));
    else replaceChildren(this.planBox);
    const why = d.planning ? t('job.planning') : !d.plan ? t('job.needsPlan') : !veh ? t('job.noReadyVehicle') : !veh.ready ? this.readinessText(veh) : '';
    if (dispatchBtn) {
      dispatchBtn.disabled = !!why || this.busy || !this.ctx.caps.dispatch;
      dispatchBtn.title = why;
      dispatchBtn.textContent = veh ? t('job.dispatchTo', { v: veh.id }) : t('job.dispatchNow');
    }
    if (createBtn) createBtn.disabled = !d.plan || this.busy;
  }

  private readinessText(r: Ranked): string {
    const bits: string[] = [];
    if (r.why) bits.push(t(r.why.key, r.why.params));
    bits.push(`${t('vehicle.battery')} ${formatPct(r.batteryPct)}`);
    if (r.distanceM != null) bits.push(t('ready.distance', { d: formatDistanceM(r.distanceM) }));
    return bits.join(' · ');
  }

  private jobBody(): Record<string, unknown> | null {
    const d = this.draft;
    if (!d) return null;
    const body: Record<string, unknown> = { drop: d.drop, priority: this.prioIn.value };
    const veh = d.vehicleId ? this.ctx.map.vehicles.get(d.vehicleId)?.frame : undefined;
    if (veh && veh.lat != null && veh.lon != null) body.launch = [Number(veh.lon.toFixed(7)), Number(veh.lat.toFixed(7))];
    const desc = this.payloadIn.value.trim();
    const mass = this.massIn.value ? Number(this.massIn.value) : undefined;
    if (desc || mass != null) body.payload = { description: desc || t('job.payloadDefault'), ...(mass != null ? { massKg: mass } : {}) };
    if (this.reqIn.value.trim()) body.requester = { name: this.reqIn.value.trim(), ...(this.contactIn.value.trim() ? { contact: this.contactIn.value.trim() } : {}) };
    if (this.noteIn.value.trim()) body.note = this.noteIn.value.trim();
    if (d.replanOf) body.note = [body.note, t('job.replanNote', { id: d.replanOf })].filter(Boolean).join(' · ');
    return body;
  }

  /** Preview without a click on the map: the typed coordinates. */
  private async preview(): Promise<void> {
    const drop = this.dropFromInputs();
    if (!drop) {
      toast(t('job.badCoord'), 'error');
      return;
    }
    if (!this.draft || this.draft.drop[0] !== drop[0] || this.draft.drop[1] !== drop[1]) this.setDrop(drop, false);
    else await this.plan();
  }

  /** Creates the job (its plan is valid) and leaves it waiting in the queue. */
  private async create(): Promise<Delivery | null> {
    if (this.busy) return null;
    if (!this.draft) {
      const drop = this.dropFromInputs();
      if (!drop) {
        toast(t('job.badCoord'), 'error');
        return null;
      }
      this.setDrop(drop, false);
      return null;
    }
    if (!this.draft.plan) {
      toast(t('job.needsPlan'), 'error');
      return null;
    }
    const body = this.jobBody()!;
    const vehicleId = this.draft.vehicleId;
    this.busy = true;
    this.renderDraft();
    try {
      const d = await this.ctx.api.post<Delivery>('/api/deliveries', body);
      this.ctx.store.deliveries.set(d.id, d);
      if (vehicleId) this.dispatchVehicle.set(d.id, vehicleId);
      this.clearDraft();
      toast(t('job.created', { id: d.id }));
      this.ctx.store.emit('deliveries');
      this.ctx.store.selectJob(d.id);
      return d;
    } catch (e) {
      toast(errorText(e), 'error');
      if (this.draft) {
        this.draft.error = errorText(e);
        this.renderDraft();
      }
      return null;
    } finally {
      this.busy = false;
      this.renderDraft();
    }
  }

  /** The third click: create the planned job and dispatch it to the chosen vehicle. */
  private async createAndDispatch(): Promise<void> {
    const vehicleId = this.draft?.vehicleId;
    if (!vehicleId) return;
    const d = await this.create();
    if (d) await this.dispatch(d.id, vehicleId);
  }

  // ---------------------------------------------------------------- the queue

  private renderList(): void {
    const now = Date.now();
    const list = [...this.ctx.store.deliveries.values()].sort(queueOrder);
    const open = list.filter((d) => !TERMINAL_STATES.includes(d.state));
    const done = list.filter((d) => TERMINAL_STATES.includes(d.state)).slice(0, 15);
    const row = (d: Delivery) => {
      const st = promiseStatus(d.createdAt, d.promiseBy, now);
      const pv = promiseView(d, now);
      const terminal = TERMINAL_STATES.includes(d.state);
      const sel = this.ctx.store.selectedDelivery === d.id;
      const v = d.vehicleId && VEHICLE_JOB_STATES.has(d.state) ? vehicleView(this.ctx, d.vehicleId) : undefined;
      return h('li', null,
        h('button', {
          type: 'button', class: `job-row ${sel ? 'selected' : ''} prio-${d.priority} ${terminal ? 'terminal' : `outlook-${pv.outlook}`} ${!terminal && st.late ? 'late' : ''}`,
          'data-testid': 'job-row', 'data-id': d.id, 'data-state': d.state, 'data-outlook': terminal ? '' : pv.outlook, 'aria-pressed': String(sel),
          onclick: () => {
            this.ctx.store.selectJob(d.id);
            if (Array.isArray(d.drop)) this.ctx.map.panTo(d.drop[1], d.drop[0]);
          },
        },
        h('span', { class: `badge prio-${d.priority}` }, t(`priority.${d.priority}`)),
        h('span', { class: 'job-id' }, d.id),
        h('span', { class: `state state-${d.state}`, 'data-testid': 'job-row-state' }, t(`state.${d.state}`), d.vehicleId && !terminal ? ` · ${d.vehicleId}` : ''),
        v && v.status !== 'flying' && v.status !== 'on-ground' ? h('span', { class: 'row-status' }, statusChip(v, 'job-row-status')) : null,
        terminal ? null : separationChip(d, 'job-row-separation'),
        terminal ? null : trafficChip(d, 'job-row-traffic'),
        h('span', { class: 'zone' }, zoneName(d.sealedZone)),
        terminal ? null : this.recs.line(d.id, d.state),
        terminal ? h('span', { class: 'muted' }, formatTime(d.createdAt))
          : h('span', { class: 'promise' },
            h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${Math.min(100, Math.max(0, st.used * 100)).toFixed(0)}%` })),
            promiseLine(pv, 'job-row-promise'))));
    };
    replaceChildren(this.listEl,
      open.length ? open.map(row) : h('li', { class: 'muted' }, t('job.none')),
      done.length ? h('li', { class: 'divider' }, t('job.finished')) : null,
      done.map(row));
  }

  // ---------------------------------------------------------------- the selected job

  private showSelectedPlan(): void {
    if (this.draft?.plan) return;
    const sel = this.ctx.store.selectedDelivery ? this.ctx.store.deliveries.get(this.ctx.store.selectedDelivery) : undefined;
    this.ctx.map.setPlan(sel?.plan && (sel.plan as { ok?: boolean }).ok !== false ? (sel.plan as PlanOk) : null);
  }

  /** Fields that change every second (status since, promise) without rebuilding the card. */
  private renderLive(): void {
    const id = this.ctx.store.selectedDelivery;
    const d = id ? this.ctx.store.deliveries.get(id) : undefined;
    if (!d) return;
    const host = this.detailEl.querySelector('[data-testid="job-live"]');
    if (host) replaceChildren(host as HTMLElement, this.liveLine(d));
    this.jobControls?.refresh();
  }

  private liveLine(d: Delivery): Array<HTMLElement | string | null> {
    const v = d.vehicleId && (VEHICLE_JOB_STATES.has(d.state) || TERMINAL_STATES.includes(d.state)) ? vehicleView(this.ctx, d.vehicleId) : undefined;
    const showVehicle = v && (VEHICLE_JOB_STATES.has(d.state) || isAirborne(v.frame));
    return [
      promiseLine(promiseView(d, Date.now()), 'job-promise'),
      showVehicle ? h('span', { class: 'job-vstatus' }, ' ', statusChip(v!, 'job-vehicle-status')) : null,
      TERMINAL_STATES.includes(d.state) ? null : separationChip(d, 'job-separation'),
      TERMINAL_STATES.includes(d.state) ? null : trafficChip(d, 'job-traffic'),
    ];
  }

  private renderDetail(): void {
    const id = this.ctx.store.selectedDelivery;
    const d = id ? this.ctx.store.deliveries.get(id) : undefined;
    this.showSelectedPlan();
    this.ctx.map.setDeliveries([...this.ctx.store.deliveries.values()].filter((x) => !TERMINAL_STATES.includes(x.state) || x.id === id), id);
    if (!d) {
      this.jobControls?.setVehicle(null);
      replaceChildren(this.detailEl);
      return;
    }
    // The list carries no timelines (an empty one): the selected job is read whole once.
    if (!d.timeline?.length && !this.loadedWhole.has(d.id)) void this.loadWhole(d.id);
    const { caps } = this.ctx;
    const namer = this.namer();
    const terminal = TERMINAL_STATES.includes(d.state);
    const pf = this.preflight.get(d.id);
    const canDispatch = caps.dispatch && (d.state === 'planned' || d.state === 'approved' || d.state === 'requested' || d.state === 'ready');
    const v = d.vehicleId ? vehicleView(this.ctx, d.vehicleId) : undefined;
    // Commands aim at the job's own vehicle: while it flies the job, and after (an aborted job's vehicle may still be in the air).
    const flying = !!d.vehicleId && (VEHICLE_JOB_STATES.has(d.state) || (!!v && isAirborne(v.frame)));
    if (flying) this.jobControls?.setVehicle(d.vehicleId!);
    else this.jobControls?.setVehicle(null);
    const p = d.progress;
    let dispatchBox: HTMLElement | null = null;
    if (canDispatch) {
      const ranked = this.ranking(d.drop);
      const chosen = this.dispatchVehicle.get(d.id) ?? ranked.find((r) => r.ready)?.id ?? ranked[0]?.id ?? '';
      const vSel = h('select', { id: 'dispatch-vehicle', 'data-testid': 'dispatch-vehicle' }, ranked.map((r) => h('option', { value: r.id }, `${r.id} · ${this.readinessText(r)}`)));
      vSel.value = chosen;
      vSel.addEventListener('change', () => {
        this.dispatchVehicle.set(d.id, vSel.value);
        this.dispatchError.delete(d.id);
        this.renderDetail();
      });
      const r = ranked.find((x) => x.id === vSel.value);
      const err = this.dispatchError.get(d.id);
      const withIds = this.together.get(d.id) ?? new Set<string>();
      this.together.set(d.id, withIds);
      const picker = togetherPicker(d, this.ctx.store.deliveries.values(), withIds, () => this.renderDetail(), this.policy.parcelBays - 1);
      dispatchBox = h('div', { class: 'dispatch' },
        h('h4', null, t('job.dispatch')),
        h('div', { class: 'field' }, h('label', { for: 'dispatch-vehicle' }, t('job.vehicle')), vSel),
        r ? h('p', { class: r.ready ? 'good' : 'bad', 'data-testid': 'dispatch-readiness' }, `${r.ready ? t('ready.ready') : t('ready.notReady')} · ${this.readinessText(r)}`) : null,
        picker,
        h('div', { class: 'buttons' },
          h('button', { type: 'button', 'data-testid': 'btn-preflight', onclick: () => void this.runPreflight(d.id, vSel.value) }, t('job.preflight')),
          h('button', { type: 'button', class: 'primary', 'data-testid': 'btn-dispatch', disabled: !vSel.value || this.busy, onclick: () => void this.dispatch(d.id, vSel.value, [...withIds]) }, withIds.size > 0 ? t('sortie.dispatchBtn', { n: withIds.size + 1 }) : t('job.dispatchBtn'))),
        err ? h('p', { class: 'bad', role: 'alert', 'data-testid': 'dispatch-error' }, err) : null,
        pf ? [h('p', { class: 'muted' }, t('preflight.for', { v: pf.vehicleId })), checklist(pf.checks, pf.ok)] : null);
    }
    const returning = d.state === 'returning' || (d.state === 'delivered' && !!p);
    const home = returning ? this.wayHome(d) : null;
    const failed = d.state === 'failed' || d.state === 'aborted';
    const failureText = d.failure ? serverErrorText(d.failure.code, d.failure.message, (d.failure as { details?: unknown }).details, namer) : d.abortReason ? abortReasonText(d.abortReason) : null;
    replaceChildren(this.detailEl, h('div', { class: 'job-detail', 'data-testid': 'job-detail', 'data-id': d.id, 'data-state': d.state },
      h('h3', null, t('job.detail', { id: d.id })),
      h('p', null, h('span', { class: `state big state-${d.state}`, 'data-testid': 'job-state', 'data-state': d.state }, t(`state.${d.state}`)),
        ' ', h('span', { class: `badge prio-${d.priority}` }, t(`priority.${d.priority}`)),
        d.vehicleId ? h('span', null, ' · ', t('job.vehicle'), ' ', h('b', { 'data-testid': 'job-vehicle' }, d.vehicleId)) : null),
      h('p', { class: 'job-live', 'data-testid': 'job-live' }, this.liveLine(d)),
      flying && this.jobControls ? h('div', { class: 'job-flight', 'data-testid': 'job-flight' }, this.jobControls.el) : null,
      failed ? h('div', { class: 'job-failed', 'data-testid': 'job-failed' },
        failureText ? h('p', { class: 'bad', role: 'alert', 'data-testid': 'job-failure' }, failureText) : null,
        caps.createJobs && Array.isArray(d.drop) ? h('div', { class: 'buttons' },
          h('button', { type: 'button', class: 'primary', 'data-testid': 'btn-replan', onclick: () => this.replan(d) }, t('job.replan'))) : null) : null,
      dispatchBox,
      sortieFacts(d),
      p && !terminal && !returning ? h('div', { class: 'progress', 'data-testid': 'job-progress' },
        h('h4', null, t('job.progress')),
        h('dl', { class: 'facts' },
          h('dt', null, t('job.leg')), h('dd', null, p.leg != null ? String(p.leg) : '—'),
          h('dt', null, t('job.toDrop')), h('dd', null, formatDistanceM(p.distanceToDropM)),
          h('dt', null, t('job.eta')), h('dd', null, formatDurationS(p.etaS)))) : null,
      home ? h('div', { class: 'progress', 'data-testid': 'job-progress-home' },
        h('h4', null, t('job.wayHome')),
        h('dl', { class: 'facts' },
          h('dt', null, t('job.toHome')), h('dd', { 'data-testid': 'job-to-home' }, formatDistanceM(home.distanceM)),
          h('dt', null, t('job.etaHome')), h('dd', null, formatDurationS(home.etaS)))) : null,
      d.proofOfDrop ? h('div', { class: 'proof good', 'data-testid': 'proof-of-drop' },
        h('h4', null, t('job.proof')),
        h('p', null, t('job.proofText', { time: formatTime(d.proofOfDrop.at), lat: d.proofOfDrop.lat.toFixed(6), lon: d.proofOfDrop.lon.toFixed(6), alt: formatAltM(d.proofOfDrop.altRelM), pwm: d.proofOfDrop.servoPwm ?? '—' }))) : null,
      d.waiting && !terminal ? h('p', { class: 'warn', 'data-testid': 'job-waiting' }, t('job.waiting', { vehicle: d.waiting.vehicleId, checks: d.waiting.checks.map(preflightName).join(', '), until: formatTime(d.waiting.until) })) : null,
      h('dl', { class: 'facts' },
        h('dt', null, t('job.drop')), h('dd', { 'data-testid': 'job-drop' }, dropText(d.drop)),
        zoneName(d.sealedZone) ? [h('dt', null, t('job.zone')), h('dd', { 'data-testid': 'job-zone' }, zoneName(d.sealedZone))] : null,
        h('dt', null, t('job.createdAt')), h('dd', null, formatTime(d.createdAt)),
        h('dt', null, t('job.promise')), h('dd', null, `${formatTime(d.promiseBy)}${terminal ? '' : ` (${formatPromise(d.createdAt, d.promiseBy, Date.now())})`}`),
        d.payload?.description ? [h('dt', null, t('job.payload')), h('dd', null, `${payloadText(d.payload.description)}${d.payload.massKg != null ? ` (${d.payload.massKg} kg)` : ''}`)] : null,
        d.requester?.name ? [h('dt', null, t('job.requester')), h('dd', null, `${d.requester.name}${d.requester.contact ? ` · ${d.requester.contact}` : ''}`)] : null),
      d.plan && (d.plan as { ok?: boolean }).ok !== false ? [h('h4', null, t('plan.title')), planSummary(d.plan as PlanOk, 'job-plan-summary', namer)] : null,
      !canDispatch && d.preflight ? [h('h4', null, t('job.preflight')), checklist(d.preflight.checks ?? [], d.preflight.ok)] : null,
      h('div', { class: 'buttons' },
        caps.approve && (d.state === 'planned' || d.state === 'requested') ? h('button', { type: 'button', 'data-testid': 'btn-approve', onclick: () => void this.action(d.id, 'approve') }, t('job.approve')) : null,
        caps.dispatch && !terminal ? h('button', { type: 'button', class: 'danger-outline', 'data-testid': 'btn-abort', onclick: () => void this.abort(d.id) }, t('job.abort')) : null),
      d.timeline?.length ? h('details', { class: 'timeline', open: true },
        h('summary', null, t('job.timeline')),
        h('ol', { 'data-testid': 'job-timeline' }, d.timeline.slice(-30).map((e) => {
          const tx = timelineText(e);
          return h('li', null, h('time', null, formatTime(e.at)), ' ', h('b', null, tx.head), tx.rest ? ` ${tx.rest}` : '');
        }))) : null));
    this.jobControls?.refresh();
  }

  private loadedWhole = new Set<string>();
  private async loadWhole(id: string): Promise<void> {
    if (this.loadedWhole.has(id)) return;
    this.loadedWhole.add(id);
    try {
      const d = await this.ctx.api.get<Delivery>(`/api/deliveries/${encodeURIComponent(id)}`);
      const cur = this.ctx.store.deliveries.get(id);
      // A newer update may have arrived meanwhile: only the timeline is taken from the answer then.
      if (d?.id && (!cur || !cur.timeline?.length)) this.ctx.store.deliveries.set(id, cur && Date.parse((cur as { updatedAt?: string }).updatedAt ?? '') > Date.parse((d as { updatedAt?: string }).updatedAt ?? '') ? { ...cur, timeline: d.timeline } : d);
      this.ctx.store.emit('deliveries');
    } catch {
      /* the card shows what the list had */
      this.loadedWhole.delete(id);
    }
  }

  /** Distance and time home for a returning flight (from its vehicle's position to the launch). */
  private wayHome(d: Delivery): { distanceM: number; etaS: number | null } | null {
    const plan = d.plan as (PlanOk & { launch?: { lat: number; lon: number } }) | undefined;
    const v = d.vehicleId ? this.ctx.map.vehicles.get(d.vehicleId)?.frame : undefined;
    if (!plan?.launch || !v || v.lat == null || v.lon == null) return null;
    const distanceM = haversineM(v.lat, v.lon, plan.launch.lat, plan.launch.lon);
    return { distanceM, etaS: v.groundSpeedMps > 0.5 ? distanceM / v.groundSpeedMps : null };
  }

  /** An aborted or failed job: a new draft from it (same drop, priority, payload, requester), planned now. */
  private replan(d: Delivery): void {
    if (!this.form || !Array.isArray(d.drop)) return;
    this.prioIn.value = d.priority;
    this.lastPriority = d.priority;
    this.payloadIn.value = d.payload?.description && d.payload.description !== 'unspecified' ? d.payload.description : '';
    this.massIn.value = d.payload?.massKg != null ? String(d.payload.massKg) : '';
    this.reqIn.value = d.requester?.name ?? '';
    this.contactIn.value = d.requester?.contact ?? '';
    this.noteIn.value = d.note ?? '';
    if (this.draft) this.draft.chosen = false;
    this.setDrop([d.drop[0], d.drop[1]], true, d.id);
    this.form.scrollIntoView({ block: 'start' });
  }

  private async runPreflight(id: string, vehicleId: string): Promise<void> {
    if (!vehicleId) return;
    try {
      const r = await this.ctx.api.get<{ ok: boolean; checks: PreflightCheck[] }>(`/api/deliveries/${encodeURIComponent(id)}/preflight?vehicleId=${encodeURIComponent(vehicleId)}`);
      this.preflight.set(id, { vehicleId, ok: r.ok, checks: r.checks ?? [] });
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.renderDetail();
  }

  private async dispatch(id: string, vehicleId: string, withIds: string[] = []): Promise<void> {
    if (!vehicleId || this.busy) return;
    this.busy = true;
    this.dispatchError.delete(id);
    this.renderDetail();
    try {
      const d = await this.ctx.api.post<Delivery>(`/api/deliveries/${encodeURIComponent(id)}/dispatch`, withIds.length > 0 ? { vehicleId, with: withIds } : { vehicleId });
      if (d && d.id) this.ctx.store.deliveries.set(d.id, d);
      this.together.delete(id);
      toast(withIds.length > 0 ? t('sortie.dispatched', { ids: [id, ...withIds].join(' + '), v: vehicleId }) : t('job.dispatched', { id, v: vehicleId }));
      this.ctx.store.emit('deliveries');
      // The dispatched job and its drone are what the operator now watches (and what HOLD aims at).
      this.ctx.store.selectJob(id);
    } catch (e) {
      const det = (e as ApiError).details as { checks?: PreflightCheck[] } | PreflightCheck[] | undefined;
      const checks = Array.isArray(det) ? det : det?.checks;
      if (Array.isArray(checks)) this.preflight.set(id, { vehicleId, ok: false, checks });
      this.dispatchVehicle.set(id, vehicleId);
      this.dispatchError.set(id, errorText(e));
      toast(errorText(e), 'error');
      this.ctx.store.selectJob(id);
    } finally {
      this.busy = false;
    }
    this.ctx.store.emit('deliveries');
  }

  private async action(id: string, what: 'approve'): Promise<void> {
    try {
      const d = await this.ctx.api.post<Delivery>(`/api/deliveries/${encodeURIComponent(id)}/${what}`, {});
      if (d && d.id) this.ctx.store.deliveries.set(d.id, d);
      this.ctx.store.emit('deliveries');
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  private async abort(id: string): Promise<void> {
    if (!(await confirmDialog({ title: t('job.abortConfirm', { id }), body: t('job.abortBody'), confirmLabel: t('job.abort'), danger: true }))) return;
    try {
      const d = await this.ctx.api.post<Delivery>(`/api/deliveries/${encodeURIComponent(id)}/abort`, {});
      if (d && d.id) this.ctx.store.deliveries.set(d.id, d);
      this.ctx.store.emit('deliveries');
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }
}
