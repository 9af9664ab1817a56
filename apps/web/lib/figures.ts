// Data-plane figures of lazy clones, as the Cluster View shows them: pages and bytes fetched, the fault
// rate from the last two samples, fault service times; and every VM's NIC bytes. Live batches fold into maps. Pure.
import type { DomainFigures, DomainFiguresEvent } from './api-types.ts';

export const PAGE_BYTES = 4096;

export type TimedFigures = DomainFigures & { sampledAt: number };
export interface FigurePair {
  host: string;
  latest: TimedFigures;
  previous: TimedFigures | null;
}
/** By vmid, for one cluster. */
export type FigureMap = Record<number, FigurePair>;

export interface FigureView {
  pagesFetched: number;
  bytesFetched: number;
  present: number;
  /** Faults per second between the last two samples; null until there are two. */
  faultRate: number | null;
  faultP50Ns: number;
  faultP99Ns: number;
  freshHints: number;
  /** Bytes the clone's host received through the fork's multicast group; null for clones beside their master. */
  multicastBytes: number | null;
}

export function figureView(pair: FigurePair): FigureView {
  const { latest, previous } = pair;
  const seconds = previous ? (latest.sampledAt - previous.sampledAt) / 1000 : 0;
  const faultRate = previous && seconds > 0 ? Math.max(0, latest.faults - previous.faults) / seconds : null;
  return {
    pagesFetched: latest.pagesFetched,
    bytesFetched: latest.pagesFetched * PAGE_BYTES,
    present: latest.present,
    faultRate,
    faultP50Ns: latest.faultP50Ns,
    faultP99Ns: latest.faultP99Ns,
    freshHints: latest.freshHints,
    multicastBytes: latest.multicastBytes ?? null,
  };
}

/** Folds a live batch into one cluster's map; batches about other clusters leave it as it is. */
export function foldFigures(map: FigureMap, clusterid: number, event: DomainFiguresEvent): FigureMap {
  const mine = event.domains.filter((d) => d.clusterid === clusterid);
  if (mine.length === 0) return map;
  const next: FigureMap = { ...map };
  for (const d of mine) {
    const before = map[d.vmid];
    next[d.vmid] = {
      host: event.host,
      latest: { ...d, sampledAt: event.sampledAt },
      previous: before && before.host === event.host ? before.latest : null,
    };
  }
  return next;
}

/** Only figures measured where the record puts the domain are believed. */
export function figuresFor(map: FigureMap, vmid: number, host: string): FigureView | null {
  const pair = map[vmid];
  return pair && pair.host === host ? figureView(pair) : null;
}

/** A domain's NIC bytes as the Cluster View shows them: live while it runs, the record's final ones after. */
export interface NicView {
  rxBytes: number;
  txBytes: number;
  live: boolean;
}
/** Live NIC counters by vmid, with the host that measured them. */
export type NicMap = Record<number, { host: string; rxBytes: number; txBytes: number }>;

export function foldNics(map: NicMap, clusterid: number, event: DomainFiguresEvent): NicMap {
  const mine = (event.nics ?? []).filter((n) => n.clusterid === clusterid);
  if (mine.length === 0) return map;
  const next: NicMap = { ...map };
  for (const n of mine) next[n.vmid] = { host: event.host, rxBytes: n.rxBytes, txBytes: n.txBytes };
  return next;
}

/** A live domain's latest batch if measured where the record puts it, else what its row says (null: no NIC). */
export function nicFor(map: NicMap, node: { vmid: number; host: string; live: boolean; net?: NicView | null }): NicView | null {
  const sample = node.live ? map[node.vmid] : undefined;
  if (sample && sample.host === node.host) return { rxBytes: sample.rxBytes, txBytes: sample.txBytes, live: true };
  return node.net ?? null;
}
