/** API errors: `{ error: { code, message, details? } }` with a stable code. */
import type { Response } from 'express';

/** Handler-level failure: becomes an error response and an audited outcome. */
export class Fail extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, details?: unknown) {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

export function sendError(res: Response, status: number, code: string, message: string, details?: unknown): void {
  res.status(status).json(errorBody(code, message, details));
}

/** Connection-level errors of a database that cannot be reached (refused, reset, terminated, shutting down). */
const STORE_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

/**
 * The store cannot be reached (PostgreSQL down or restarting): nothing can be recorded, so nothing is
 * done. Answered 503 STORE_UNAVAILABLE with Retry-After rather than a bare 500.
 */
export function storeUnavailable(e: unknown): boolean {
  const x = e as { code?: unknown; message?: unknown } | null;
  if (!x) return false;
  if (typeof x.code === 'string' && STORE_DOWN_CODES.has(x.code)) return true;
  const m = typeof x.message === 'string' ? x.message : '';
  return /Connection terminated|connection to server .* failed|the database system is (starting up|shutting down|in recovery mode)|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(m);
}

export function sendStoreUnavailable(res: Response): void {
  if (res.headersSent) return;
  res.setHeader('Retry-After', '2');
  sendError(res, 503, 'STORE_UNAVAILABLE', 'the database cannot be reached: nothing was recorded and nothing was sent; try again shortly');
}
