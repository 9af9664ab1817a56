// The closed sets of states stored as strings in SQLite, read back as their unions, and the ticket lifecycle:
// unused → outstanding → merged, or unused → disposed. Every change of a ticket's state goes through here.
import { SfError } from '../../common/errors.ts';

// The lists themselves live in common/states.ts (the wire schemas use them too); the store's code reads them here.
export {
  CLUSTER_STATES,
  DOMAIN_STATES,
  ENDED_DOMAIN_STATES,
  HOST_STATES,
  isLiveDomainState,
  LIVE_DOMAIN_STATES,
  OPERATION_STATUSES,
  REPORTED_VM_STATES,
  TICKET_STATES,
  type ClusterState,
  type DomainState,
  type HostState,
  type OperationStatus,
  type ReportedVmState,
  type TicketState,
} from '../../common/states.ts';
import { DOMAIN_STATES, TICKET_STATES, type DomainState, type TicketState } from '../../common/states.ts';

/** A domain state read from the database; anything outside the list is a fault of the record, not a state. */
export function storedDomainState(stored: string): DomainState {
  if ((DOMAIN_STATES as readonly string[]).includes(stored)) return stored as DomainState;
  throw new SfError('INTERNAL', `the database holds a domain in state '${stored}', which this sfmd does not know`);
}

function isTicketState(stored: string): stored is TicketState {
  return (TICKET_STATES as readonly string[]).includes(stored);
}

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

// These two read a ticket's state as stored, so they take its text: a value outside TICKET_STATES allows nothing.
export function canTransitionTicket(from: string, to: TicketState): boolean {
  return isTicketState(from) && TICKET_TRANSITIONS[from].includes(to);
}

export function assertTicketTransition(ticketId: string, from: string, to: TicketState): void {
  if (!canTransitionTicket(from, to)) {
    const hint = isTicketState(from) ? TICKET_STATE_HINTS[from] : 'its state is unknown';
    throw new SfError('TICKET_STATE', `ticket ${ticketId} is ${from} and cannot become ${to}: ${hint}`);
  }
}
