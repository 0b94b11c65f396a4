/** REST client for /api (API.md). Every failure becomes an ApiError with the server's stable code. */

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export interface ApiOptions {
  /** Prefix for every path (default '' = same origin). */
  baseUrl?: string;
  /** Request timeout (default 20000 ms); a timeout becomes ApiError code TIMEOUT. */
  timeoutMs?: number;
  /** Called on any 401 so the console can return to the login screen. */
  onUnauthenticated?: () => void;
}

export class ApiClient {
  token: string | null = null;
  constructor(private readonly opts: ApiOptions = {}) {}

  /** `timeoutMs` overrides the client's timeout for this request (a long operation such as commissioning). */
  async request<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), timeoutMs ?? this.opts.timeoutMs ?? 20000);
    let res: Response;
    try {
      res = await fetch((this.opts.baseUrl ?? '') + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        signal: ctrl.signal,
      });
    } catch (e) {
      const aborted = (e as Error)?.name === 'AbortError';
      throw new ApiError(0, aborted ? 'TIMEOUT' : 'NETWORK', aborted ? `${method} ${path} timed out` : `${method} ${path}: server unreachable`);
    } finally {
      clearTimeout(timer);
    }
    const text = await res.text();
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      if (res.status === 401 && path !== '/api/login') this.opts.onUnauthenticated?.();
      throw new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? (res.statusText || `HTTP ${res.status}`), err?.details);
    }
    return (json === undefined ? (text as unknown) : json) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
  del<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, body);
  }
}

/** Vehicle ids contain '/', so every path segment is encoded. */
export function vehiclePath(id: string): string {
  return `/api/vehicles/${encodeURIComponent(id)}`;
}
