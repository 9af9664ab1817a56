// Who asked for a guest call, as the operation log names it: the domain itself (its guest, through its sfld),
// or the token that acted for that domain from outside (`token:NAME`), so an operator's calls are theirs.
const actedBy = new WeakMap<object, string>();

interface DomainRefLike {
  vmid: number;
  cluster: { clusterid: number };
}

/** Marks a domain looked up for one call as acted for by `requester` (a token's name in the log). */
export function actingFor<T extends object>(domain: T, requester: string): T {
  actedBy.set(domain, requester);
  return domain;
}

/** The requester of a guest call for this domain: the token acting for it, else the domain itself. */
export function guestRequester(domain: DomainRefLike): string {
  return actedBy.get(domain) ?? `domain:${domain.cluster.clusterid}:${domain.vmid}`;
}
