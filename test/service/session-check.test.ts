/**
 * The live console's session check (src/service/http.ts): a viewer's socket is closed only on a
 * definite answer that its session ended (unknown, revoked, expired, user disabled; or its known
 * expiry passed), never because the store cannot be reached (PostgreSQL down or restarting). The
 * store is a stand-in whose session rows can be revoked and whose every read can be made to fail
 * as an unreachable PostgreSQL fails (ECONNREFUSED), or with another error.
 */
import http from 'http';
import express from 'express';
import WebSocket from 'ws';
import { Auth, sha256 } from '../../src/auth';
import type { Store } from '../../src/store';
import { originPolicy } from '../../src/server/guards';
import { closeServer, createConsoleHub, listen, sessionCheck, sharedSessionLookup } from '../../src/service/http';

jest.setTimeout(30_000);

const TOKEN = 'a-session-token';

/** Sessions and users as the store keeps them; `down` makes every read fail as it would with the database gone. */
function fakeStore() {
  const sessions = new Map<string, { tokenHash: string; userId: number; createdMs: number; expiresMs: number; revoked: boolean }>();
  const st = {
    down: null as null | 'unreachable' | 'broken',
    reads: 0,
    sessions,
    add(token: string, expiresMs: number) {
      sessions.set(sha256(token), { tokenHash: sha256(token), userId: 1, createdMs: Date.now(), expiresMs, revoked: false });
    },
    revoke(token: string) {
      sessions.get(sha256(token))!.revoked = true;
    },
    fail() {
      st.reads++;
      if (st.down === 'unreachable') throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      if (st.down === 'broken') throw new Error('column "expires_ms" does not exist');
    },
    store: {
      async getSession(hash: string) {
        st.fail();
        return sessions.get(hash);
      },
      async getUserById(id: number) {
        st.fail();
        return id === 1 ? { id: 1, username: 'supervisor', role: 'supervisor', disabled: false, passwordState: 'set', passwordHash: 'x', createdAt: new Date().toISOString() } : undefined;
      },
    } as unknown as Store,
  };
  return st;
}

describe('sessionCheck', () => {
  test('a live session is live; the store unreachable keeps it; a definite answer ends it', async () => {
    const st = fakeStore();
    const auth = new Auth(st.store);
    st.add(TOKEN, Date.now() + 3600_000);
    const check = sessionCheck(auth, TOKEN, Date.now() + 3600_000);
    expect(await check()).toBe(true);
    st.down = 'unreachable';
    expect(await check()).toBe(true);
    expect(await check()).toBe(true);
    st.down = null;
    st.revoke(TOKEN);
    expect(await check()).toBe(false);
    expect(await sessionCheck(auth, 'no-such-token', Date.now() + 3600_000)()).toBe(false);
  });

  test('a session whose known expiry passes while the store is unreachable ends on time, without the store', async () => {
    const st = fakeStore();
    let now = 1_000_000;
    const auth = new Auth(st.store, { now: () => now });
    st.add(TOKEN, now + 5000);
    const check = sessionCheck(auth, TOKEN, now + 5000);
    st.down = 'unreachable';
    expect(await check()).toBe(true);
    now += 5000;
    const reads = st.reads;
    expect(await check()).toBe(false);
    expect(st.reads).toBe(reads);
  });

  test('any other failure of the check is not taken for "still live"', async () => {
    const st = fakeStore();
    const auth = new Auth(st.store);
    st.add(TOKEN, Date.now() + 3600_000);
    st.down = 'broken';
    await expect(sessionCheck(auth, TOKEN, Date.now() + 3600_000)()).rejects.toThrow(/does not exist/);
  });
});

describe('sharedSessionLookup', () => {
  test('the viewers of one session share one store read per round; another session, or the next round, reads again', async () => {
    const st = fakeStore();
    const auth = new Auth(st.store);
    st.add(TOKEN, Date.now() + 3600_000);
    st.add('another-token', Date.now() + 3600_000);
    const lookup = sharedSessionLookup(auth, 200);
    const checks = Array.from({ length: 50 }, () => sessionCheck(auth, TOKEN, Date.now() + 3600_000, lookup));
    expect(await Promise.all(checks.map((c) => c()))).toEqual(checks.map(() => true));
    expect(st.reads).toBe(2); // the session row and its user, once for the 50 sockets
    expect(await sessionCheck(auth, 'another-token', Date.now() + 3600_000, lookup)()).toBe(true);
    expect(st.reads).toBe(4);
    await new Promise((r) => setTimeout(r, 250));
    st.revoke(TOKEN); // the next round reads again and sees it
    expect(await Promise.all(checks.map((c) => c()))).toEqual(checks.map(() => false));
    expect(st.reads).toBe(5); // the session row only: revoked, no user read
  });
});

describe('the console hub through a store outage', () => {
  let server: http.Server;
  let hub: ReturnType<typeof createConsoleHub>;
  let url: string;
  const st = fakeStore();

  beforeAll(async () => {
    const auth = new Auth(st.store);
    let port = 0;
    hub = createConsoleHub(auth, originPolicy({ bindHost: '127.0.0.1', port: () => port }), { sessionCheckMs: 50 });
    const l = await listen(express(), hub, { host: '127.0.0.1', port: 0, tls: null });
    ({ server, url } = l);
    port = l.port;
  });
  afterAll(async () => {
    await closeServer(server, hub);
  });

  /** Opens /ws with the token; the close code once closed (null while open), or the refused upgrade's status. */
  function open(token: string): Promise<{ ws: WebSocket; closed: () => number | null; status?: number }> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, { headers: { authorization: `Bearer ${token}` } });
      let code: number | null = null;
      ws.on('close', (c) => (code = c));
      ws.on('error', () => undefined);
      ws.on('unexpected-response', (_req, res) => resolve({ ws, closed: () => code, status: res.statusCode }));
      ws.on('message', (d) => {
        if (JSON.parse(String(d)).type === 'hello') resolve({ ws, closed: () => code });
      });
    });
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  test('an open socket is kept while the store cannot be reached, and closed with 4401 once it says the session ended', async () => {
    st.add(TOKEN, Date.now() + 3600_000);
    const v = await open(TOKEN);
    expect(v.status).toBeUndefined();
    st.down = 'unreachable';
    const reads = st.reads;
    await sleep(600); // a dozen rounds, each failing
    expect(st.reads).toBeGreaterThan(reads + 5);
    expect(v.closed()).toBeNull();
    expect(hub.stats().viewers).toBe(1);
    // A new socket cannot be authenticated without the store: refused, the console retries later.
    const refused = await open(TOKEN);
    expect(refused.status).toBe(500);
    // The store back, the session revoked meanwhile: the next round ends it.
    st.revoke(TOKEN);
    st.down = null;
    for (let i = 0; i < 40 && v.closed() === null; i++) await sleep(50);
    expect(v.closed()).toBe(4401);
  });

  test('a socket whose session expires during the outage is closed on time', async () => {
    const token = 'short-lived';
    st.down = null;
    st.add(token, Date.now() + 700);
    const v = await open(token);
    expect(v.status).toBeUndefined();
    st.down = 'unreachable';
    await sleep(300);
    expect(v.closed()).toBeNull();
    for (let i = 0; i < 40 && v.closed() === null; i++) await sleep(50);
    expect(v.closed()).toBe(4401);
  });
});
