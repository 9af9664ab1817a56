// A promise-chain mutex: sfmd is one process, so serialising "read free capacity → place → write
// reservations" through one of these is what keeps concurrent requests from overcommitting a host.
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn, fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
