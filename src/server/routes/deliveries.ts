/**
 * Delivery jobs: create, approve, dispatch (preflight, wait for a warming-up vehicle), abort, the
 * queue and its recommended vehicles.
 */
import { z } from 'zod';
import { type RouteKit, type Ctx } from '../api-kit';
import { Fail } from '../errors';
import * as S from '../schemas';

export function deliveryRoutes(k: RouteKit): void {
  const { route, trainingGuard, found, resultOf, retryAfter } = k;
  const { store, deliveries, fleet } = k.deps;
  const deps = k.deps;
  // ------------------------------------------------------------------ deliveries
  const deliveryVehicle = async (c: Ctx) => (c.body?.vehicleId as string | undefined) ?? (await store.getDelivery(String(c.req.params.id)))?.vehicleId ?? null;
  route({
    method: 'post',
    path: '/api/deliveries',
    summary: 'Request a delivery (planned at once)',
    permission: 'delivery.create',
    body: S.DeliveryBody,
    audit: 'delivery.create',
    guard: (c) => {
      if (c.body.training === false && c.user.role === 'trainer') throw new Fail(403, 'FORBIDDEN', 'trainers create training jobs only');
    },
    handler: async (c) => {
      // A trainer's jobs are training jobs: they never enter the operational queue.
      const training = c.user.role === 'trainer' || c.body.training === true;
      const d = resultOf(retryAfter(c, await deliveries.create({ ...c.body, training }, c.user)));
      return { status: 201, body: d, deliveryId: d.id, outcome: { ok: true, state: d.state, training } };
    },
  });
  route({ method: 'get', path: '/api/deliveries', summary: 'Deliveries, newest first', permission: 'read', handler: async () => ({ body: await deliveries.list() }) });
  route({
    method: 'get',
    path: '/api/deliveries/queue',
    summary: 'Operational jobs waiting for a vehicle, in dispatch order (urgent first); ?training=true: the training queue',
    permission: 'read',
    query: S.QueueQuerySchema,
    handler: async (c) => ({ body: await deliveries.queue(c.query.training === 'true') }),
  });
  route({
    method: 'get',
    path: '/api/deliveries/:id',
    summary: 'One delivery with timeline, plan and proof of drop',
    permission: 'read',
    handler: async (c) => {
      return { body: found(await deliveries.get(String(c.req.params.id)), `delivery ${c.req.params.id}`) };
    },
  });
  route({
    method: 'post',
    path: '/api/deliveries/:id/approve',
    summary: 'Approve a planned job',
    permission: 'delivery.approve',
    body: S.EmptyBody.optional(),
    audit: 'delivery.approve',
    deliveryOf: (c) => String(c.req.params.id),
    handler: async (c) => ({ body: resultOf(await deliveries.approve(String(c.req.params.id), c.user)) }),
  });
  route({
    method: 'post',
    path: '/api/deliveries/:id/dispatch',
    summary:
      'Run the preflight policy and launch the job on a vehicle (with: [ids] flies those queued jobs in the same flight, each parcel in its own bay: a sortie; 202: uploading, or job.waiting "waiting for vehicle: ekf" while a warming-up vehicle gets its GPS fix, EKF, home and pre-arm, up to the policy\'s readyWaitMs; 409 PREFLIGHT_FAILED names the failed checks)',
    permission: 'delivery.dispatch',
    body: S.DispatchBody,
    audit: 'delivery.dispatch',
    vehicleOf: (c) => c.body?.vehicleId,
    deliveryOf: (c) => String(c.req.params.id),
    guard: async (c) => {
      if (!fleet.get(c.body.vehicleId)) throw new Fail(404, 'VEHICLE_NOT_FOUND', `no vehicle ${c.body.vehicleId}`);
      const d = found(await store.getDelivery(String(c.req.params.id)), `delivery ${c.req.params.id}`);
      trainingGuard(c, d);
      if (d.training && !deps.isSimulated(c.body.vehicleId)) throw new Fail(409, 'TRAINING_NEEDS_SIMULATOR', `${d.id} is a training job: it flies on simulated vehicles only`);
      for (const other of c.body.with ?? []) trainingGuard(c, found(await store.getDelivery(other), `delivery ${other}`));
    },
    handler: async (c) => {
      const d = resultOf(retryAfter(c, await deliveries.dispatch(String(c.req.params.id), c.body.vehicleId, c.user, undefined, c.body.with)));
      return { status: 202, body: d, outcome: { ok: true, state: d.state, preflight: d.preflight?.checks.map((x) => `${x.name}:${x.ok ? 'ok' : 'fail'}`), ...(d.waiting ? { waiting: d.waiting.checks } : {}), ...(d.sortie ? { sortie: d.sortie.jobs } : {}) } };
    },
  });
  route({
    method: 'post',
    path: '/api/deliveries/:id/abort',
    summary: 'Abort a job; a vehicle committed to it flies home (RTL) or lands (land: true)',
    permission: 'delivery.abort',
    body: S.AbortBody.optional(),
    audit: 'delivery.abort',
    vehicleOf: deliveryVehicle,
    deliveryOf: (c) => String(c.req.params.id),
    guard: async (c) => trainingGuard(c, found(await store.getDelivery(String(c.req.params.id)), `delivery ${c.req.params.id}`)),
    handler: async (c) => {
      const r = resultOf(await deliveries.abort(String(c.req.params.id), c.body?.reason ?? 'aborted by ' + c.user.username, { land: !!c.body?.land, user: c.user }));
      return { body: r.delivery, outcome: { ok: true, ack: r.ack ?? null } };
    },
  });
  route({
    method: 'get',
    path: '/api/deliveries/:id/preflight',
    summary: 'Run the preflight policy without launching (?vehicleId=)',
    permission: 'read',
    query: z.object({ vehicleId: z.string().min(1).max(200) }).strict(),
    handler: async (c) => {
      const r = await deliveries.preflight(String(c.req.params.id), c.query.vehicleId);
      if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message);
      const { params: _p, gripperServo: _g, ...report } = r.value;
      return { body: report };
    },
  });

  route({
    method: 'get',
    path: '/api/queue/recommendations',
    summary: 'Assisted dispatch: for every queued job (dispatch order), the vehicles ranked by predicted drop time against the promise, with reasons and the one recommended (?training=true: the training queue)',
    permission: 'read',
    query: z.object({ training: z.enum(['true', 'false']).optional() }).strict(),
    handler: async (c) => ({ body: await deliveries.recommendations(c.query.training === 'true') }),
  });
}
