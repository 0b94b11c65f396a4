/** A small HTTP client for the service tests (real sockets, Node's fetch). */
import { testPassword } from './users';

export interface Res<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export class Client {
  token: string | null = null;
  constructor(readonly baseUrl: string) {}

  async req<T = any>(method: string, path: string, body?: unknown, opts: { raw?: string; headers?: Record<string, string>; token?: string | null } = {}): Promise<Res<T>> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const tok = opts.token === undefined ? this.token : opts.token;
    if (tok) headers.authorization = `Bearer ${tok}`;
    let payload: string | undefined;
    if (opts.raw !== undefined) {
      payload = opts.raw;
      headers['content-type'] ??= 'application/json';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const r = await fetch(this.baseUrl + path, { method, headers, body: payload });
    const text = await r.text();
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: r.status, body: parsed, headers: r.headers };
  }

  get<T = any>(path: string) {
    return this.req<T>('GET', path);
  }
  post<T = any>(path: string, body?: unknown) {
    return this.req<T>('POST', path, body ?? {});
  }
  put<T = any>(path: string, body?: unknown) {
    return this.req<T>('PUT', path, body);
  }

  async login(username: string, password = testPassword(username)): Promise<this> {
    const r = await this.req('POST', '/api/login', { username, password }, { token: null });
    if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    this.token = r.body.token;
    return this;
  }
}

/** Poll until `fn` returns a truthy value (or throw after timeoutMs with the last value). */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs: number, what: string, intervalMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)?.slice(0, 500)})`);
}

/** A vehicle is ready to fly as the API shows it to an operator: connected, a position, and `readiness.ready` (GPS fix, EKF, home, pre-arm). */
export function vehicleReady(v: any): boolean {
  return !!v && v.connected && !!v.position && v.readiness?.ready === true;
}
