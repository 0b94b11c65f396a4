/**
 * A flight giving way for separation, as its job card, its queue row and its drone's popup show it:
 * "Holding for separation with sim1/2, since 12:03:10" (or climbed to an altitude). Read from the
 * job's live progress, which the server sets while the vehicle gives way and clears when it goes on.
 */
import { h } from '../dom';
import { t } from '../i18n';
import { formatAltM, formatTime } from '../format';
import type { Delivery } from '../types';

export interface SeparationHoldView {
  givesWayTo: string;
  how: 'hold' | 'climb';
  since: string;
  toAltRelM?: number;
}

/** The job's vehicle gives way now, if it does (a job that ended never does). */
export function separationOf(d: Delivery | undefined | null): SeparationHoldView | null {
  const s = (d?.progress as { separation?: SeparationHoldView } | null | undefined)?.separation;
  if (!s || typeof s.givesWayTo !== 'string' || (s.how !== 'hold' && s.how !== 'climb')) return null;
  return s;
}

export function separationText(s: SeparationHoldView): string {
  const time = formatTime(s.since);
  return s.how === 'climb' ? t('sep.climbed', { other: s.givesWayTo, alt: formatAltM(s.toAltRelM), time }) : t('sep.holding', { other: s.givesWayTo, time });
}

/** A loud chip, or null when the job's vehicle does not give way. */
export function separationChip(d: Delivery | undefined | null, testid: string): HTMLElement | null {
  const s = separationOf(d);
  if (!s) return null;
  return h('span', { class: 'fstatus fstatus-holding separation-chip', 'data-testid': testid, 'data-how': s.how, 'data-gives-way-to': s.givesWayTo }, separationText(s));
}
