/**
 * Live telemetry fan-out over WebSocket (`ws`, path `/ws`), per the HTTP/WS contract.
 *
 * - Authenticated at the HTTP upgrade: `authenticate(req)` → Viewer or null; null answers
 *   `401` before any WebSocket exists.
 * - Per-viewer subscription: vehicles ('all' or a list), deliveries, alerts; per-viewer rate
 *   `rateHz` (1..maxRateHz, default 5) = the most frames per second the viewer receives for any one
 *   vehicle, enforced by a token bucket per (viewer, vehicle) holding `burstFrames` (default 2): in
 *   any window of W ms a viewer gets at most burstFrames + W·rateHz/1000 frames of one vehicle. The
 *   small burst lets a heartbeat-triggered state and the next position go out without waiting. A
 *   frame that changes nothing urgent (position, mode, arming, landed state, link, staleness; e.g. a
 *   heartbeat or a battery reading) takes a token only when the bucket is full, so a vehicle sending
 *   positions at the viewer's rate never has a position wait behind it; the change rides with the
 *   next frame (each frame carries the whole state).
 * - Coalescing: each viewer holds at most one pending frame per vehicle (the latest); a newer state
 *   replaces an unsent one (counted in framesDropped). Frames go out in rounds at most
 *   `frameRoundMs` apart (default 10 ms): a frame allowed by its vehicle's interval goes out at the
 *   end of the current event-loop turn when the last round is that long past, otherwise with the next
 *   round. Frames due together go out in one `{type:'frames'}` message per viewer per round, encoded
 *   once and shared by viewers that receive the same set; so a viewer gets at most 1000/frameRoundMs
 *   messages a second however many vehicles it watches.
 * - Backpressure: when a viewer's `ws.bufferedAmount` exceeds `maxBufferedBytes` nothing more is
 *   queued on its socket; its pending frames keep coalescing and go out once it drains. A stalled
 *   viewer therefore costs a bounded amount of memory and never delays the others.
 * - Ping every `pingIntervalMs`; a viewer that has not answered the previous ping is terminated.
 * - Incoming messages are limited to `maxIncomingBytes` (ws maxPayload → close 1009); malformed
 *   messages get `{type:'error'}` and close 1008. Nothing else is affected.
 *
 * The public types are in hub-types.ts (re-exported here), the buckets and the round's message in
 * pacing.ts; this file holds the connections, subscriptions and rounds.
 */
import type * as http from 'http';
import type { Duplex } from 'stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { z } from 'zod';
import type { FleetHandle, VehicleState } from '../src/fleet/types';
import { systemClock, type TimerHandle } from '../src/vehicle/clock';
import { toFrame, FRAME_VERSION, DEFAULT_STALE_AFTER_MS, isReplayLinkId } from './frame';
import { SilenceJudge, SILENCE_MIN_MS } from './silence';
import { dueAt, encodeFrames, takeDue as takeDueOf, tokens, type Entry, type Pace } from './pacing';
import { CLOSE_SESSION_ENDED, TelemetryHubError, type Alert, type TelemetryHub, type TelemetryHubOptions, type TelemetryHubStats, type Viewer } from './hub-types';

export * from './hub-types';

interface Known {
  state: VehicleState;
  replay: boolean;
  entry: Entry;
  stale: boolean;
  /** What of its last frame makes a change urgent (`urgentKey`). */
  key: string;
}

/** The part of a vehicle's state whose change a viewer must see without waiting. */
function urgentKey(s: VehicleState, stale: boolean): string {
  const p = s.position;
  return `${p ? `${p.lat},${p.lon},${p.altRelM}` : '-'}|${s.mode}|${s.armed ? 1 : 0}|${s.landedState}|${s.connected ? 1 : 0}|${stale ? 1 : 0}`;
}

