// A domain is named CLUSTER:VMID on the command line and in the x-snowflock-domain header.
import { SfError } from './errors.ts';

export interface DomainRef { clusterid: number; vmid: number }

const PATTERN = /^(\d{1,9}):(\d{1,6})$/;

export function parseDomainRef(text: string): DomainRef {
  const match = PATTERN.exec(text.trim());
  if (!match) {
    throw new SfError('BAD_INPUT', `'${text}' is not a domain name: expected CLUSTER:VMID, e.g. 1:0 for the master of cluster 1`);
  }
  return { clusterid: Number(match[1]), vmid: Number(match[2]) };
}
