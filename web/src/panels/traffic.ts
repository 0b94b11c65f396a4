/**
 * A manned aircraft threatening a flight, as its job card, its queue row and its drone's popup show
 * it: "Aircraft HELI01: 1.80 km now, closest 950 m in 24 s — hold" (or "— ordered to hold" when the
 * policy made the action automatic). Read from the job's live progress, which the server sets while
 * the threat lasts (src/delivery/traffic.ts). The callsign is set as text only.
 */
import { h } from '../dom';
import { t } from '../i18n';
import { tr } from '../messages';
import { formatDistanceM } from '../format';
import type { Delivery } from '../types';

export interface TrafficThreatView {
  icao: string;
  callsign: string;
  distanceM: number;
  minM: number;
  tcaS: number;
  action: 'hold' | 'descend' | 'land';
  taken: 'suggested' | 'hold' | 'descend' | 'land';
  since: string;
}

/** The job's flight is threatened now, if it is. */
export function trafficOf(d: Delivery | undefined | null): TrafficThreatView | null {
  const x = (d?.progress as { traffic?: TrafficThreatView } | null | undefined)?.traffic;
  if (!x || typeof x.callsign !== 'string' || !['hold', 'descend', 'land'].includes(x.action)) return null;
  return x;
}

export function trafficText(x: TrafficThreatView): string {
  const action = tr(`traffic.action.${x.action}`) ?? x.action;
  const p = { callsign: x.callsign, distanceM: formatDistanceM(x.distanceM), minM: formatDistanceM(x.minM), tcaS: Math.round(x.tcaS), action };
  return x.taken === 'suggested' ? t('traffic.chip', p) : t('traffic.chipTaken', p);
}

/** A loud chip, or null when no aircraft threatens the job's flight. */
export function trafficChip(d: Delivery | undefined | null, testid: string): HTMLElement | null {
  const x = trafficOf(d);
  if (!x) return null;
  return h('span', { class: 'fstatus traffic-chip', 'data-testid': testid, 'data-action': x.action, 'data-taken': x.taken }, trafficText(x));
}
