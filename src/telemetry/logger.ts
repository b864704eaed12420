import { pino, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs, one object a line: `level` as a word (info, warn, error, fatal) and `time`
 * as ISO 8601 in UTC, which log collectors (Loki, Elasticsearch, Cloud Logging) read without a
 * pipeline; one child logger per reconcile carries the release's key.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { app: 'canaria' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? process.stderr,
  );
}

/** A logger that drops everything, for tests and the simulator. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
