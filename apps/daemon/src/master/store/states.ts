// The closed sets of states stored in SQLite, and the ticket lifecycle: unused → outstanding → merged, or
// unused → disposed. Every change of a ticket's state goes through here. The Prisma client reads and writes
// these columns as their unions and refuses any other value, so nothing here re-checks a stored state.
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
  TOKEN_ROLES,
  type ClusterState,
  type DomainState,
  type HostState,
  type OperationStatus,
  type ReportedVmState,
  type TicketState,
  type TokenRole,
} from '../../common/states.ts';
import type { TicketState } from '../../common/states.ts';

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

export function canTransitionTicket(from: TicketState, to: TicketState): boolean {
  return TICKET_TRANSITIONS[from].includes(to);
}

export function assertTicketTransition(ticketId: string, from: TicketState, to: TicketState): void {
  if (!canTransitionTicket(from, to)) {
    throw new SfError('TICKET_STATE', `ticket ${ticketId} is ${from} and cannot become ${to}: ${TICKET_STATE_HINTS[from]}`);
  }
}
