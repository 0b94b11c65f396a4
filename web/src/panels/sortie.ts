/**
 * Flying jobs together (a sortie) in the job card: before dispatch, the queued jobs near this one's
 * drop that may ride in the same flight (up to three, each in its own parcel bay); after dispatch,
 * which parcel goes in which bay and the order of the drops — what the crew loads by. Text only.
 */
import { h } from '../dom';
import { t } from '../i18n';
import { formatDistanceM } from '../format';
import { haversineM } from '../geo';
import type { Delivery } from '../types';

/** Queued jobs within this distance of the drop are offered to fly together, m. */
export const TOGETHER_WITHIN_M = 2500;
/** Jobs riding with the dispatched one, at most (the planner's stops). */
export const MAX_RIDERS = 3;

/** Jobs that could fly with `d`: dispatchable, of the same kind, nearest first. */
export function togetherCandidates(d: Delivery, all: Iterable<Delivery>): Array<{ job: Delivery; distanceM: number }> {
  const out: Array<{ job: Delivery; distanceM: number }> = [];
  for (const x of all) {
    if (x.id === d.id || (x.state !== 'planned' && x.state !== 'approved') || !!x.training !== !!d.training || x.waiting) continue;
    if (!Array.isArray(x.drop) || !Array.isArray(d.drop)) continue;
    const distanceM = haversineM(d.drop[1], d.drop[0], x.drop[1], x.drop[0]);
    if (distanceM <= TOGETHER_WITHIN_M) out.push({ job: x, distanceM });
  }
  return out.sort((a, b) => a.distanceM - b.distanceM || a.job.id.localeCompare(b.job.id)).slice(0, 6);
}

/**
 * The "fly together" choice: a checkbox per nearby queued job, at most `maxRiders` ticked (the
 * vehicle profile's parcel bays less the job's own); `chosen` is kept by the caller. Nothing is
 * offered when the profile names no bay for a second parcel (the dispatch would be refused).
 */
export function togetherPicker(d: Delivery, all: Iterable<Delivery>, chosen: Set<string>, onChange: () => void, maxRiders = MAX_RIDERS): HTMLElement | null {
  const limit = Math.max(0, Math.min(MAX_RIDERS, maxRiders));
  const cands = limit > 0 ? togetherCandidates(d, all) : [];
  for (const id of [...chosen]) if (!cands.some((c) => c.job.id === id)) chosen.delete(id);
  while (chosen.size > limit) chosen.delete([...chosen].pop()!);
  if (cands.length === 0) return null;
  return h('fieldset', { class: 'together', 'data-testid': 'fly-together' },
    h('legend', null, t('sortie.flyTogether')),
    h('p', { class: 'muted' }, t('sortie.hint', { n: limit + 1 })),
    cands.map(({ job, distanceM }) => {
      const box = h('input', { type: 'checkbox', 'data-testid': 'together-job', 'data-id': job.id, value: job.id }) as HTMLInputElement;
      box.checked = chosen.has(job.id);
      box.disabled = !box.checked && chosen.size >= limit;
      box.addEventListener('change', () => {
        if (box.checked) chosen.add(job.id);
        else chosen.delete(job.id);
        onChange();
      });
      return h('label', { class: 'together-job' }, box, ' ', h('b', null, job.id), ` · ${t(`priority.${job.priority}`)} · ${formatDistanceM(distanceM)}`);
    }));
}

/** A dispatched sortie: the bays (load each parcel in its bay) and the order of the drops. */
export function sortieFacts(d: Delivery): HTMLElement | null {
  const s = d.sortie;
  if (!s) return null;
  return h('div', { class: 'sortie', 'data-testid': 'job-sortie' },
    h('h4', null, t('sortie.title', { n: s.jobs.length })),
    h('p', { class: 'muted' }, s.lead === d.id ? t('sortie.lead') : t('sortie.rider', { lead: s.lead })),
    h('ol', { class: 'sortie-bays' }, [...s.bays].sort((a, b) => a.dropOrder - b.dropOrder).map((b) =>
      h('li', { 'data-testid': 'sortie-bay', 'data-id': b.deliveryId }, t('sortie.bay', { bay: b.bay, output: b.output, id: b.deliveryId }), b.deliveryId === d.id ? h('b', null, ` ${t('sortie.thisJob')}`) : null))));
}
