// CLUSTER:VMID, the way a domain is named in URLs and on screen ("1:0" is cluster 1's master).
export interface DomainRef { clusterid: number; vmid: number }

const MAX_ID = 2 ** 31 - 1;

export function parseDomainRef(text: string): DomainRef | null {
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(text.trim());
  if (!m) return null;
  const clusterid = Number(m[1]);
  const vmid = Number(m[2]);
  return clusterid <= MAX_ID && vmid <= MAX_ID ? { clusterid, vmid } : null;
}

export function formatDomainRef(ref: DomainRef): string {
  return `${ref.clusterid}:${ref.vmid}`;
}
