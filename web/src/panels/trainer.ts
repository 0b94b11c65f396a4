/**
 * Trainer tools: simulated vehicles (start, stop), scenarios (chosen from a list, with their progress:
 * panels/scenarios.ts), faults (link loss, battery sag, GPS loss,
 * wind, …), and replay of a recorded flight with a timeline slider over the whole flight, in flight
 * time (m:ss since the recording began at arming): the thumb follows the replay's progress
 * (GET /api/replays/:id, polled while a replay runs); releasing it seeks the replay to that moment
 * (POST /api/replays/:id/control {action:'seek', atS}).
 */
import { h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import { formatAltM, formatDateTime, formatDurationS, formatPct, formatTime } from '../format';
import type { TelemetryFrame } from '../types';
import { ScenariosSection, scenarioTitle, type ScenarioInfo, type ScenarioProgress } from './scenarios';

interface SimInstance {
  id?: string | number;
  index?: number;
  vehicleId: string;
  sysid?: number;
  /** 'builtin', 'arducopter-sitl' or 'px4-sitl' (GET /api/sim). */
  kind?: string;
  /** Faults in force (GET /api/sim). */
  faults?: Array<{ kind: string; [k: string]: unknown }>;
  /** The scenario it runs, on its simulator's clock (GET /api/sim). */
  scenario?: ScenarioProgress | null;
}

/** A replay's progress as the API answers it (timeUs: µs since the epoch, decimal string). */
interface ReplayProgress {
  index: number;
  total: number;
  timeUs: string | number;
  /** Recorded times of the first and last record (µs, decimal strings). */
  startUs?: string | number;
  endUs?: string | number;
}

/** Seconds between two recorded times (µs as decimal strings or numbers). */
function secondsBetween(fromUs: string | number | undefined, toUs: string | number | undefined): number {
  if (fromUs == null || toUs == null) return 0;
  try {
    return Math.max(0, Number(BigInt(toUs) - BigInt(fromUs)) / 1e6);
  } catch {
    return 0;
  }
}

interface ReplayStateBody {
  state?: { paused?: boolean; progress?: ReplayProgress };
}

/** How often the replay's progress is read while a replay runs. */
const REPLAY_POLL_MS = 1000;

interface FlightRow {
  id: string;
  vehicleId?: string;
  deliveryId?: string;
  startedAt?: string;
  endedAt?: string | null;
  /** From GET /api/flights: the job flown (id, sealed zone, state), the duration and the outcome. */
  job?: { id: string; zone: string | null; state: string } | null;
  durationS?: number | null;
  outcome?: string;
}

/** Fault kinds of the built-in simulator (sims SimFault), with example parameters. */
export const FAULT_PRESETS: Record<string, Record<string, number | boolean | string>> = {
  'link-loss': {},
  'packet-loss': { pct: 20 },
  delay: { ms: 300 },
  duplicate: { pct: 10 },
  reorder: { pct: 10 },
  'gps-loss': {},
  'battery-sag': { pct: 20 },
  'battery-set': { pct: 25 },
  wind: { speedMps: 8, fromDeg: 270, gustMps: 3 },
  'release-failure': {},
  // a helicopter crossing the vehicle's track where it will be in 45 s (sims/adsb-traffic.ts)
  'adsb-traffic': { callsign: 'HELI01', speedMps: 40, crossInS: 45 },
};

export class TrainerPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-trainer' });
  private sims: SimInstance[] = [];
  /** Kinds of simulated vehicle this service can start (GET /api/sim: kinds). */
  private kinds: string[] = ['builtin'];
  private kind = 'builtin';
  private flights: FlightRow[] = [];
  private replay: { id: string; vehicleId: string; paused: boolean; speed: number } | null = null;
  /** The replay's progress, as last answered by the service. */
  private progress: ReplayProgress | null = null;
  /** Latest frame of the replayed vehicle (mode, altitude, battery in the position label). */
  private lastFrame: TelemetryFrame | null = null;
  /** Record index the slider is held at (moved, not yet released), or null when the thumb follows the replay. */
  private scrubS: number | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  /** Bumped on each seek so that an older progress answer does not move the thumb back. */
  private seekSeq = 0;
  private timeline = h('div', { class: 'timeline-box' });
  /** The fault form as the trainer left it: kept across injections and reloads of the lists. */
  private fault = { vehicleId: '', kind: 'link-loss', params: JSON.stringify(FAULT_PRESETS['link-loss']) };
  private readonly scenarios = new ScenariosSection({
    run: (name) => this.call('post', '/api/sim/scenarios', { name }, t('trainer.scenarioStarted', { n: scenarioTitle(name) })),
    readSims: async () => {
      const r = await this.ctx.api.get<{ instances: SimInstance[] }>('/api/sim');
      return Array.isArray(r?.instances) ? r.instances : [];
    },
  });

  constructor(private readonly ctx: Ctx) {
    ctx.store.on('lang', () => {
      this.slider = null;
      this.render();
    });
    ctx.store.on('sim', () => this.render());
    this.render();
  }

  /** Fed by the app with every frame batch. */
  onFrames(frames: TelemetryFrame[]): void {
    if (!this.replay) return;
    let seen = false;
    for (const f of frames) {
      if (f.id !== this.replay.vehicleId) continue;
      this.lastFrame = f;
      seen = true;
    }
    if (seen) this.renderTimeline();
  }

  /** Takes the state a replay answer carries (control or GET). */
  private applyState(body: ReplayStateBody | null | undefined): void {
    if (!this.replay || !body?.state) return;
    if (typeof body.state.paused === 'boolean') this.replay.paused = body.state.paused;
    const p = body.state.progress;
    if (p && Number.isInteger(p.index) && Number.isInteger(p.total)) this.progress = p;
  }

  private startPolling(): void {
    this.stopPolling();
    const poll = async (): Promise<void> => {
      const replay = this.replay;
      if (!replay) return this.stopPolling();
      const seq = this.seekSeq;
      try {
        const r = await this.ctx.api.get<ReplayStateBody>(`/api/replays/${encodeURIComponent(replay.id)}`);
        if (this.replay !== replay || seq !== this.seekSeq) return;
        const wasPaused = replay.paused;
        this.applyState(r);
        if (wasPaused !== replay.paused) this.render();
        else this.renderTimeline();
      } catch {
        // The replay is gone (stopped elsewhere, service restarted): keep the last known position.
        if (this.replay === replay) this.stopPolling();
      }
    };
    void poll();
    this.pollTimer = setInterval(() => void poll(), REPLAY_POLL_MS);
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  async load(): Promise<void> {
    try {
      const r = await this.ctx.api.get<{ instances: SimInstance[]; kinds?: string[] }>('/api/sim');
      this.sims = Array.isArray(r?.instances) ? r.instances : [];
      this.kinds = Array.isArray(r?.kinds) && r.kinds.length ? r.kinds.filter((k) => typeof k === 'string') : ['builtin'];
      if (!this.kinds.includes(this.kind)) this.kind = this.kinds[0];
      this.ctx.store.simVehicleIds = new Set(this.sims.map((s) => s.vehicleId));
    } catch (e) {
      toast(errorText(e), 'error');
    }
    try {
      const sc = await this.ctx.api.get<ScenarioInfo[]>('/api/sim/scenarios');
      this.scenarios.setScenarios(Array.isArray(sc) ? sc : []);
    } catch (e) {
      toast(errorText(e), 'error');
    }
    try {
      const f = await this.ctx.api.get<FlightRow[] | { flights: FlightRow[] }>('/api/flights');
      this.flights = (Array.isArray(f) ? f : f?.flights ?? []).slice().sort((a, b) => String(b.startedAt ?? '').localeCompare(String(a.startedAt ?? '')));
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.render();
    this.scenarios.setSims(this.sims);
  }

  private async call(method: 'post' | 'del', path: string, body?: unknown, okText?: string): Promise<void> {
    try {
      if (method === 'post') await this.ctx.api.post(path, body);
      else await this.ctx.api.del(path, body);
      if (okText) toast(okText);
    } catch (e) {
      toast(errorText(e), 'error');
    }
    await this.load();
  }

  private async startReplay(flightId: string, speed: number): Promise<void> {
    try {
      const r = await this.ctx.api.post<{ id: string; vehicleId: string }>('/api/replays', { flightId, speed });
      this.replay = { id: String(r.id), vehicleId: r.vehicleId, paused: false, speed };
      this.progress = null;
      this.lastFrame = null;
      this.slider = null;
      this.scrubS = null;
      this.startPolling();
      this.ctx.store.selectedVehicle = r.vehicleId;
      this.ctx.store.emit('selection');
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.render();
  }

  private async control(action: 'pause' | 'resume' | 'step' | 'speed' | 'stop', speed?: number): Promise<void> {
    if (!this.replay) return;
    try {
      const r = await this.ctx.api.post<ReplayStateBody>(`/api/replays/${encodeURIComponent(this.replay.id)}/control`, { action, ...(speed != null ? { speed } : {}) });
      if (action === 'pause') this.replay.paused = true;
      if (action === 'resume') this.replay.paused = false;
      if (action === 'speed' && speed != null) this.replay.speed = speed;
      this.applyState(r);
      if (action === 'stop') {
        this.replay = null;
        this.progress = null;
        this.stopPolling();
      }
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.render();
  }

  private slider: HTMLInputElement | null = null;
  private followBtn: HTMLButtonElement | null = null;

  /** Seeks the replay to flight time `atS` (the slider was released there). */
  private async seek(atS: number): Promise<void> {
    const replay = this.replay;
    if (!replay) return;
    const seq = ++this.seekSeq;
    try {
      const r = await this.ctx.api.post<ReplayStateBody>(`/api/replays/${encodeURIComponent(replay.id)}/control`, { action: 'seek', atS });
      if (this.replay !== replay || seq !== this.seekSeq) return;
      this.applyState(r);
      this.scrubS = null;
      if (this.followBtn) this.followBtn.hidden = true;
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.renderTimeline();
  }

  /** Builds the timeline once per replay; later answers only move its end and thumb (unless the slider is held). */
  private renderTimeline(): void {
    if (!this.replay) {
      this.slider = this.followBtn = null;
      replaceChildren(this.timeline);
      return;
    }
    const p = this.progress;
    const total = Math.ceil(secondsBetween(p?.startUs, p?.endUs));
    // At the last record the thumb is at the end (the flight's length is rounded up to whole seconds).
    const index = p && p.index >= p.total ? total : Math.floor(secondsBetween(p?.startUs, p?.timeUs));
    if (!this.slider || !this.timeline.contains(this.slider)) {
      const slider = h('input', { type: 'range', min: '0', max: String(total), value: String(index), step: '1', id: 'replay-slider', 'data-testid': 'replay-slider', 'aria-label': t('trainer.timeline') });
      slider.addEventListener('input', () => {
        this.scrubS = Number(slider.value);
        this.renderTimelineLabel();
        if (this.followBtn) this.followBtn.hidden = false;
      });
      slider.addEventListener('change', () => void this.seek(Number(slider.value)));
      const follow = h('button', { type: 'button', 'data-testid': 'replay-follow', onclick: () => {
        this.scrubS = null;
        follow.hidden = true;
        this.renderTimeline();
      } }, t('trainer.followLive'));
      follow.hidden = true;
      this.slider = slider;
      this.followBtn = follow;
      replaceChildren(this.timeline,
        h('label', { for: 'replay-slider' }, t('trainer.timeline')),
        slider,
        h('p', { class: 'muted', 'data-testid': 'replay-position' }, t('trainer.waiting')),
        follow);
    }
    this.slider.max = String(total);
    if (this.scrubS == null) this.slider.value = String(index);
    this.renderTimelineLabel();
  }

  /**
   * "m:ss / m:ss · recorded time · mode · alt · battery": flight time of the last record the replay
   * sent (since the recording began, at arming) against the whole flight. While the slider is held,
   * the moment it would seek to.
   */
  private positionText(): string {
    const p = this.progress;
    if (!p) return t('trainer.waiting');
    const whole = formatDurationS(secondsBetween(p.startUs, p.endUs));
    if (this.scrubS != null) return t('trainer.seekTo', { time: formatDurationS(this.scrubS), total: whole });
    const timeMs = Number(BigInt(p.timeUs) / 1000n);
    const f = this.lastFrame;
    const parts = [`${formatDurationS(secondsBetween(p.startUs, p.timeUs))} / ${whole}`, t('trainer.replayTime', { time: formatTime(timeMs) })];
    if (f) parts.push(f.mode ?? '—', formatAltM(f.altRelM), formatPct(f.batteryPct));
    return parts.join(' · ');
  }

  private renderTimelineLabel(): void {
    const p = this.timeline.querySelector('[data-testid="replay-position"]');
    if (p) p.textContent = this.positionText();
  }

  render(): void {
    const count = h('input', { id: 'sim-count', type: 'number', min: '1', max: '10', value: '1', 'data-testid': 'sim-count' });
    const kindSel = h('select', { id: 'sim-kind', 'data-testid': 'sim-kind' }, this.kinds.map((k) => h('option', { value: k }, t(`simKind.${k}`))));
    kindSel.value = this.kind;
    kindSel.addEventListener('change', () => (this.kind = kindSel.value));
    if (!this.sims.some((x) => x.vehicleId === this.fault.vehicleId)) this.fault.vehicleId = this.sims[0]?.vehicleId ?? '';
    const fv = h('select', { id: 'fault-vehicle', 'data-testid': 'fault-vehicle' }, this.sims.map((s) => h('option', { value: s.vehicleId }, s.vehicleId)));
    fv.value = this.fault.vehicleId;
    fv.addEventListener('change', () => (this.fault.vehicleId = fv.value));
    const fk = h('select', { id: 'fault-kind', 'data-testid': 'fault-kind' }, Object.keys(FAULT_PRESETS).map((k) => h('option', { value: k }, t(`fault.${k}`))));
    fk.value = this.fault.kind;
    const fp = h('input', { id: 'fault-params', type: 'text', class: 'mono', 'data-testid': 'fault-params', value: this.fault.params });
    fk.addEventListener('change', () => {
      this.fault.kind = fk.value;
      this.fault.params = fp.value = JSON.stringify(FAULT_PRESETS[fk.value] ?? {});
    });
    fp.addEventListener('input', () => (this.fault.params = fp.value));
    const faultBody = (): { vehicleId: string; fault: Record<string, unknown> } | null => {
      let params: Record<string, unknown> = {};
      try {
        params = fp.value.trim() ? (JSON.parse(fp.value) as Record<string, unknown>) : {};
      } catch {
        toast(t('trainer.badParams'), 'error');
        return null;
      }
      return { vehicleId: fv.value, fault: { ...params, kind: fk.value } };
    };
    const faultChip = (s: SimInstance, f: { kind: string; [k: string]: unknown }) => {
      const params = Object.entries(f).filter(([k]) => k !== 'kind').map(([k, v]) => `${k} ${String(v)}`).join(', ');
      return h('li', { class: 'fault-chip', 'data-testid': 'sim-fault', 'data-vehicle': s.vehicleId, 'data-kind': f.kind },
        t(`fault.${f.kind}`), params ? h('span', { class: 'mono' }, ` ${params}`) : null, ' ',
        h('button', { type: 'button', class: 'small', 'data-testid': 'sim-fault-clear', onclick: () => void this.call('del', '/api/sim/faults', { vehicleId: s.vehicleId, kind: f.kind }, t('trainer.cleared')) }, t('trainer.clear')));
    };
    // Replays by what they were: the job, its zone, when, and how it ended.
    // By job, zone, date, length and outcome (the flight id only as a tooltip, for support).
    const flightLabel = (f: FlightRow) => {
      const d = f.deliveryId ? this.ctx.store.deliveries.get(f.deliveryId) : undefined;
      const jobId = f.job?.id ?? f.deliveryId ?? null;
      const zone = f.job?.zone ?? (d?.sealedZone ? (typeof d.sealedZone === 'string' ? d.sealedZone : d.sealedZone.name ?? '') : '');
      const state = f.job?.state ?? d?.state;
      return [
        jobId ?? t('trainer.flightNoJob'), zone, formatDateTime(f.startedAt), f.durationS != null ? formatDurationS(f.durationS) : '',
        state ? t(`state.${state}`) : f.endedAt ? '' : t('trainer.flightActive'), f.vehicleId ?? '',
      ].filter(Boolean).join(' · ');
    };
    const flightSel = h('select', { id: 'replay-flight', 'data-testid': 'replay-flight' }, this.flights.map((f) => h('option', { value: f.id, title: f.id, 'data-job': f.job?.id ?? f.deliveryId ?? '', 'data-outcome': f.outcome ?? '' }, flightLabel(f))));
    const speed = h('input', { id: 'replay-speed', type: 'number', min: '1', max: '50', value: String(this.replay?.speed ?? 5), 'data-testid': 'replay-speed' });
    replaceChildren(this.el,
      h('h3', null, t('tab.trainer')),
      h('h4', null, t('trainer.sims'), ' ', h('button', { type: 'button', class: 'small', 'data-testid': 'sim-refresh', onclick: () => void this.load() }, t('common.refresh'))),
      h('ul', { class: 'sims', 'data-testid': 'sim-list' }, this.sims.length ? this.sims.map((s, i) => h('li', { 'data-testid': 'sim-row', 'data-id': s.vehicleId },
        `${s.vehicleId} `, h('span', { class: 'muted', 'data-testid': 'sim-kind-label' }, `${t(`simKind.${s.kind ?? 'builtin'}`)} `),
        h('button', { type: 'button', class: 'small', 'data-testid': 'sim-remove', onclick: () => void this.call('del', `/api/sim/vehicles/${s.index ?? (typeof s.id === 'number' ? s.id : i)}`, undefined, t('trainer.removed', { v: s.vehicleId })) }, t('trainer.stop')),
        s.faults?.length ? h('ul', { class: 'fault-chips', 'data-testid': 'sim-faults' }, s.faults.map((f) => faultChip(s, f))) : h('span', { class: 'muted' }, ' ', t('trainer.noFaults')))) : h('li', { class: 'muted' }, t('trainer.noSims'))),
      h('form', { class: 'inline-form', onsubmit: (e: Event) => {
        e.preventDefault();
        void this.call('post', '/api/sim/vehicles', { kind: kindSel.value, count: Math.max(1, Math.min(10, Number(count.value) || 1)) }, t('trainer.started'));
      } }, h('label', { for: 'sim-kind' }, t('trainer.kind')), kindSel, h('label', { for: 'sim-count' }, t('trainer.count')), count, h('button', { type: 'submit', 'data-testid': 'sim-add' }, t('trainer.start'))),
      this.scenarios.el,
      h('h4', null, t('trainer.faults')),
      h('div', { class: 'grid2' }, h('div', { class: 'field' }, h('label', { for: 'fault-vehicle' }, t('job.vehicle')), fv), h('div', { class: 'field' }, h('label', { for: 'fault-kind' }, t('trainer.faultKind')), fk)),
      h('div', { class: 'field' }, h('label', { for: 'fault-params' }, t('trainer.faultParams')), fp),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', class: 'warn', 'data-testid': 'fault-inject', onclick: () => {
          const b = faultBody();
          if (b && b.vehicleId) void this.call('post', '/api/sim/faults', b, t('trainer.injected', { k: t(`fault.${fk.value}`), v: fv.value }));
        } }, t('trainer.inject')),
        h('button', { type: 'button', 'data-testid': 'fault-clear', onclick: () => {
          if (fv.value) void this.call('del', '/api/sim/faults', { vehicleId: fv.value, kind: fk.value }, t('trainer.cleared'));
        } }, t('trainer.clear'))),
      h('h4', null, t('trainer.replay')),
      h('div', { class: 'grid2' }, h('div', { class: 'field' }, h('label', { for: 'replay-flight' }, t('trainer.flight')), flightSel), h('div', { class: 'field' }, h('label', { for: 'replay-speed' }, t('trainer.speed')), speed)),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', class: 'primary', 'data-testid': 'replay-start', disabled: !this.flights.length, onclick: () => void this.startReplay(flightSel.value, Math.max(1, Math.min(50, Number(speed.value) || 1))) }, t('trainer.replayStart')),
        this.replay ? [
          h('button', { type: 'button', 'data-testid': 'replay-pause', onclick: () => void this.control(this.replay!.paused ? 'resume' : 'pause') }, this.replay.paused ? t('trainer.resume') : t('trainer.pause')),
          h('button', { type: 'button', 'data-testid': 'replay-step', onclick: () => void this.control('step') }, t('trainer.step')),
          h('button', { type: 'button', 'data-testid': 'replay-speed-set', onclick: () => void this.control('speed', Math.max(1, Math.min(50, Number(speed.value) || 1))) }, t('trainer.setSpeed')),
          h('button', { type: 'button', class: 'danger-outline', 'data-testid': 'replay-stop', onclick: () => void this.control('stop') }, t('trainer.replayStop'))] : null),
      this.replay ? h('p', { 'data-testid': 'replay-status' }, t('trainer.replaying', { id: this.replay.id, v: this.replay.vehicleId })) : null,
      this.timeline);
    this.scenarios.render();
    if (this.slider) this.slider.setAttribute('aria-label', t('trainer.timeline'));
    this.renderTimeline();
  }
}
