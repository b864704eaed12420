/** Why a call to the API server failed, and whether trying again can help. */
export type KubeErrorCode = 'Conflict' | 'NotFound' | 'Forbidden' | 'Invalid' | 'Unavailable' | 'Timeout';

export class KubeError extends Error {
  constructor(
    readonly code: KubeErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeError';
  }

  /** A conflict means someone else wrote first: read again and re-plan. */
  get retryable(): boolean {
    return this.code === 'Conflict' || this.code === 'Unavailable' || this.code === 'Timeout';
  }
}

export function kubeErrorFromStatus(status: number, message: string, cause?: unknown): KubeError {
  const code: KubeErrorCode =
    status === 409 || status === 422
      ? status === 422 && !/test operation|testing value/i.test(message)
        ? 'Invalid'
        : 'Conflict'
      : status === 404
        ? 'NotFound'
        : status === 401 || status === 403
          ? 'Forbidden'
          : status === 408 || status === 504
            ? 'Timeout'
            : status >= 500 || status === 429
              ? 'Unavailable'
              : 'Invalid';
  return new KubeError(code, message, status, { cause });
}
