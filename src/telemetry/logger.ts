import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; one child logger per reconcile carries the release's key. */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    { level: options.level ?? process.env.LOG_LEVEL ?? 'info', base: { app: 'canaria' } },
    options.destination ?? process.stderr,
  );
}

/** A logger that drops everything, for tests and the simulator. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
