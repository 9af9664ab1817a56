// Data-plane figures of lazy clones and NIC counters on their way to dashboards: sflds send a batch a second,
// sfmd checks its shape, relays it to /dash and keeps each domain's last samples (for rates) until it ends.
import type { DomainFigures, DomainFiguresEvent } from '../common/events.ts';
import type { DiskFigures, NicFigures } from '../common/wire.ts';
import { domainFiguresBatchSchema } from '../common/wire.ts';
import type { MasterServices } from './services.ts';
import { isLiveDomainState } from './store/states.ts';

/** One domain's figures as the dashboard reads them: who measured, and the sample before the last. */
export interface FigureSamples {
  host: string;
  latest: DomainFigures & { sampledAt: number };
  previous: (DomainFigures & { sampledAt: number }) | null;
}

const key = (clusterid: number, vmid: number) => `${clusterid}:${vmid}`;

/** A live VM's NIC counters, with the host that measured them. */
export interface NicSample extends NicFigures {
  host: string;
  sampledAt: number;
}

/** A live VM's disk counters, with the host that measured them. */
export interface DiskSample extends DiskFigures {
  host: string;
  sampledAt: number;
}

export class FigureRelay {
  readonly #last = new Map<string, FigureSamples>();
  readonly #nics = new Map<string, NicSample>();
  readonly #disks = new Map<string, DiskSample>();

  constructor(
    private readonly svc: MasterServices,
    private readonly emit: (event: DomainFiguresEvent) => void,
  ) {
    // An ended domain's figures stop meaning anything live; its last ones go with it.
    svc.events.on('domain:state', (e) => {
      if (!isLiveDomainState(e.state)) {
        this.#last.delete(key(e.clusterid, e.vmid));
        this.#nics.delete(key(e.clusterid, e.vmid));
        this.#disks.delete(key(e.clusterid, e.vmid));
      }
    });
  }

  /** A batch from `host`'s sfld: dropped (and logged) when malformed, otherwise kept and relayed. */
  fromHost(host: string, batch: unknown): void {
    const parsed = domainFiguresBatchSchema.safeParse(batch);
    if (!parsed.success) return void this.svc.log.warn({ host }, 'dropped malformed domain figures');
    const { sampledAt, domains, nics = [], disks = [] } = parsed.data;
    for (const { clusterid, vmid, ...figures } of nics) this.#nics.set(key(clusterid, vmid), { ...figures, host, sampledAt });
    for (const { clusterid, vmid, ...figures } of disks) this.#disks.set(key(clusterid, vmid), { ...figures, host, sampledAt });
    for (const d of domains) {
      const k = key(d.clusterid, d.vmid);
      const before = this.#last.get(k);
      // The sending host is remembered: the dashboard shows figures only where the record puts the domain.
      this.#last.set(k, { host, latest: { ...d, sampledAt }, previous: before?.host === host ? before.latest : null });
    }
    if (domains.length > 0 || nics.length > 0 || disks.length > 0) this.emit({ host, sampledAt, domains, nics, disks });
  }

  /** A live domain's latest disk counters; null when none came (no disk, or it ended). */
  diskOf(clusterid: number, vmid: number): DiskSample | null {
    return this.#disks.get(key(clusterid, vmid)) ?? null;
  }

  /** A live domain's latest NIC counters; null when none came (no NIC, or it ended). */
  nicOf(clusterid: number, vmid: number): NicSample | null {
    return this.#nics.get(key(clusterid, vmid)) ?? null;
  }

  /** The figures of one cluster's domains, by vmid. */
  ofCluster(clusterid: number): Record<number, FigureSamples> {
    const out: Record<number, FigureSamples> = {};
    for (const samples of this.#last.values()) {
      if (samples.latest.clusterid === clusterid) out[samples.latest.vmid] = samples;
    }
    return out;
  }
}

const relays = new WeakMap<MasterServices, FigureRelay>();

/** The hub makes the relay when it starts (it knows where to emit); the API reads it, if there is one. */
export function attachFigureRelay(svc: MasterServices, emit: (event: DomainFiguresEvent) => void): FigureRelay {
  const relay = new FigureRelay(svc, emit);
  relays.set(svc, relay);
  return relay;
}

export function figureRelay(svc: MasterServices): FigureRelay | null {
  return relays.get(svc) ?? null;
}
