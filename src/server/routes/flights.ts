/**
 * Recorded flights, their telemetry logs, and replays of them as read-only vehicles.
 */
import fs from 'fs';
import { type RouteKit } from '../api-kit';
import { Fail } from '../errors';
import * as S from '../schemas';
import { flightCatalogue } from '../flight-catalogue';

export function flightRoutes(k: RouteKit): void {
  const { route, found } = k;
  const { store } = k.deps;
  const deps = k.deps;
  // ------------------------------------------------------------------ flights
  route({ method: 'get', path: '/api/flights', summary: 'Flights, newest first, each with its job (id, sealed zone, state), duration and outcome', permission: 'read', handler: async () => ({ body: await flightCatalogue(store) }) });
  route({
    method: 'get',
    path: '/api/flights/:id',
    summary: 'One flight',
    permission: 'read',
    handler: async (c) => {
      return { body: found(await store.getFlight(String(c.req.params.id)), `flight ${c.req.params.id}`) };
    },
  });
  route({
    method: 'get',
    path: '/api/flights/:id/tlog',
    summary: 'The flight telemetry log (application/octet-stream)',
    permission: 'read',
    handler: async (c) => {
      const f = found(await store.getFlight(String(c.req.params.id)), `flight ${c.req.params.id}`);
      const p = f.tlogPath ?? deps.tlogPath?.(f.id) ?? null;
      if (!p || !fs.existsSync(p)) throw new Fail(404, 'NOT_FOUND', `no telemetry log recorded for flight ${f.id}`);
      return {
        send: (res) => {
          res.setHeader('Content-Type', 'application/octet-stream');
          res.setHeader('Content-Disposition', `attachment; filename="${f.id}.tlog"`);
          fs.createReadStream(p).pipe(res);
        },
      };
    },
  });

  // ------------------------------------------------------------------ replays and simulator
  const needReplays = () => {
    if (!deps.replays) throw new Fail(501, 'NOT_AVAILABLE', 'replay is not available in this service');
    return deps.replays;
  };
  route({
    method: 'post',
    path: '/api/replays',
    summary: 'Replay a recorded flight as a read-only vehicle',
    permission: 'replay.control',
    body: S.ReplayBody,
    audit: 'replay.start',
    handler: async (c) => {
      const r = await needReplays().start(c.body.flightId, c.body.speed ?? 1);
      if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message);
      return { status: 201, body: { id: r.id, vehicleId: r.vehicleId } };
    },
  });
  route({
    method: 'get',
    path: '/api/replays/:id',
    summary: 'A replay\'s state: {paused, progress: {index, total, timeUs}}',
    permission: 'replay.control',
    handler: (c) => {
      const rc = needReplays();
      if (!rc.status) throw new Fail(501, 'NOT_AVAILABLE', 'replay state is not available in this service');
      const r = rc.status(String(c.req.params.id));
      if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message);
      return { body: r };
    },
  });
  route({
    method: 'post',
    path: '/api/replays/:id/control',
    summary: 'Pause, resume, step, change speed, seek (to a record index or a fraction of the recording) or stop a replay; answers the replay state with its progress',
    permission: 'replay.control',
    body: S.ReplayControlBody,
    audit: 'replay.control',
    handler: async (c) => {
      const r = await needReplays().control(
        String(c.req.params.id),
        c.body.action,
        c.body.speed,
        c.body.action === 'seek' ? { index: c.body.index, fraction: c.body.fraction, atS: c.body.atS } : undefined,
      );
      if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message);
      return { body: r };
    },
  });
}
