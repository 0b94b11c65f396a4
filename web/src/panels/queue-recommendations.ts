/**
 * Assisted dispatch in the queue: for every waiting job, the vehicle the server recommends
 * (GET /api/queue/recommendations), its predicted drop time against the job's promise, and its
 * reasons (ready or when, on time or late by how much, energy). Read every few seconds and whenever
 * the jobs change; a job without a recommendation says that no vehicle can fly it now.
 */
import { h } from '../dom';
import { t } from '../i18n';
import { formatTime } from '../format';
import type { Ctx } from '../context';

export interface RankReason {
  code: string;
  params: Record<string, string | number>;
}

export interface RankCandidate {
  vehicleId: string;
  eligible: boolean;
  launchAtS: number;
  dropAtS: number;
  lateByS: number;
  reasons: RankReason[];
}

export interface JobRanking {
  jobId: string;
  recommended: string | null;
  candidates: RankCandidate[];
}

const WAITING = new Set(['requested', 'planned', 'approved']);

export function reasonText(r: RankReason): string {
  const key = `rank.reason.${r.code}`;
  const s = t(key, r.params);
  return s === key ? r.code : s;
}

export class QueueRecommendations {
  private readonly byJob = new Map<string, JobRanking>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private inFlight = false;
  private again = false;

  constructor(private readonly ctx: Ctx, private readonly onChange: () => void, intervalMs = 5000) {
    ctx.store.on('deliveries', () => this.refreshIfQueued());
    this.timer = setInterval(() => this.refreshIfQueued(), intervalMs);
    this.refreshIfQueued();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private refreshIfQueued(): void {
    const queued = [...this.ctx.store.deliveries.values()].some((d) => WAITING.has(d.state));
    if (!queued) {
      if (this.byJob.size) {
        this.byJob.clear();
        this.onChange();
      }
      return;
    }
    void this.refresh();
  }

  async refresh(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    try {
      const training = this.ctx.store.me?.role === 'trainer';
      const rows = await this.ctx.api.get<JobRanking[]>(`/api/queue/recommendations${training ? '?training=true' : ''}`);
      this.byJob.clear();
      for (const r of Array.isArray(rows) ? rows : []) if (r && typeof r.jobId === 'string') this.byJob.set(r.jobId, r);
      this.onChange();
    } catch {
      // a role without the right, or the server away: no recommendations shown
    } finally {
      this.inFlight = false;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    }
  }

  /** The recommendation line of a waiting job, or null (not waiting, or not ranked yet). */
  line(jobId: string, state: string): HTMLElement | null {
    if (!WAITING.has(state)) return null;
    const r = this.byJob.get(jobId);
    if (!r) return null;
    const c = r.recommended ? r.candidates.find((x) => x.vehicleId === r.recommended) : undefined;
    if (!c) return h('span', { class: 'queue-rec none', 'data-testid': 'queue-rec', 'data-job': jobId, 'data-vehicle': '' }, t('queue.rec.none'));
    const late = c.lateByS > 0;
    return h('span', { class: `queue-rec ${late ? 'late' : 'on-time'}`, 'data-testid': 'queue-rec', 'data-job': jobId, 'data-vehicle': c.vehicleId, 'data-late': String(late) },
      h('b', { 'data-testid': 'queue-rec-vehicle' }, t('queue.rec', { v: c.vehicleId, eta: formatTime(c.dropAtS * 1000) })),
      h('span', { class: 'queue-rec-reasons', 'data-testid': 'queue-rec-reasons' }, ` · ${c.reasons.map(reasonText).join(' · ')}`));
  }
}
