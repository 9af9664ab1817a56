// The last 64 KiB of a domain's console, kept by its sfld so a newly attached console (sf console,
// the dashboard) first sees what scrolled past before it came.
export const CONSOLE_REPLAY_BYTES = 64 * 1024;

export class ConsoleRing {
  readonly #buffer: Buffer;
  #start = 0; // index of the oldest byte
  #length = 0;

  constructor(capacity = CONSOLE_REPLAY_BYTES) {
    this.#buffer = Buffer.alloc(capacity);
  }

  write(chunk: Buffer): void {
    const capacity = this.#buffer.length;
    // Only the last `capacity` bytes of a huge chunk can survive anyway.
    const data = chunk.length > capacity ? chunk.subarray(chunk.length - capacity) : chunk;
    for (let offset = 0; offset < data.length; ) {
      const end = (this.#start + this.#length) % capacity;
      const room = Math.min(data.length - offset, capacity - end);
      data.copy(this.#buffer, end, offset, offset + room);
      offset += room;
      const overflow = this.#length + room - capacity;
      if (overflow > 0) {
        this.#start = (this.#start + overflow) % capacity;
        this.#length = capacity;
      } else {
        this.#length += room;
      }
    }
  }

  /** The kept bytes, oldest first. */
  contents(): Buffer {
    const capacity = this.#buffer.length;
    const first = this.#buffer.subarray(this.#start, Math.min(capacity, this.#start + this.#length));
    const wrapped = this.#buffer.subarray(0, this.#length - first.length);
    return Buffer.concat([first, wrapped]);
  }
}
