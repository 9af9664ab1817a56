// A domain is named CLUSTER:VMID on the command line, in URLs and in the x-snowflock-domain header.
// One parser and one set of limits for all of them (the wire schemas use the same limits).
import { SfError } from './errors.ts';

export interface DomainRef {
  clusterid: number;
  vmid: number;
}

/** Both ids are stored as 32-bit signed integers (Prisma Int): larger ones name nothing. */
export const MAX_CLUSTERID = 2 ** 31 - 1;
export const MAX_VMID = 2 ** 31 - 1;

const PATTERN = /^(\d{1,10}):(\d{1,10})$/;

/** The domain named by `text`, or null when it names none. */
export function tryParseDomainRef(text: string): DomainRef | null {
  const match = PATTERN.exec(text.trim());
  if (!match) return null;
  const clusterid = Number(match[1]);
  const vmid = Number(match[2]);
  return clusterid <= MAX_CLUSTERID && vmid <= MAX_VMID ? { clusterid, vmid } : null;
}

/** The domain named by `text`; BAD_INPUT, with the expected form, when it names none. */
export function parseDomainRef(text: string): DomainRef {
  const ref = tryParseDomainRef(text);
  if (!ref) {
    throw new SfError('BAD_INPUT', `'${text}' is not a domain name: expected CLUSTER:VMID, e.g. 1:0 for the master of cluster 1`);
  }
  return ref;
}

export function formatDomainRef(ref: DomainRef): string {
  return `${ref.clusterid}:${ref.vmid}`;
}