/**
 * Viewers subscribed to every vehicle at the same rate (the console's subscription) share one Pace:
 * each frame is offered once to the group, not once per viewer, and a round's message is built once
 * for all of them. A member whose socket falls behind (bufferedAmount above maxBufferedBytes) leaves
 * the group with the latest frame of every vehicle pending on its own Pace, and joins again once it
 * has caught up (nothing of its own pending).
 */
interface Group extends Pace {
  kind: 'group';
  key: string;
  members: Set<Conn>;
}

interface Conn extends Pace {
  kind: 'conn';
  id: number;
  ws: WebSocket;
  viewer: Viewer;
  subscribed: boolean;
  all: boolean;
  vehicles: Set<string>;
  deliveries: boolean;
  alerts: boolean;
  /** The group this viewer's subscription belongs in (null: a list of vehicles, paced on its own). */
  groupKey: string | null;
  /** The group it is in now; null while it is paced on its own (subscribing, or catching up). */
  group: Group | null;
  pendingDeliveries: Map<string, Buffer>;
  pendingAlerts: Buffer[];
  alive: boolean;
  framesSent: number;
  framesDropped: number;
}

const subscribeSchema = z
  .object({
    type: z.literal('subscribe'),
    vehicles: z.union([z.literal('all'), z.array(z.string().min(1).max(200)).max(1000)]),
    deliveries: z.boolean().optional(),
    alerts: z.boolean().optional(),
    rateHz: z.number().min(1).optional(),
  })
  .strict();

