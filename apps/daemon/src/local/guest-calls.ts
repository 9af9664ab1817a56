// The hypercall bridge: a guest's seed-API call (sf.h) becomes the matching tRPC procedure on sfmd,
// called with this host's credentials for the calling domain; the answer or error goes back as the
// guest's reply block. Every guest field is untrusted: sfmd's zod schemas judge it.
import { SfExitHow, SfHypercall, SfStatus, type GuestCall, type GuestReply } from '@snowflock/native';
import type { ErrorCode } from '../common/errors.ts';
import { clientError, waitingCall, type SfmdClient } from '../common/sfmd-client.ts';

const STATUS_FOR_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_INPUT: SfStatus.EINVAL,
  NO_RESOURCES: SfStatus.ENORES,
  NOT_MASTER: SfStatus.ENOTMASTER,
  NOT_CLONE: SfStatus.ENOTCLONE,
  TICKET_UNKNOWN: SfStatus.ETICKET,
  TICKET_STATE: SfStatus.ESTATE,
  HOST_LOST: SfStatus.EHOSTLOST,
  TIMEOUT: SfStatus.ETIMEDOUT,
  UNAVAILABLE: SfStatus.EUNAVAIL,
  RATE_LIMITED: SfStatus.EUNAVAIL,
  UNAUTHORIZED: SfStatus.EPERM,
  FORBIDDEN: SfStatus.EPERM,
  DOMAIN_UNKNOWN: SfStatus.EPERM,
};

export function guestStatusFor(code: ErrorCode): number {
  return -(STATUS_FOR_CODE[code] ?? SfStatus.EINTERNAL);
}

const EXIT_HOW = { exited: SfExitHow.EXITED, crashed: SfExitHow.CRASHED, killed: SfExitHow.KILLED } as const;

const ticketOrNull = (ticket: string) => (ticket.length > 0 ? ticket : null);

/** Runs one guest call against sfmd; never throws: failures become negative statuses. */
export async function answerGuestCall(client: SfmdClient, url: string, call: GuestCall): Promise<GuestReply> {
  const r = call.request;
  try {
    switch (call.nr) {
      case SfHypercall.TICKET_REQUEST: {
        // A blocking request waits as long as it takes (seed), unless the guest gave a time limit.
        const t = await waitingCall(
          (wait) => client.ticket.request.mutate({ nclones: r.nclones, procs: r.procs, min: r.min, block: r.block, ...wait }),
          r.timeoutMs > 0 ? r.timeoutMs : undefined,
        );
        return { status: SfStatus.OK, count: t.granted, ticket: t.ticket };
      }
      case SfHypercall.TICKET_LIST: {
        const l = await client.ticket.list.query();
        const tickets = [...l.unused, ...l.outstanding].slice(0, 64);
        return { status: SfStatus.OK, count: tickets.length, nunused: l.unused.length, noutstanding: l.outstanding.length, tickets };
      }
      case SfHypercall.TICKET_INFO: {
        const t = await client.ticket.info.query({ ticket: r.ticket });
        return {
          status: SfStatus.OK,
          count: t.allocations.length,
          ticket: t.ticket,
          alloc: t.allocations.slice(0, 256).map((a) => ({ vmid: a.vmid, processors: a.processors })),
        };
      }
      case SfHypercall.TICKET_DISPOSE:
        await client.ticket.dispose.mutate({ ticket: r.ticket });
        return { status: SfStatus.OK };
      case SfHypercall.CLONE_MASTER: {
        const c = await client.clone.master.mutate({ ticket: r.ticket });
        return { status: SfStatus.OK, count: c.nclones, vmid: c.vmid, ticket: c.ticket };
      }
      case SfHypercall.CLONE_MERGE: {
        const m = await client.clone.merge.mutate({ ticket: ticketOrNull(r.ticket) });
        return { status: SfStatus.OK, count: m.clones };
      }
      case SfHypercall.CLONE_JOIN: {
        // Like waitpid: as long as the clones run, unless the guest gave a time limit.
        const j = await waitingCall(
          (wait) => client.clone.join.mutate({ ticket: r.ticket, ...wait }),
          r.timeoutMs > 0 ? r.timeoutMs : undefined,
        );
        const exits = j.exits.slice(0, 256).map((e) => ({ vmid: e.vmid, status: e.status, how: EXIT_HOW[e.how] }));
        return { status: SfStatus.OK, count: exits.length, exits };
      }
      case SfHypercall.CLONE_EXIT:
        await client.clone.exit.mutate({ status: r.status });
        return { status: SfStatus.OK };
      case SfHypercall.CLUSTER_SHUTDOWN:
        await client.cluster.shutdown.mutate();
        return { status: SfStatus.OK };
      default:
        return { status: -SfStatus.ENOSYS, errmsg: `unknown seed API call ${call.nr}` };
    }
  } catch (err) {
    const error = clientError(err, url);
    return { status: guestStatusFor(error.code), errmsg: `${error.code}: ${error.message}` };
  }
}
