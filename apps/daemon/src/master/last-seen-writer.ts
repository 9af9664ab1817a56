// lastSeen of online hosts written in batches: the beats due for the record within a second become one
// UPDATE, where each was one before (a thousand hosts made a thousand writes a second, most of sfmd's CPU).
import type { MasterServices } from './services.ts';

/** How long due beats gather before they are written. */
export const LAST_SEEN_FLUSH_MS = 1000;
/** Names per UPDATE: SQLite binds at most 999 parameters in Prisma's statements. */
const CHUNK = 500;

export class LastSeenWriter {
  #due = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly svc: Pick<MasterServices, 'db' | 'log'>,
    private readonly flushMs = LAST_SEEN_FLUSH_MS,
  ) {}

  /** A beat of an online host, read at `at`, is due for the record. The first beat of a batch counts. */
  note(name: string, at: number): void {
    if (!this.#due.has(name)) this.#due.set(name, at);
    this.#timer ??= setTimeout(() => void this.flush(), this.flushMs).unref();
  }

  /**
   * Writes what is due: each chunk gets its earliest beat's time, so the record never says a host was heard
   * later than it was (the lane keeps the exact time for the views). Only hosts still online are touched.
   */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const due = [...this.#due];
    this.#due.clear();
    this.#writing = this.#writing.then(async () => {
      for (let i = 0; i < due.length; i += CHUNK) {
        const chunk = due.slice(i, i + CHUNK);
        const at = Math.min(...chunk.map(([, t]) => t));
        await this.svc.db.host
          .updateMany({ where: { name: { in: chunk.map(([n]) => n) }, state: 'online' }, data: { lastSeen: new Date(at) } })
          .catch((err: unknown) => this.svc.log.error({ err, hosts: chunk.length }, 'lastSeen not written'));
      }
    });
    return this.#writing;
  }
}

const writers = new WeakMap<object, LastSeenWriter>();

/** The services' one writer (like heartbeatLane: sfmd's state, kept beside its services). */
export function lastSeenWriter(svc: Pick<MasterServices, 'db' | 'log'>): LastSeenWriter {
  let writer = writers.get(svc);
  if (!writer) {
    writer = new LastSeenWriter(svc);
    writers.set(svc, writer);
  }
  return writer;
}
