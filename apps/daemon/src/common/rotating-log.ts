// A log file that rolls at a size: when a write would take it past maxBytes, FILE becomes FILE.1 (FILE.1 becomes
// FILE.2, …, the oldest past `keep` is deleted) and a new FILE starts. Writes are synchronous appends, so
// a crash loses no line already logged and lines of other writers (a daemon's stderr) interleave whole.
import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

export interface RotatingLogOptions {
  /** Roll before a write would take the file past this many bytes (a line is never split: only a longer line passes it). */
  maxBytes: number;
  /** Rolled files kept beside the live one (FILE.1 … FILE.keep). */
  keep: number;
}

export const DEFAULT_ROTATION: RotatingLogOptions = { maxBytes: 16 * 2 ** 20, keep: 5 };

export class RotatingLog {
  #fd: number;
  #size: number;

  constructor(
    readonly file: string,
    readonly options: RotatingLogOptions = DEFAULT_ROTATION,
  ) {
    this.#fd = openSync(file, 'a', 0o600);
    this.#size = fstatSync(this.#fd).size;
  }

  /** pino's destination interface: one or more whole lines. */
  write(chunk: string | Uint8Array): boolean {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#size > 0 && this.#size + bytes.length > this.options.maxBytes) this.#roll();
    writeSync(this.#fd, bytes);
    this.#size += bytes.length;
    return true;
  }

  #roll(): void {
    closeSync(this.#fd);
    rmSync(`${this.file}.${this.options.keep}`, { force: true });
    for (let n = this.options.keep - 1; n >= 1; n--) {
      try {
        renameSync(`${this.file}.${n}`, `${this.file}.${n + 1}`);
      } catch {
        // not there (yet): fewer rolls so far than `keep`
      }
    }
    if (this.options.keep > 0) renameSync(this.file, `${this.file}.1`);
    else rmSync(this.file, { force: true });
    this.#fd = openSync(this.file, 'a', 0o600);
    this.#size = 0;
  }

  close(): void {
    closeSync(this.#fd);
  }
}
