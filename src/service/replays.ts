/**
 * Flight replays for the API: a recorded flight's tlog played back into the fleet as a vehicle of
 * its own, with pause, resume, step, speed, seek and stop; every replay stops when the service does.
 */
import fs from 'fs';
import type { Fleet } from '../fleet';
import type { Store } from '../store';
import type { ReplayControl } from '../server/app';
import { startReplay, type Replay } from '../../telemetry/replay';

export function createReplays(store: Store, fleet: Fleet): { control: ReplayControl; stopAll(): Promise<void> } {
  const replays = new Map<string, Replay>();
  const control: ReplayControl = {
    start: async (flightId, speed) => {
      const f = await store.getFlight(flightId);
      if (!f) return { ok: false, code: 'NOT_FOUND', message: `no flight ${flightId}`, status: 404 };
      if (!f.tlogPath || !fs.existsSync(f.tlogPath)) return { ok: false, code: 'NOT_FOUND', message: `no tlog for flight ${flightId}`, status: 404 };
      try {
        const r = await startReplay({ tlog: f.tlogPath, fleet, speed });
        replays.set(r.id, r);
        r.on('end', () => undefined);
        const vid = r.vehicleIds()[0] ?? `${r.linkId}/1`;
        return { ok: true, id: r.id, vehicleId: vid };
      } catch (e: any) {
        return { ok: false, code: e?.code ?? 'REPLAY_FAILED', message: e?.message ?? String(e), status: 422 };
      }
    },
    control: async (id, action, speed, seek) => {
      const r = replays.get(id);
      if (!r) return { ok: false, code: 'NOT_FOUND', message: `no replay ${id}`, status: 404 };
      try {
        if (action === 'pause') r.pause();
        else if (action === 'resume') r.resume();
        else if (action === 'step') r.step();
        else if (action === 'speed') {
          if (speed === undefined) return { ok: false, code: 'INVALID_BODY', message: "action 'speed' needs speed", status: 400 };
          r.setSpeed(speed);
        } else if (action === 'seek') {
          const atUs = seek?.atS !== undefined ? r.progress().startUs + BigInt(Math.round(seek.atS * 1e6)) : undefined;
          const index = seek?.index ?? (seek?.fraction !== undefined ? Math.round(seek.fraction * r.total) : atUs !== undefined ? r.indexAtUs(atUs) : undefined);
          if (index === undefined) return { ok: false, code: 'INVALID_BODY', message: "action 'seek' needs index or fraction", status: 400 };
          if (index > r.total) return { ok: false, code: 'REPLAY_INVALID_INDEX', message: `index must be 0..${r.total} (got ${index})`, status: 400 };
          r.seek(index);
        } else if (action === 'stop') {
          await r.stop();
          replays.delete(id);
        }
        return { ok: true, state: replayState(r) };
      } catch (e: any) {
        return { ok: false, code: e?.code ?? 'REPLAY_FAILED', message: e?.message ?? String(e), status: 409 };
      }
    },
    status: (id) => {
      const r = replays.get(id);
      if (!r) return { ok: false, code: 'NOT_FOUND', message: `no replay ${id}`, status: 404 };
      return { ok: true, state: replayState(r) };
    },
  };
  return {
    control,
    stopAll: async () => {
      for (const r of replays.values()) await r.stop().catch(() => undefined);
    },
  };
}

/** A replay's state as the API answers it (timeUs as a decimal string). */
function replayState(r: Replay): unknown {
  return { paused: r.paused, progress: jsonSafe(r.progress()) };
}

function jsonSafe(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}
