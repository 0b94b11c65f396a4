/**
 * Operator alerts as stable codes with parameters, so that consoles render them in the user's
 * language (web/i18n `alert.<code>`), and their severity reviewed in one place:
 * - critical: what needs a person now (link lost in flight, fence breached, a failsafe before the
 *   drop, a job that failed with a vehicle committed); it stays on every console until acknowledged;
 * - warning: what needs attention (a late job, a stalled mission, low battery, an abort);
 * - info: what went back to normal ("GCS Failsafe Cleared", a link regained) and routine events.
 *
 * The dispatcher (src/delivery) and the fleet watch say what happened in English; `classifyAlert`
 * reads those sentences into codes (test/unit/alerts.test.ts checks every sentence the dispatcher
 * can write is known).
 */

export type AlertLevel = 'info' | 'warning' | 'critical';

export interface AlertInfo {
  level: AlertLevel;
  code: string;
  params: Record<string, string | number>;
}

/** Every alert code the service sends (each has `alert.<code>` in every console dictionary). */
export const ALERT_CODES = [
  'delivery.failed',
  'delivery.abortedByCommand',
  'delivery.aborted',
  'delivery.completed',
  'delivery.late',
  'delivery.waitingLate',
  'delivery.waitingForVehicle',
  'delivery.notDispatched',
  'delivery.sortieFormed',
  'flight.resumed',
  'flight.leaseLost',
  'flight.landingUnconfirmed',
  'flight.failsafeMode',
  'flight.stalled',
  'link.lostInFlight',
  'link.regained',
  'link.lost',
  'link.up',
  'vehicle.modeChange',
  'vehicle.batteryLow',
  'fence.breached',
  'separation.bothHold',
  'separation.noHold',
  'separation.conflict',
  'separation.restored',
  'separation.refused',
  'separation.climb',
  'separation.unresolved',
  'separation.climbRefused',
  'traffic.threat',
  'traffic.actionSent',
  'traffic.cleared',
  'traffic.resumed',
  'traffic.refused',
  'vehicle.statustext',
  'text',
] as const;
export type AlertCode = (typeof ALERT_CODES)[number];

