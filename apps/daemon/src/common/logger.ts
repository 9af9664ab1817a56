// Structured logs (pino): one JSON line per event, to stdout (the daemon launcher redirects it to
// $SNOWFLOCK_HOME/logs). Secrets never go into a log line: redact the fields that could carry them.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string): Logger {
  return pino({
    name,
    level: process.env.SNOWFLOCK_LOG_LEVEL ?? 'info',
    redact: ['secret', 'token', '*.secret', '*.token', 'auth', 'headers.authorization'],
  });
}
