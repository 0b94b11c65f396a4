/**
 * Flight recording in the service: the tlog recorder as the delivery manager uses it (a flight taken
 * up again records into a new file beside its first), and recording again the flights that were
 * still in the air when the service started.
 */
import type { Logger } from 'pino';
import type { Store } from '../store';
import type { FlightRecorderApi } from '../delivery';
import type { FlightRecorder } from '../../telemetry/tlog';

export function recorderForDeliveries(store: Store, recorder: FlightRecorder): FlightRecorderApi {
  return {
    start: async (vehicleId, flightId) => {
      const existing = await store.getFlight(flightId);
      const name = existing?.tlogPath ? `${flightId}.resumed-${Date.now().toString(36)}` : flightId;
      const p = recorder.start(vehicleId, name);
      if (!existing?.tlogPath) await store.updateFlight(flightId, existing?.summary ?? {}, p);
      return p;
    },
    stop: (vehicleId) => recorder.stop(vehicleId),
  };
}

/** Flights resumed at start record into a new tlog each, named in their summary (resumedTlog). */
export async function recordResumedFlights(store: Store, recorder: FlightRecorder, resumed: string[], log: Logger): Promise<void> {
  for (const fid of resumed) {
    const f = await store.getFlight(fid);
    if (f) {
      try {
        const p = recorder.start(f.vehicleId, `${f.id}.resumed-${Date.now().toString(36)}`);
        await store.updateFlight(f.id, { ...f.summary, resumedTlog: p });
      } catch (e) {
        log.warn({ err: e }, 'could not restart the recorder for a resumed flight');
      }
    }
  }
}