const DELIVERY_PATTERNS: Array<{ re: RegExp; code: AlertCode; names: string[] }> = [
  { re: /^Delivery (\S+) failed: ([A-Z_0-9]+): ([\s\S]*)$/, code: 'delivery.failed', names: ['id', 'failureCode', 'message'] },
  { re: /^Delivery (\S+) aborted: (RTL|LAND) commanded by (.+)$/, code: 'delivery.abortedByCommand', names: ['id', 'action', 'by'] },
  { re: /^Delivery (\S+) aborted: ([\s\S]*)$/, code: 'delivery.aborted', names: ['id', 'reason'] },
  { re: /^Delivery (\S+) completed$/, code: 'delivery.completed', names: ['id'] },
  { re: /^Delivery (\S+) is late against its promise \((.+)\)$/, code: 'delivery.late', names: ['id', 'promiseBy'] },
  { re: /^Delivery (\S+) \((\w+)\) is still waiting and late against its promise$/, code: 'delivery.waitingLate', names: ['id', 'priority'] },
  { re: /^Delivery (\S+) waiting for vehicle: (.+) \((\S+), up to (\S+) s\)$/, code: 'delivery.waitingForVehicle', names: ['id', 'checks', 'vehicle', 'seconds'] },
  { re: /^Delivery (\S+) not dispatched: ([\s\S]*)$/, code: 'delivery.notDispatched', names: ['id', 'reason'] },
  { re: /^Sortie (\S+) on (\S+): ([\s\S]*)$/, code: 'delivery.sortieFormed', names: ['jobs', 'vehicle', 'bays'] },
  { re: /^Resumed tracking flight (\S+) on (\S+)$/, code: 'flight.resumed', names: ['flight', 'vehicle'] },
  { re: /^Stopped following flight (\S+) on (\S+): this node lost its lease \(database connection\)$/, code: 'flight.leaseLost', names: ['flight', 'vehicle'] },
  { re: /^(\S+) stands on the ground without the mission of delivery (\S+): where the flight ended is unknown$/, code: 'flight.landingUnconfirmed', names: ['vehicle', 'id'] },
  { re: /^(\S+) switched to (\S+) before the drop$/, code: 'flight.failsafeMode', names: ['vehicle', 'mode'] },
  { re: /^Mission on (\S+) seems stalled at item (\d+)$/, code: 'flight.stalled', names: ['vehicle', 'item'] },
  { re: /^Link to (\S+) lost in flight$/, code: 'link.lostInFlight', names: ['vehicle'] },
  { re: /^Link to (\S+) regained$/, code: 'link.regained', names: ['vehicle'] },
  { re: /^(\S+) mode (\S+) → (\S+)$/, code: 'vehicle.modeChange', names: ['vehicle', 'from', 'to'] },
  { re: /^(\S+) breached the fence \(type (\S+)\)$/, code: 'fence.breached', names: ['vehicle', 'type'] },
  // tactical separation (src/delivery/separation.ts)
  { re: /^Separation: (\S+) and (\S+) (\S+) m apart at (\S+) m vertically \(predicted (\S+) m\); both hold, operator action needed$/, code: 'separation.bothHold', names: ['a', 'b', 'horizontalM', 'verticalM', 'predictedM'] },
  { re: /^Separation: (\S+) and (\S+) (\S+) m apart at (\S+) m vertically \(predicted (\S+) m\); neither can hold$/, code: 'separation.noHold', names: ['a', 'b', 'horizontalM', 'verticalM', 'predictedM'] },
  { re: /^Separation: (\S+) and (\S+) (\S+) m apart at (\S+) m vertically \(predicted (\S+) m\); (\S+) holds$/, code: 'separation.conflict', names: ['a', 'b', 'horizontalM', 'verticalM', 'predictedM', 'vehicle'] },
  { re: /^Separation restored: (\S+) continues \(([\s\S]*)\)$/, code: 'separation.restored', names: ['vehicle', 'reason'] },
  { re: /^Separation: (\S+) refused to hold \((\S+)\)$/, code: 'separation.refused', names: ['vehicle', 'result'] },
  { re: /^Separation: (\S+) and (\S+) (\S+) m apart at (\S+) m vertically \(predicted (\S+) m\); (\S+) climbs to (\S+) m$/, code: 'separation.climb', names: ['a', 'b', 'horizontalM', 'verticalM', 'predictedM', 'vehicle', 'altM'] },
  { re: /^Separation: (\S+) and (\S+) (\S+) m apart at (\S+) m vertically \(predicted (\S+) m\); no action keeps them apart, operator action needed$/, code: 'separation.unresolved', names: ['a', 'b', 'horizontalM', 'verticalM', 'predictedM'] },
  { re: /^Separation: (\S+) refused to climb \((\S+)\)$/, code: 'separation.climbRefused', names: ['vehicle', 'result'] },
  // manned aircraft (src/delivery/traffic.ts); callsigns carry no blanks (src/fleet/traffic.ts)
  { re: /^Traffic: (\S+) predicted (\S+) m from (\S+) in (\S+) s \((\S+) m vertically, (\S+) m now\); suggested action (hold|descend|land)$/, code: 'traffic.threat', names: ['callsign', 'minM', 'vehicle', 'tcaS', 'verticalM', 'distanceM', 'action'] },
  { re: /^Traffic: (\S+) predicted (\S+) m from (\S+) in (\S+) s \((\S+) m vertically, (\S+) m now\); \S+ ordered to (hold|descend|land)$/, code: 'traffic.actionSent', names: ['callsign', 'minM', 'vehicle', 'tcaS', 'verticalM', 'distanceM', 'action'] },
  { re: /^Traffic clear: (\S+) no longer threatens (\S+)$/, code: 'traffic.cleared', names: ['callsign', 'vehicle'] },
  { re: /^Traffic clear: (\S+) continues \(no threat for (\S+) s\)$/, code: 'traffic.resumed', names: ['vehicle', 'seconds'] },
  { re: /^Traffic: (\S+) refused to (hold|descend|land|continue) \((\S+)\)$/, code: 'traffic.refused', names: ['vehicle', 'action', 'result'] },
];

