// The Cluster View's tree: a cluster's domains and tickets → its master at the root, then one branch
// per ticket (a clone generation) holding that ticket's clones and its allocation map. Pure, tested.
import { isLiveDomainState, type DomainState, type TicketState } from '@snowflock/daemon/states';
import type { RowDisk } from './disk-figures.ts';

/** The fields of a domain row the tree needs (sfmd's state.domains / dashboard.cluster rows). */
export interface TreeDomain {
  clusterid: number;
  vmid: number;
  host: string;
  state: DomainState;
  ip: string | null;
  mac: string | null;
  /** What its NIC moved (live, or final once ended); null or absent: no NIC, or no figures yet. */
  net?: { rxBytes: number; txBytes: number; live: boolean } | null;
  /** Its disk: the cluster's image, what the VM wrote, its overlay holds and it fetched remotely (as of the row); null or absent: none. */
  disk?: RowDisk | null;
  vcpus: number;
  memory: number;
  ticket: string | null;
  exitCode: number | null;
  endReason: string | null;
  createdAt: string;
  endedAt: string | null;
}

export interface TreeTicket {
  ticket: string;
  state: TicketState;
  requested: number;
  granted: number;
  procs: boolean;
  createdAt: string;
  allocations: { vmid: number; host: string; processors: number; memory: number }[];
}

export interface DomainNode extends TreeDomain {
  /** Unique within the cluster: a vmid comes back with every generation of clones. */
  key: string;
  live: boolean;
  /** How it ended, for people: "exited 0", "crashed: reason", "merged". Null while it lives. */
  ending: string | null;
}

export interface Branch {
  ticket: TreeTicket;
  clones: DomainNode[];
  /** An unused ticket's allocation-map entries: reserved on their hosts, not cloned yet. */
  reserved: TreeTicket['allocations'];
}

export interface ClusterTree {
  master: DomainNode | null;
  branches: Branch[];
  /** Domains that name a ticket the cluster does not list (should not happen; shown rather than lost). */
  strays: DomainNode[];
  counts: { live: number; ended: number; clonesLive: number };
}

export function describeEnding(d: Pick<TreeDomain, 'state' | 'exitCode' | 'endReason'>): string | null {
  if (isLiveDomainState(d.state)) return null;
  const base = d.state === 'exited' ? `exited ${d.exitCode ?? 0}` : d.state;
  return d.endReason ? `${base}: ${d.endReason}` : base;
}

function node(d: TreeDomain): DomainNode {
  return { ...d, key: `${d.vmid}@${d.ticket ?? 'seed'}`, live: isLiveDomainState(d.state), ending: describeEnding(d) };
}

export function buildClusterTree(domains: readonly TreeDomain[], tickets: readonly TreeTicket[]): ClusterTree {
  const nodes = domains.map(node);
  const master = nodes.find((n) => n.vmid === 0 && n.ticket === null) ?? null;
  const byTicket = new Map<string, DomainNode[]>();
  const strays: DomainNode[] = [];
  const known = new Set(tickets.map((t) => t.ticket));
  for (const n of nodes) {
    if (n === master) continue;
    if (n.ticket && known.has(n.ticket)) byTicket.set(n.ticket, [...(byTicket.get(n.ticket) ?? []), n]);
    else strays.push(n);
  }
  // Oldest generation first, as they happened; within one, by vmid.
  const branches = [...tickets]
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    .map((ticket) => {
      const clones = (byTicket.get(ticket.ticket) ?? []).sort((a, b) => a.vmid - b.vmid);
      const made = new Set(clones.map((c) => c.vmid));
      // Only an unused ticket's allocations are still reservations; a merged or disposed one's are history.
      const reserved = ticket.state === 'unused' ? ticket.allocations.filter((a) => !made.has(a.vmid)) : [];
      return { ticket, clones, reserved };
    });
  const live = nodes.filter((n) => n.live).length;
  return {
    master,
    branches,
    strays,
    counts: { live, ended: nodes.length - live, clonesLive: nodes.filter((n) => n.live && n.vmid !== 0).length },
  };
}

/** Which tickets can be merged now: outstanding ones (their clones are out). */
export function mergeableTickets(tree: ClusterTree): string[] {
  return tree.branches.filter((b) => b.ticket.state === 'outstanding').map((b) => b.ticket.ticket);
}

/**
 * What a shutdown would stop besides the master: live clones and tickets not merged or disposed. While any
 * remain sfmd refuses a plain shutdown (seed), so the dashboard lists them and offers to force it.
 */
export function shutdownStops(tree: ClusterTree): { clones: DomainNode[]; tickets: TreeTicket[] } {
  const clones = [...tree.branches.flatMap((b) => b.clones), ...tree.strays].filter((n) => n.live && n.vmid !== 0);
  const tickets = tree.branches.map((b) => b.ticket).filter((t) => t.state === 'unused' || t.state === 'outstanding');
  return { clones: clones.sort((a, b) => a.vmid - b.vmid), tickets };
}
