// One closed set of error codes for everything a caller can get wrong. Expected
// outcomes (deny, not found in the index) are values, not errors; bugs are plain
// exceptions. Mapping to HTTP status lives here and nowhere else.
export const errorCodes = {
  "bad-request": 400,
  "invalid-record": 422,
  "unknown-record-type": 422,
  "source-not-allowed": 403,
  "evidence-required": 422,
  "occurred-in-future": 422,
  "record-conflict": 409,
  "unknown-retraction-target": 422,
  "not-found": 404,
  "unknown-context": 404,
  "no-policy": 409,
  "invalid-policy": 422,
  "invalid-catalogue": 422,
  "invalid-identifier": 400,
  "identifier-conflict": 409,
  "unauthorized": 401,
  "forbidden": 403,
  "payload-too-large": 413,
  "unsupported-media-type": 415,
  "request-timeout": 408,
  "headers-too-large": 431,
  "too-many-requests": 429,
  // A journal head that does not extend the one a witness saw; a receipt that does not verify.
  "journal-inconsistent": 409,
  "invalid-receipt": 422,
  // The medium refused a write or a read: a full disk, a file-size limit, a read-only
  // mount, an I/O error. Nothing acknowledged is lost; the operation did not happen.
  "storage-full": 507,
  "storage-read-only": 503,
  "storage-unavailable": 503,
  // A checkpoint node whose decision index is further behind the change feed than its
  // bound (STANDING_MAX_STALENESS_MS) refuses checks rather than answer from stale data.
  "index-stale": 503,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class StandingError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "StandingError";
  }

  get status(): number {
    return errorCodes[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isStandingError(e: unknown): e is StandingError {
  return e instanceof StandingError;
}
