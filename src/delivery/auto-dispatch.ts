/**
 * Auto-dispatch: for the priorities a supervisor switched on (policy.autoDispatch.priorities, changed
 * through the audited policy update), a queued job is dispatched to its recommended vehicle as soon as
 * that vehicle is ready, through the same dispatch (preflight, airspace slot) as a person's, with the
 * same audit row written before it (who: `auto-dispatch`, role `system`). Operational jobs only,
 * one dispatch at a time; a refused job is tried again after `retryMs`.
 */
import { z } from 'zod';
import type { AuthUser } from '../auth';
import type { JobRanking } from './ranking';
import type { Delivery, Priority } from './types';

export const AutoDispatchPolicySchema = z
  .object({
    /** Priorities dispatched automatically to the recommended vehicle (default none: a person dispatches). */
    priorities: z.array(z.enum(['urgent', 'high', 'normal'])).max(3).default([]),
  })
  .strict();

export interface AutoDispatchHooks {
  priorities(): Priority[];
  recommendations(): JobRanking[] | Promise<JobRanking[]>;
  dispatch(jobId: string, vehicleId: string, user: AuthUser): Promise<{ ok: true; value: Delivery } | { ok: false; code: string; message: string }>;
  audit(a: { action: string; vehicleId: string; deliveryId: string; params: unknown }): number | Promise<number>;
  completeAudit(id: number, outcome: unknown): void | Promise<void>;
  log: { warn(o: object, msg?: string): void };
}

const SYSTEM_USER = { id: 0, username: 'auto-dispatch', role: 'system' } as unknown as AuthUser;

export class AutoDispatcher {
  private timer: NodeJS.Timeout | null;
  private running = false;
  private readonly refusedAt = new Map<string, number>();

  constructor(private readonly h: AutoDispatchHooks, intervalMs = 1000, private readonly retryMs = 30_000) {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass: dispatch every job of an automatic priority whose recommended vehicle is ready now. */
  async tick(): Promise<void> {
    if (this.running || !this.timer) return;
    const priorities = this.h.priorities();
    if (priorities.length === 0) return;
    this.running = true;
    try {
      const now = Date.now();
      for (const r of await this.h.recommendations()) {
        if (!this.timer) return;
        if (!priorities.includes(r.priority) || !r.recommended) continue;
        if (now - (this.refusedAt.get(r.jobId) ?? -Infinity) < this.retryMs) continue;
        const c = r.candidates.find((x) => x.vehicleId === r.recommended)!;
        if (!c.eligible || c.reasons[0]?.code !== 'ready') continue; // ready now, not soon
        const auditId = await this.h.audit({ action: 'delivery.dispatch', vehicleId: c.vehicleId, deliveryId: r.jobId, params: { vehicleId: c.vehicleId, auto: true, priority: r.priority, predictedDropAt: new Date(c.dropAtS * 1000).toISOString(), lateByS: Math.round(c.lateByS) } });
        let outcome: unknown;
        try {
          const d = await this.h.dispatch(r.jobId, c.vehicleId, SYSTEM_USER);
          outcome = d.ok ? { ok: true, state: d.value.state } : { ok: false, code: d.code, message: d.message };
          if (!d.ok) this.refusedAt.set(r.jobId, Date.now());
        } catch (e) {
          outcome = { ok: false, code: 'INTERNAL', message: (e as Error).message };
          this.refusedAt.set(r.jobId, Date.now());
          this.h.log.warn({ err: e, deliveryId: r.jobId }, 'auto-dispatch failed');
        }
        await this.h.completeAudit(auditId, outcome);
        return; // one dispatch per pass: the next pass ranks again with this vehicle taken
      }
    } finally {
      this.running = false;
    }
  }
}