/**
 * Code, parameters and reviewed level of an alert sentence. `vehicleCommitted`: the job had a vehicle
 * (a job that failed before any vehicle was committed needs attention, not an emergency).
 */
export function classifyAlert(level: AlertLevel, text: string, ctx: { vehicleCommitted?: boolean } = {}): AlertInfo {
  for (const p of DELIVERY_PATTERNS) {
    const m = text.match(p.re);
    if (!m) continue;
    const params: Record<string, string | number> = {};
    p.names.forEach((n, i) => (params[n] = m[i + 1]));
    let lv = level;
    if (p.code === 'delivery.failed' && !ctx.vehicleCommitted) lv = 'warning';
    if (p.code === 'link.regained' || p.code === 'delivery.completed' || p.code === 'flight.resumed' || p.code === 'separation.restored' || p.code === 'traffic.cleared' || p.code === 'traffic.resumed') lv = 'info';
    return { level: lv, code: p.code, params };
  }
  return { level, code: 'text', params: {} };
}

/** Things that went back to normal: a vehicle saying so is news, not an alarm. */
const CLEARED = /\b(cleared|restored|resolved|recovered|regained|reconnected|back to normal|ok(ay)?)\s*[.!]?$/i;

/**
 * A vehicle's STATUSTEXT as an alert (severity 0–4 only: emergency … warning), or null when it is
 * not worth one. Severity 0–2 is critical, 3–4 a warning, and a "… Cleared" message is info.
 */
export function statusTextAlert(vehicleId: string, severity: number, text: string): (AlertInfo & { text: string }) | null {
  if (!(severity <= 4)) return null;
  const clean = text.replace(/\s+/g, ' ').trim();
  const known = STATUSTEXT_CODES.find((s) => s.re.test(clean));
  // A vehicle out of its ground station's reach is critical whatever severity the autopilot gave it
  // (ArduCopter announces its GCS failsafe at WARNING).
  const level: AlertLevel = CLEARED.test(clean) ? 'info' : severity <= 2 || (known && CRITICAL_STATUS_CODES.has(known.code)) ? 'critical' : 'warning';
  return { level, code: 'vehicle.statustext', params: { vehicle: vehicleId, text: clean, ...(known ? { statusCode: known.code } : {}) }, text: `${vehicleId}: ${clean}` };
}

/** Autopilot messages raised to critical whatever their STATUSTEXT severity. */
const CRITICAL_STATUS_CODES: ReadonlySet<string> = new Set(['gcsFailsafe', 'gcsFailsafeContinuingPilot', 'gcsFailsafeContinuingAuto', 'gcsFailsafeContinuingLanding']);

/** Autopilot messages the consoles translate (`statustext.<code>`); others are shown as the vehicle wrote them. */
export const STATUSTEXT_CODES: Array<{ re: RegExp; code: string }> = [
  { re: /^GCS Failsafe Cleared$/i, code: 'gcsFailsafeCleared' },
  { re: /^GCS Failsafe( On)?$/i, code: 'gcsFailsafe' },
  { re: /^GCS Failsafe - Continuing Pilot Control$/i, code: 'gcsFailsafeContinuingPilot' },
  { re: /^GCS Failsafe - Continuing Auto Mode$/i, code: 'gcsFailsafeContinuingAuto' },
  { re: /^GCS( \+ Battery)? Failsafe - Continuing Landing$/i, code: 'gcsFailsafeContinuingLanding' },
  { re: /^GCS Failsafe - Disarming$/i, code: 'gcsFailsafeDisarming' },
  { re: /^Radio Failsafe Cleared$/i, code: 'radioFailsafeCleared' },
  { re: /^Radio Failsafe( On)?$/i, code: 'radioFailsafe' },
  { re: /^Battery Failsafe$/i, code: 'batteryFailsafe' },
  { re: /^EKF Failsafe$/i, code: 'ekfFailsafe' },
  { re: /^EKF Failsafe Cleared$/i, code: 'ekfFailsafeCleared' },
  { re: /^Polygon fence breached$/i, code: 'fenceBreached' },
  { re: /^PreArm: /i, code: 'prearm' },
];
