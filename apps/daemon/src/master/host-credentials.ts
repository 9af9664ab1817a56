// Host secrets checked without a database read per call: the hosts' names and secret hashes, read at most
// once per interval, so an sfld's guest calls cost a hash compare and so do an attacker's wrong secrets.
// Hosts and their secrets change only when sfmd starts (syncConfiguredHosts), before anyone connects.
import { SfError } from '../common/errors.ts';
import { secretMatches } from './auth.ts';
import { monotonicMs, type Clock } from './rate-limits.ts';
import type { MasterServices } from './services.ts';

export interface VerifiedHost {
  hostId: string;
  name: string;
}

interface KnownHost extends VerifiedHost {
  secretHash: string;
}

/** How long a read of the hosts is trusted. */
export const HOST_CREDENTIALS_TTL_MS = 5000;

export class HostCredentials {
  #hosts: Map<string, KnownHost> | null = null;
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<Map<string, KnownHost>> | null = null;

  constructor(
    private readonly svc: Pick<MasterServices, 'db'>,
    private readonly ttlMs = HOST_CREDENTIALS_TTL_MS,
    private readonly clock: Clock = monotonicMs,
  ) {}

  /** The host these credentials name, or null if the name is unknown (or removed) or the secret wrong. */
  async verify(name: string, secret: string): Promise<VerifiedHost | null> {
    const hosts = await this.#current();
    const host = hosts.get(name);
    if (!host || !secretMatches(secret, host.secretHash)) return null;
    return { hostId: host.hostId, name: host.name };
  }

  /** Like verify, but an unknown host or a wrong secret is UNAUTHORIZED, saying what to check. */
  async authenticate(name: string, secret: string): Promise<VerifiedHost> {
    const host = await this.verify(name, secret);
    if (host) return host;
    throw new SfError(
      'UNAUTHORIZED',
      `host '${name}' is not known to sfmd or its secret is wrong: ` +
        `check that it is listed in sfmd.cfg cluster_hosts and that sfld uses the secret from sfmd's secrets/${name}.secret`,
    );
  }

  /** The hosts as last read; one read at a time, however many calls wait for it. */
  #current(): Promise<Map<string, KnownHost>> {
    if (this.#hosts && this.clock() - this.#readAt < this.ttlMs) return Promise.resolve(this.#hosts);
    this.#reading ??= this.svc.db.host
      .findMany({ where: { state: { not: 'removed' } }, select: { id: true, name: true, secretHash: true } })
      .then((rows) => {
        this.#hosts = new Map(rows.map((h) => [h.name, { hostId: h.id, name: h.name, secretHash: h.secretHash }]));
        this.#readAt = this.clock();
        return this.#hosts;
      })
      // A failed read keeps the last good one (if any): hosts change only when sfmd starts.
      .catch((err: unknown) => {
        if (this.#hosts) return this.#hosts;
        throw err;
      })
      .finally(() => {
        this.#reading = null;
      });
    return this.#reading;
  }
}
