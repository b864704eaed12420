import type { MeasurementError } from '../analysis/types.js';

export type MetricsErrorCode = MeasurementError['code'];

/**
 * A metrics backend could not answer. `retryable` tells the caller whether asking again later may
 * help (Prometheus down: yes; a query Prometheus rejects: no).
 */
export class MetricsBackendError extends Error {
  override readonly name = 'MetricsBackendError';
  readonly code: MetricsErrorCode;
  readonly retryable: boolean;
  /** The HTTP status, when the backend answered at all. */
  readonly status: number | undefined;

  constructor(
    code: MetricsErrorCode,
    message: string,
    options: { retryable: boolean; status?: number; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable;
    this.status = options.status;
  }

  toMeasurementError(): MeasurementError {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** Backend failures become data; anything else is a bug and keeps propagating. */
export function toMeasurementError(err: unknown): MeasurementError {
  if (err instanceof MetricsBackendError) return err.toMeasurementError();
  throw err;
}
