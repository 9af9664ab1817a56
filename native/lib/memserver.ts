// The memserver from JS: serves one fork's snapshot pages over UDP to clones on other hosts (they fetch
// with VirtualMachine.createRemoteClone). Boundary: types and checks; the protocol is C++ (src/core/memserver).
import { loadAddon } from './addon.ts';
import { VmError } from './errors.ts';
import { VmSnapshot } from './fork.ts';

export interface MemserverStats {
  requests: number;
  pagesServed: number;
  zeroPages: number;
  datagramsSent: number;
  bytesSent: number;
  sendErrors: number;
  /** Malformed, foreign or forged datagrams dropped. */
  dropped: number;
}

interface NativeMemserverHandle {
  endpoint(): string | null;
  stats(): MemserverStats;
  stop(): void;
}

export class Memserver {
  readonly #native: NativeMemserverHandle;
  /** 'address:port' clones send their page requests to. */
  readonly endpoint: string;

  constructor(native: NativeMemserverHandle) {
    this.#native = native;
    this.endpoint = native.endpoint() ?? '';
  }

  stats(): MemserverStats {
    return this.#native.stats();
  }

  /** Stops serving: clones still missing pages time out and end as crashed with the reason. Idempotent. */
  stop(): void {
    this.#native.stop();
  }
}

/** Serves `snapshot`'s pages on UDP `bind` ('a.b.c.d:port'; port 0 = any). Authenticated with its key. */
export function startMemserver(snapshot: VmSnapshot, bind: string): Memserver {
  if (!(snapshot instanceof VmSnapshot)) throw new VmError('BAD_INPUT', 'startMemserver() needs a VmSnapshot from fork().');
  if (snapshot.released) throw new VmError('BAD_STATE', 'startMemserver(): the snapshot was released.');
  const addon = loadAddon() as unknown as { startMemserver(s: unknown, bind: string): NativeMemserverHandle };
  try {
    return new Memserver(addon.startMemserver(snapshot.handle, bind));
  } catch (error) {
    throw new VmError('BAD_INPUT', error instanceof Error ? error.message : String(error));
  }
}
