/**
 * A service node's reader of the link agents' recorded stream: the frames one vehicle sent, from a
 * moment on (src/delivery/recorded-gap.ts replays them). Vehicles behind agents have fleet ids
 * `<site>.<vehicle>/<sysid>` (src/bus/attach.ts); any other vehicle has no recording here.
 */
import type { Bus } from './bus';
import { BusError } from './bus';
import { Subjects, parseVehicleToken } from './subjects';

/** One recorded message from a vehicle (whole MAVLink frames) and when the stream stored it. */
export interface RecordedChunk {
  timeMs: number;
  data: Uint8Array;
}

/** Reads the frames a vehicle sent from `sinceMs` on (null: no recording for it); what src/delivery's tracker takes. */
export interface RecordedFramesReader {
  read(vehicleId: string, sinceMs: number): Promise<RecordedChunk[] | null>;
}

/** The site and vehicle token of a fleet vehicle id of a bus vehicle; null for any other id. */
export function busVehicleOf(vehicleId: string): { site: string; vehicle: string } | null {
  const m = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64})\/\d{1,3}$/.exec(vehicleId);
  if (!m || !parseVehicleToken(m[2])) return null;
  return { site: m[1], vehicle: m[2] };
}

export function recordedFrames(bus: Bus, subjects: Subjects = new Subjects(), limit = 200_000): RecordedFramesReader {
  return {
    async read(vehicleId: string, sinceMs: number): Promise<RecordedChunk[] | null> {
      const v = busVehicleOf(vehicleId);
      if (!v) return null;
      try {
        const msgs = await bus.readRecorded(subjects.tlogStream, subjects.vehicle(v.site, v.vehicle, 'rx'), { sinceMs, limit });
        return msgs.map((m) => ({ timeMs: m.timeMs, data: m.data }));
      } catch (e) {
        if (e instanceof BusError && e.code === 'NO_SUCH_STREAM') return null;
        throw e;
      }
    },
  };
}
