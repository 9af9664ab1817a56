// The closed sets of states: the ones sfmd stores as strings in SQLite and the ones an sfld reports
// about its VMs. Shared by the store, the wire schemas and the dashboard, so each list exists once.

export const HOST_STATES = ['online', 'offline', 'removed'] as const;
export type HostState = (typeof HOST_STATES)[number];

export const CLUSTER_STATES = ['running', 'shutdown', 'lost'] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

/** A domain holds host resources while it is in one of the live states. */
export const LIVE_DOMAIN_STATES = ['defined', 'booting', 'running', 'paused', 'cloning'] as const;
export const ENDED_DOMAIN_STATES = ['exited', 'halted', 'merged', 'stopped', 'lost', 'crashed'] as const;
export const DOMAIN_STATES = [...LIVE_DOMAIN_STATES, ...ENDED_DOMAIN_STATES] as const;
export type DomainState = (typeof DOMAIN_STATES)[number];

/** What an sfld says about one of its VMs (the VM's own lifecycle, not the record's): each is also a record state. */
export const REPORTED_VM_STATES = ['running', 'paused', 'halted', 'exited', 'crashed', 'stopped'] as const satisfies readonly DomainState[];
export type ReportedVmState = (typeof REPORTED_VM_STATES)[number];

export const TICKET_STATES = ['unused', 'outstanding', 'merged', 'disposed'] as const;
export type TicketState = (typeof TICKET_STATES)[number];

export const OPERATION_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export function isLiveDomainState(state: string): boolean {
  return (LIVE_DOMAIN_STATES as readonly string[]).includes(state);
}
