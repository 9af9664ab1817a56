// The closed sets of states: the ones sfmd stores in SQLite (schema.prisma's enums hold the same values,
// store/states.test.ts checks both ways) and the ones an sfld reports about its VMs. Shared by the store,
// the wire schemas and the dashboard (as @snowflock/daemon/states), so each list exists once: no imports here.

export const HOST_STATES = ['online', 'offline', 'removed'] as const;
export type HostState = (typeof HOST_STATES)[number];

export const CLUSTER_STATES = ['running', 'shutdown', 'lost'] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

/** A domain holds host resources while it is in one of the live states. */
export const LIVE_DOMAIN_STATES = ['defined', 'booting', 'running', 'paused', 'cloning'] as const;
export const ENDED_DOMAIN_STATES = ['exited', 'halted', 'merged', 'stopped', 'lost', 'crashed'] as const;
export const DOMAIN_STATES = [...LIVE_DOMAIN_STATES, ...ENDED_DOMAIN_STATES] as const;
export type LiveDomainState = (typeof LIVE_DOMAIN_STATES)[number];
export type EndedDomainState = (typeof ENDED_DOMAIN_STATES)[number];
export type DomainState = (typeof DOMAIN_STATES)[number];

/** What an sfld says about one of its VMs (the VM's own lifecycle, not the record's): each is also a record state. */
export const REPORTED_VM_STATES = ['running', 'paused', 'halted', 'exited', 'crashed', 'stopped'] as const satisfies readonly DomainState[];
export type ReportedVmState = (typeof REPORTED_VM_STATES)[number];

export const TICKET_STATES = ['unused', 'outstanding', 'merged', 'disposed'] as const;
export type TicketState = (typeof TICKET_STATES)[number];

export const OPERATION_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

/** What an API token may do, each role including the ones before it (read < operate < admin). */
export const TOKEN_ROLES = ['read', 'operate', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** Any stored state (what a dashboard's badge shows); an sfld's reported VM states are domain states too. */
export type AnyState = HostState | ClusterState | DomainState | TicketState | OperationStatus;

export function isLiveDomainState(state: DomainState): state is LiveDomainState {
  return (LIVE_DOMAIN_STATES as readonly DomainState[]).includes(state);
}
