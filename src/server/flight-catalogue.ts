/**
 * Recorded flights as a trainer chooses one to replay: by the job it flew, the sealed zone it went to,
 * when, how long, and how the job ended (GET /api/flights). A flight without a job (flown by hand)
 * says so. Rows are the store's flights, newest first, each joined with its delivery.
 */
import type { FlightRow, Store } from '../store';

export interface FlightListing extends FlightRow {
  /** The job the flight flew, if any: its id, sealed zone name and state (its outcome once ended). */
  job: { id: string; zone: string | null; state: string; training: boolean } | null;
  /** Seconds from arming to the end of the recording (null while the flight goes on). */
  durationS: number | null;
  /** The job's state when there is one, else the flight's own (active, ended). */
  outcome: string;
}

export async function flightCatalogue(store: Store, limit = 200): Promise<FlightListing[]> {
  const flights = await store.listFlights(limit);
  return Promise.all(flights.map(async (f) => {
    const d = f.deliveryId ? await store.getDelivery(f.deliveryId) : undefined;
    const zone = d?.sealedZone && typeof d.sealedZone === 'object' && typeof d.sealedZone.name === 'string' ? d.sealedZone.name : null;
    const job = d ? { id: d.id, zone, state: d.state, training: (d as { training?: boolean }).training === true } : null;
    const started = Date.parse(f.startedAt);
    const ended = f.endedAt ? Date.parse(f.endedAt) : NaN;
    const durationS = Number.isFinite(started) && Number.isFinite(ended) ? Math.max(0, Math.round((ended - started) / 1000)) : null;
    return { ...f, job, durationS, outcome: job?.state ?? f.state };
  }));
}
