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