/** Close reasons must fit in 123 bytes. */
function reason(s: string): string {
  return Buffer.byteLength(s) <= 123 ? s : Buffer.from(s).subarray(0, 120).toString('utf8').replace(/\uFFFD+$/, '');
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

export function createTelemetryHub(opts: TelemetryHubOptions): TelemetryHub {
  const wsPath = opts.path ?? '/ws';
  const defaultRateHz = opts.defaultRateHz ?? 5;
  const maxRateHz = opts.maxRateHz ?? 20;
  const burstFrames = opts.burstFrames ?? 2;
  const maxIncomingBytes = opts.maxIncomingBytes ?? 4096;
  const maxBufferedBytes = opts.maxBufferedBytes ?? 1024 * 1024;
  const pingIntervalMs = opts.pingIntervalMs ?? 15000;
  const staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const maxViewers = opts.maxViewers ?? 1000;
  const forgetAfterMs = opts.forgetAfterMs ?? 600_000;
  const maxPendingDeliveries = opts.maxPendingDeliveries ?? 256;
  const maxPendingAlerts = opts.maxPendingAlerts ?? 100;
  const clock = opts.clock ?? systemClock;
  const frameRoundMs = opts.frameRoundMs ?? 10;
  const silence = new SilenceJudge(opts.silence === false ? { minMs: staleAfterMs, maxMs: staleAfterMs } : { ...opts.silence, maxMs: staleAfterMs });
  /** The vehicle's stale threshold now, having noted when it was last heard. */
  const thresholdOf = (state: VehicleState, now: number): number => {
    silence.observe(state.id, state.lastSeenMs);
    return silence.thresholdMs(state.id, now);
  };
  if (typeof opts.authenticate !== 'function') throw new TelemetryHubError('HUB_INVALID_OPTIONS', 'authenticate(req) is required');
  if (!(defaultRateHz >= 1 && maxRateHz >= defaultRateHz)) throw new TelemetryHubError('HUB_INVALID_OPTIONS', 'need 1 ≤ defaultRateHz ≤ maxRateHz');
  if (!(burstFrames >= 1)) throw new TelemetryHubError('HUB_INVALID_OPTIONS', 'burstFrames must be ≥ 1');
  if (!(frameRoundMs >= 0 && frameRoundMs <= 1000)) throw new TelemetryHubError('HUB_INVALID_OPTIONS', 'frameRoundMs must be within 0..1000');
  if (!(maxIncomingBytes > 0 && maxBufferedBytes > 0 && pingIntervalMs > 0)) throw new TelemetryHubError('HUB_INVALID_OPTIONS', 'sizes and intervals must be > 0');

  const wss = new WebSocketServer({ noServer: true, maxPayload: maxIncomingBytes, perMessageDeflate: false, clientTracking: false });
  const conns = new Set<Conn>();
  const known = new Map<string, Known>();
  const servers = new Map<http.Server, (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void>();
  const fleets = new Map<FleetHandle, { state: (s: VehicleState) => void; lost: (id: string) => void; found: (id: string) => void }>();
  const dirty = new Set<Conn | Group>();
  const groups = new Map<string, Group>();
  let flushScheduled = false;
  let flushTimer: TimerHandle | null = null;
  /** When the last round of frames went out (frameRoundMs). */
  let lastRoundMs = -Infinity;
  let closed = false;
  let nextConnId = 1;
  let nextEntry = 1;
  let nextAlert = 1;
  const st: TelemetryHubStats = {
    viewers: 0, framesSent: 0, framesDropped: 0, messagesSent: 0, bytesSent: 0, backpressureSkips: 0,
    deliveriesSent: 0, deliveriesDropped: 0, alertsSent: 0, alertsDropped: 0, refused: 0, closedForBadInput: 0, closedDead: 0, vehicles: 0,
  };

  // ---------------------------------------------------------------- sending

  function sendRaw(c: Conn, data: Buffer): void {
    c.ws.send(data, { binary: false });
    st.messagesSent++;
    st.bytesSent += data.length;
  }

  function sendJson(c: Conn, obj: unknown): void {
    if (c.ws.readyState === WebSocket.OPEN) sendRaw(c, Buffer.from(JSON.stringify(obj)));
  }

  function wants(c: Conn, id: string): boolean {
    return c.subscribed && (c.all || c.vehicles.has(id));
  }

  function schedule(p: Conn | Group, atMs: number): void {
    if (p.timer !== null) {
      if (p.timerAtMs <= atMs) return;
      clock.clearTimeout(p.timer);
    }
    p.timerAtMs = atMs;
    p.timer = clock.setTimeout(() => {
      p.timer = null;
      dirty.add(p);
      scheduleFlush();
    }, Math.max(0, atMs - clock.now()));
  }

  /** The next round of sends: at the end of this turn, or frameRoundMs after the last round. */
  function scheduleFlush(): void {
    if (flushScheduled || closed) return;
    flushScheduled = true;
    const wait = lastRoundMs + frameRoundMs - clock.now();
    if (wait <= 0) setImmediate(flushAll);
    else flushTimer = clock.setTimeout(flushAll, wait);
  }

  /** Offer a frame to one viewer or group: replace any unsent one, send now or when its bucket allows. */
  function offer(p: Conn | Group, e: Entry, now: number): void {
    if (p.pending.has(e.id)) {
      if (p.kind === 'conn') {
        p.framesDropped++;
        st.framesDropped++;
      } else {
        for (const c of p.members) c.framesDropped++;
        st.framesDropped += p.members.size;
      }
    }
    p.pending.set(e.id, e);
    if (!e.lazy) p.urgent.add(e.id);
    const due = dueAt(p, tokens(p, e.id, now, burstFrames), burstFrames, !p.urgent.has(e.id));
    if (due <= now) {
      dirty.add(p);
      scheduleFlush();
    } else schedule(p, due);
  }

  /** The frames of `p` due now (their tokens taken); the next due time is scheduled. */
  function takeDue(p: Conn | Group, now: number): Entry[] {
    const { out, nextDue } = takeDueOf(p, now, burstFrames);
    if (nextDue < Infinity) schedule(p, nextDue);
    return out;
  }

  /** A viewer paced on its own (subscribing, or behind) joins its group once nothing of its own is pending. */
  function maybeJoin(c: Conn): void {
    if (c.group || c.groupKey === null || c.pending.size > 0 || c.ws.readyState !== WebSocket.OPEN || c.ws.bufferedAmount > maxBufferedBytes / 2) return;
    let g = groups.get(c.groupKey);
    if (!g) {
      g = { kind: 'group', key: c.groupKey, members: new Set(), rateHz: c.rateHz, minIntervalMs: c.minIntervalMs, buckets: new Map(), pending: new Map(), urgent: new Set(), timer: null, timerAtMs: 0 };
      groups.set(g.key, g);
    }
    g.members.add(c);
    c.group = g;
    c.buckets.clear();
    c.urgent.clear();
  }

  /** Out of its group (subscribing again, closing, or falling behind); the group goes with its last member. */
  function leaveGroup(c: Conn): void {
    const g = c.group;
    if (!g) return;
    c.group = null;
    g.members.delete(c);
    if (g.members.size > 0) return;
    groups.delete(g.key);
    dirty.delete(g);
    if (g.timer !== null) clock.clearTimeout(g.timer);
    g.timer = null;
  }

  /** A member whose socket is behind: paced on its own from here, the latest frame of every vehicle pending. */
  function fallBehind(c: Conn, now: number): void {
    leaveGroup(c);
    for (const k of known.values()) {
      c.pending.set(k.state.id, k.entry);
      c.urgent.add(k.state.id);
    }
    st.backpressureSkips++;
    schedule(c, now + c.minIntervalMs);
  }

  function flushGroup(g: Group, now: number, shared: Map<string, Buffer>): void {
    const out = takeDue(g, now);
    if (out.length === 0) return;
    const buf = encodeFrames(out, now, shared);
    for (const c of [...g.members]) {
      if (c.ws.readyState !== WebSocket.OPEN) continue;
      if (c.ws.bufferedAmount > maxBufferedBytes) {
        fallBehind(c, now);
        continue;
      }
      sendRaw(c, buf);
      c.framesSent += out.length;
      st.framesSent += out.length;
    }
  }

  function flushAll(): void {
    flushScheduled = false;
    flushTimer = null;
    if (dirty.size === 0 || closed) return;
    const now = clock.now();
    lastRoundMs = now;
    const shared = new Map<string, Buffer>();
    const list = [...dirty];
    dirty.clear();
    for (const p of list) {
      if (p.kind === 'group') flushGroup(p, now, shared);
      else flushConn(p, now, shared);
    }
  }

  function flushConn(c: Conn, now: number, shared: Map<string, Buffer>): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    if (c.ws.bufferedAmount > maxBufferedBytes) {
      st.backpressureSkips++;
      schedule(c, now + c.minIntervalMs);
      return;
    }
    if (c.pendingDeliveries.size > 0) {
      for (const b of c.pendingDeliveries.values()) {
        sendRaw(c, b);
        st.deliveriesSent++;
      }
      c.pendingDeliveries.clear();
    }
    if (c.pendingAlerts.length > 0) {
      for (const b of c.pendingAlerts) {
        sendRaw(c, b);
        st.alertsSent++;
      }
      c.pendingAlerts = [];
    }
    const out = takeDue(c, now);
    if (out.length > 0) {
      sendRaw(c, encodeFrames(out, now, shared));
      c.framesSent += out.length;
      st.framesSent += out.length;
    }
    maybeJoin(c);
  }

  // ---------------------------------------------------------------- publishing

  function makeEntry(state: VehicleState, replay: boolean, now: number, th = thresholdOf(state, now), lazy = false): Entry {
    const f = toFrame(state, now, { staleAfterMs: th, replay });
    return { n: nextEntry++, id: state.id, json: JSON.stringify(f), lazy };
  }

  function publish(state: VehicleState, replay: boolean): void {
    if (closed) return;
    const now = clock.now();
    const th = thresholdOf(state, now);
    const stale = !state.connected || now - state.lastSeenMs > th;
    const key = urgentKey(state, stale);
    const k = known.get(state.id);
    const entry = makeEntry(state, replay, now, th, !!k && k.key === key);
    if (k) {
      k.state = state;
      k.replay = replay;
      k.entry = entry;
      k.stale = stale;
      k.key = key;
    } else {
      known.set(state.id, { state, replay, entry, stale, key });
      st.vehicles = known.size;
    }
    for (const g of groups.values()) offer(g, entry, now);
    for (const c of conns) if (!c.group && wants(c, state.id)) offer(c, entry, now);
  }

  function forget(id: string): void {
    silence.forget(id);
    if (!known.delete(id)) return;
    st.vehicles = known.size;
    for (const p of [...conns, ...groups.values()]) {
      p.buckets.delete(id);
      p.pending.delete(id);
      p.urgent.delete(id);
    }
  }

  // Often enough that a vehicle is flagged within a tenth of the shortest threshold of falling silent.
  const staleSweepMs = Math.max(50, Math.min(1000, Math.min(staleAfterMs, opts.silence === false ? staleAfterMs : opts.silence?.minMs ?? SILENCE_MIN_MS) / 10));
  let sweepTimer: TimerHandle | null = null;
  function sweep(): void {
    sweepTimer = null;
    if (closed) return;
    const now = clock.now();
    for (const k of [...known.values()]) {
      if (!k.stale && (!k.state.connected || now - k.state.lastSeenMs > thresholdOf(k.state, now))) publish(k.state, k.replay);
      else if (k.stale && now - k.state.lastSeenMs > forgetAfterMs) forget(k.state.id);
    }
    sweepTimer = clock.setTimeout(sweep, staleSweepMs);
  }
  sweepTimer = clock.setTimeout(sweep, staleSweepMs);

  let pingTimer: TimerHandle | null = null;
  function pingAll(): void {
    pingTimer = null;
    if (closed) return;
    for (const c of conns) {
      if (!c.alive) {
        st.closedDead++;
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        /* socket already closing */
      }
    }
    pingTimer = clock.setTimeout(pingAll, pingIntervalMs);
  }
  pingTimer = clock.setTimeout(pingAll, pingIntervalMs);

  // ---------------------------------------------------------------- connections

  function refuse(socket: Duplex, status: number, text: string, code: string, message: string): void {
    st.refused++;
    const body = JSON.stringify({ error: { code, message } });
    if (socket.writable) {
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  function closeBad(c: Conn, code: 1008 | 1009, errCode: string, message: string): void {
    st.closedForBadInput++;
    sendJson(c, { type: 'error', code: errCode, message });
    c.ws.close(code, reason(message));
    // A peer that never completes the closing handshake is cut off.
    setTimeout(() => c.ws.terminate(), 2000).unref();
  }

  function onMessage(c: Conn, data: RawData, isBinary: boolean): void {
    if (isBinary) return closeBad(c, 1008, 'INVALID_MESSAGE', 'binary messages are not accepted');
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return closeBad(c, 1008, 'INVALID_MESSAGE', 'message is not valid JSON');
    }
    const parsed = subscribeSchema.safeParse(msg);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const where = first && first.path.length ? first.path.join('.') + ': ' : '';
      return closeBad(c, 1008, 'INVALID_MESSAGE', `invalid message: ${where}${first ? first.message : 'unexpected shape'}`);
    }
    const m = parsed.data;
    const rateHz = m.rateHz ?? defaultRateHz;
    if (rateHz > maxRateHz) return closeBad(c, 1008, 'INVALID_MESSAGE', `rateHz must be 1..${maxRateHz}`);
    leaveGroup(c);
    c.subscribed = true;
    c.all = m.vehicles === 'all';
    c.groupKey = c.all ? `all@${rateHz}` : null;
    c.vehicles = new Set(m.vehicles === 'all' ? [] : m.vehicles);
    c.deliveries = m.deliveries ?? false;
    c.alerts = m.alerts ?? false;
    c.rateHz = rateHz;
    c.minIntervalMs = 1000 / rateHz;
    if (!c.deliveries) c.pendingDeliveries.clear();
    if (!c.alerts) c.pendingAlerts = [];
    for (const id of [...c.pending.keys()]) if (!wants(c, id)) {
      c.pending.delete(id);
      c.urgent.delete(id);
    }
    for (const id of [...c.buckets.keys()]) if (!wants(c, id)) c.buckets.delete(id);
    // Current state of every subscribed vehicle right away.
    const now = clock.now();
    for (const k of known.values()) {
      if (wants(c, k.state.id)) {
        c.pending.set(k.state.id, makeEntry(k.state, k.replay, now));
        c.urgent.add(k.state.id); // the current state on subscribing goes at once
        c.buckets.delete(k.state.id);
      }
    }
    if (c.pending.size > 0) {
      dirty.add(c);
      scheduleFlush();
    } else maybeJoin(c);
  }

  function revalidate(): number {
    let n = 0;
    const end = (c: Conn) => {
      if (c.ws.readyState !== WebSocket.OPEN) return false;
      c.ws.close(CLOSE_SESSION_ENDED, 'session ended');
      setTimeout(() => c.ws.terminate(), 1000).unref();
      return true;
    };
    for (const c of conns) {
      let live: boolean | Promise<boolean> = true;
      try {
        live = c.viewer.stillValid ? c.viewer.stillValid() : true;
      } catch {
        live = false;
      }
      // A session kept in a shared store is checked asynchronously: the viewer is dropped when the answer comes.
      if (typeof live !== 'boolean') void live.then((ok) => ok || end(c), () => end(c));
      else if (!live && end(c)) n++;
    }
    return n;
  }
  // Sessions also end where no event reaches this process (expiry; the CLI disabling a user).
  const sessionTimer = setInterval(revalidate, opts.sessionCheckMs ?? 1000);
  sessionTimer.unref();

  function onConnection(ws: WebSocket, viewer: Viewer): void {
    const c: Conn = {
      kind: 'conn', id: nextConnId++, ws, viewer, subscribed: false, all: false, vehicles: new Set(), deliveries: false, alerts: false, groupKey: null, group: null,
      rateHz: defaultRateHz, minIntervalMs: 1000 / defaultRateHz, buckets: new Map(), pending: new Map(), urgent: new Set(),
      pendingDeliveries: new Map(), pendingAlerts: [], timer: null, timerAtMs: 0, alive: true, framesSent: 0, framesDropped: 0,
    };
    conns.add(c);
    st.viewers = conns.size;
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('message', (data, isBinary) => onMessage(c, data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the connection itself (1009 for WS_ERR_UNSUPPORTED_MESSAGE_LENGTH, 1002/1007 otherwise).
      st.closedForBadInput++;
      void err;
    });
    ws.on('close', () => {
      conns.delete(c);
      dirty.delete(c);
      leaveGroup(c);
      st.viewers = conns.size;
      if (c.timer !== null) clock.clearTimeout(c.timer);
      c.timer = null;
      c.pending.clear();
      c.urgent.clear();
      c.pendingDeliveries.clear();
      c.pendingAlerts = [];
    });
    sendJson(c, { type: 'hello', v: FRAME_VERSION, user: { username: viewer.username, role: viewer.role }, serverTimeMs: clock.now() });
  }

  function onUpgrade(server: http.Server, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (pathOf(req.url) !== wsPath) {
      // Another listener may own this path; if nobody does, do not leave the socket hanging.
      if (server.listenerCount('upgrade') <= 1) refuse(socket, 404, 'Not Found', 'NOT_FOUND', `no WebSocket endpoint at ${pathOf(req.url)}`);
      return;
    }
    socket.on('error', () => socket.destroy());
    if (closed) return refuse(socket, 503, 'Service Unavailable', 'UNAVAILABLE', 'telemetry hub is closed');
    if (conns.size >= maxViewers) return refuse(socket, 503, 'Service Unavailable', 'TOO_MANY_VIEWERS', `at most ${maxViewers} viewers`);
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    if (opts.allowOrigin && !opts.allowOrigin(origin, req)) return refuse(socket, 403, 'Forbidden', 'ORIGIN_NOT_ALLOWED', 'WebSocket connections from this origin are not allowed');
    opts.authenticate(req).then(
      (viewer) => {
        if (!viewer) return refuse(socket, 401, 'Unauthorized', 'UNAUTHENTICATED', 'a valid session is required');
        if (closed || socket.destroyed) return refuse(socket, 503, 'Service Unavailable', 'UNAVAILABLE', 'telemetry hub is closed');
        wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, viewer));
      },
      () => refuse(socket, 500, 'Internal Server Error', 'INTERNAL', 'authentication failed'),
    );
  }

  // ---------------------------------------------------------------- API

  return {
    attach(server) {
      if (closed) throw new TelemetryHubError('HUB_CLOSED', 'telemetry hub is closed');
      if (servers.has(server)) return;
      const h = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => onUpgrade(server, req, socket, head);
      servers.set(server, h);
      server.on('upgrade', h);
    },

    addFleet(fleet, fopts = {}) {
      if (closed) throw new TelemetryHubError('HUB_CLOSED', 'telemetry hub is closed');
      if (fleets.has(fleet)) return;
      const replay = fopts.replay ?? false;
      const l = {
        state: (s: VehicleState) => publish(s, replay || isReplayLinkId(s.linkId)),
        lost: (id: string) => {
          const v = fleet.get(id);
          if (v) publish(v.state, replay || isReplayLinkId(v.state.linkId));
          // Gone from the fleet (its link removed: a replay that ended, a stopped simulator): forgotten
          // here too, so that a new viewer is not handed its last frame.
          else forget(id);
        },
        found: (id: string) => {
          const v = fleet.get(id);
          if (v) publish(v.state, replay || isReplayLinkId(v.state.linkId));
        },
      };
      fleets.set(fleet, l);
      fleet.on('state', l.state);
      fleet.on('lost', l.lost);
      fleet.on('found', l.found);
      for (const v of fleet.vehicles()) l.state(v.state);
    },

    removeFleet(fleet) {
      const l = fleets.get(fleet);
      if (!l) return;
      fleets.delete(fleet);
      fleet.off('state', l.state);
      fleet.off('lost', l.lost);
      fleet.off('found', l.found);
    },

    publishState(state, o = {}) {
      publish(state, o.replay ?? isReplayLinkId(state.linkId));
    },

    publishDelivery(delivery) {
      if (closed) return;
      const buf = Buffer.from(JSON.stringify({ type: 'delivery', delivery }));
      const id = String((delivery as { id?: unknown }).id ?? `anon-${nextEntry++}`);
      for (const c of conns) {
        if (!c.subscribed || !c.deliveries || c.ws.readyState !== WebSocket.OPEN) continue;
        if (c.pendingDeliveries.size === 0 && c.ws.bufferedAmount <= maxBufferedBytes) {
          sendRaw(c, buf);
          st.deliveriesSent++;
          continue;
        }
        // Keep only the latest update per delivery, in arrival order.
        if (c.pendingDeliveries.delete(id)) st.deliveriesDropped++;
        c.pendingDeliveries.set(id, buf);
        if (c.pendingDeliveries.size > maxPendingDeliveries) {
          const oldest = c.pendingDeliveries.keys().next().value as string;
          c.pendingDeliveries.delete(oldest);
          st.deliveriesDropped++;
        }
        schedule(c, clock.now() + c.minIntervalMs);
      }
    },

    publishAlert(input) {
      if (closed) throw new TelemetryHubError('HUB_CLOSED', 'telemetry hub is closed');
      if (!input || !['info', 'warning', 'critical'].includes(input.level) || typeof input.text !== 'string' || input.text.length === 0) {
        throw new TelemetryHubError('HUB_INVALID_ALERT', "alert needs level 'info'|'warning'|'critical' and a non-empty text");
      }
      const alert: Alert = { id: input.id ?? `a${nextAlert++}`, at: input.at ?? new Date(clock.now()).toISOString(), level: input.level, text: input.text };
      if (input.vehicleId !== undefined) alert.vehicleId = input.vehicleId;
      if (input.deliveryId !== undefined) alert.deliveryId = input.deliveryId;
      if (input.code !== undefined) alert.code = input.code;
      if (input.params !== undefined) alert.params = input.params;
      if (input.ackedAt !== undefined) (alert.ackedAt = input.ackedAt), (alert.ackedBy = input.ackedBy);
      const buf = Buffer.from(JSON.stringify({ type: 'alert', alert }));
      for (const c of conns) {
        if (!c.subscribed || !c.alerts || c.ws.readyState !== WebSocket.OPEN) continue;
        if (c.pendingAlerts.length === 0 && c.ws.bufferedAmount <= maxBufferedBytes) {
          sendRaw(c, buf);
          st.alertsSent++;
          continue;
        }
        c.pendingAlerts.push(buf);
        if (c.pendingAlerts.length > maxPendingAlerts) {
          c.pendingAlerts.shift();
          st.alertsDropped++;
        }
        schedule(c, clock.now() + c.minIntervalMs);
      }
      return alert;
    },

    publishZones(version) {
      if (closed) return;
      // Small and rare: sent to every subscribed viewer at once, never coalesced away.
      const buf = Buffer.from(JSON.stringify({ type: 'zones', version }));
      for (const c of conns) {
        if (!c.subscribed || c.ws.readyState !== WebSocket.OPEN) continue;
        sendRaw(c, buf);
      }
    },

    publishTraffic(aircraft) {
      if (closed) return;
      const buf = Buffer.from(JSON.stringify({ type: 'traffic', t: clock.now(), aircraft }));
      for (const c of conns) {
        if (!c.subscribed || c.ws.readyState !== WebSocket.OPEN || c.ws.bufferedAmount > maxBufferedBytes) continue;
        sendRaw(c, buf);
      }
    },

    frames() {
      const now = clock.now();
      return [...known.values()].map((k) => toFrame(k.state, now, { staleAfterMs: thresholdOf(k.state, now), replay: k.replay }));
    },

    stats() {
      return { ...st, viewers: conns.size, vehicles: known.size };
    },

    viewers() {
      return [...conns].map((c) => ({
        id: c.id, username: c.viewer.username, role: c.viewer.role, vehicles: c.all ? ('all' as const) : [...c.vehicles],
        deliveries: c.deliveries, alerts: c.alerts, rateHz: c.rateHz, framesSent: c.framesSent, framesDropped: c.framesDropped,
        bufferedAmount: c.ws.bufferedAmount,
      }));
    },

    revalidate() {
      return revalidate();
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sessionTimer);
      if (flushTimer !== null) clock.clearTimeout(flushTimer);
      if (sweepTimer !== null) clock.clearTimeout(sweepTimer);
      if (pingTimer !== null) clock.clearTimeout(pingTimer);
      for (const [server, h] of servers) server.off('upgrade', h);
      servers.clear();
      for (const fleet of [...fleets.keys()]) this.removeFleet(fleet);
      const waits: Promise<void>[] = [];
      for (const g of groups.values()) if (g.timer !== null) clock.clearTimeout(g.timer);
      for (const c of [...conns]) {
        if (c.timer !== null) clock.clearTimeout(c.timer);
        waits.push(
          new Promise<void>((resolve) => {
            if (c.ws.readyState === WebSocket.CLOSED) return resolve();
            c.ws.once('close', () => resolve());
            c.ws.close(1001, 'server shutting down');
            setTimeout(() => c.ws.terminate(), 1000).unref();
          }),
        );
      }
      await Promise.all(waits);
      known.clear();
      wss.close();
    },
  };
}
