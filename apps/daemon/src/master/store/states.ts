// The closed sets of states stored as strings in SQLite, and the ticket lifecycle:
// unused → outstanding → merged, or unused → disposed. Every change of a ticket's state goes through here.
import { SfError } from '../../common/errors.ts';

export const HOST_STATES = ['online', 'offline', 'removed'] as const;
export type HostState = (typeof HOST_STATES)[number];

export const CLUSTER_STATES = ['running', 'shutdown', 'lost'] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

/** A domain holds host resources while it is in one of the live states. */
export const LIVE_DOMAIN_STATES = ['defined', 'booting', 'running', 'paused', 'cloning'] as const;
export const ENDED_DOMAIN_STATES = ['exited', 'halted', 'merged', 'stopped', 'lost', 'crashed'] as const;
export type DomainState = (typeof LIVE_DOMAIN_STATES)[number] | (typeof ENDED_DOMAIN_STATES)[number];

export function isLiveDomainState(state: string): boolean {
  return (LIVE_DOMAIN_STATES as readonly string[]).includes(state);
}

export const TICKET_STATES = ['unused', 'outstanding', 'merged', 'disposed'] as const;
export type TicketState = (typeof TICKET_STATES)[number];

const TICKET_TRANSITIONS: Record<TicketState, readonly TicketState[]> = {
  unused: ['outstanding', 'disposed'],
  outstanding: ['merged'],
  merged: [],
  disposed: [],
};

/** What a user should do when a ticket is not in the state a call needs. */
const TICKET_STATE_HINTS: Record<TicketState, string> = {
  unused: 'clone with it (sfdoclone) or dispose of it',
  outstanding: 'its clones are running: merge them (sfmerge) first',
  merged: 'it has been used and merged: request a new ticket (sfdotix)',
  disposed: 'it was disposed: request a new ticket (sfdotix)',
};

export function canTransitionTicket(from: string, to: TicketState): boolean {
  return (TICKET_TRANSITIONS[from as TicketState] ?? []).includes(to);
}

export function assertTicketTransition(ticketId: string, from: string, to: TicketState): void {
  if (!canTransitionTicket(from, to)) {
    const hint = TICKET_STATE_HINTS[from as TicketState] ?? 'its state is unknown';
    throw new SfError('TICKET_STATE', `ticket ${ticketId} is ${from} and cannot become ${to}: ${hint}`);
  }
}

export const OPERATION_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];
