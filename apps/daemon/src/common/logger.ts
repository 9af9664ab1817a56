// Structured logs (pino): one JSON line per event. Where they go: under systemd, stdout (journald keeps
// them); for a daemon started in the background, its file in $SNOWFLOCK_HOME/logs rolled at a size
// (SNOWFLOCK_LOG_FILE, set by the launcher); otherwise stdout. Secrets never go into a log line: redact
// the fields that could carry them.
import { fstatSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';
import { DEFAULT_ROTATION, RotatingLog } from './rotating-log.ts';

export type { Logger };

/** journald reads stdout: JOURNAL_STREAM names the stream systemd connected (device:inode), so a redirect elsewhere does not count. */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const { dev, ino } = fstatSync(1);
    return stream === `${dev}:${ino}`;
  } catch {
    return false;
  }
}

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** Where a daemon's log lines go; null: stdout. Rotation sizes from SNOWFLOCK_LOG_MAX_BYTES and SNOWFLOCK_LOG_KEEP. */
export function logDestination(env: NodeJS.ProcessEnv = process.env): DestinationStream | null {
  if (stdoutIsJournal(env) || !env.SNOWFLOCK_LOG_FILE) return null;
  return new RotatingLog(env.SNOWFLOCK_LOG_FILE, {
    maxBytes: positive(env.SNOWFLOCK_LOG_MAX_BYTES, DEFAULT_ROTATION.maxBytes),
    keep: positive(env.SNOWFLOCK_LOG_KEEP, DEFAULT_ROTATION.keep),
  });
}

/** Chosen once per process however many loggers: two writers of one file would roll it under each other. */
let shared: { destination: DestinationStream | null } | undefined;

export function createLogger(name: string): Logger {
  shared ??= { destination: logDestination() };
  const options = {
    name,
    level: process.env.SNOWFLOCK_LOG_LEVEL ?? 'info',
    redact: ['secret', 'token', '*.secret', '*.token', 'auth', 'headers.authorization'],
  };
  return shared.destination ? pino(options, shared.destination) : pino(options);
}
