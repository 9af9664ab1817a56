// The guest procedures a VM may call over the cluster network, each forwarded to sfmd as the calling domain, and
// the answer in tRPC's HTTP shape ({result:{data}} or {error:{message,data:{sfCode,httpStatus}}}) that sfmd speaks.
import { ERROR_TABLE, httpStatusFor, SfError } from '../../common/errors.ts';
import { clientError, type SfmdClient, waitingCall } from '../../common/sfmd-client.ts';

type Input = Record<string, unknown>;
type Forward = (client: SfmdClient, input: Input) => Promise<unknown>;

/** A guest's time limit on a waiting call (ms); none: it waits as long as it takes (seed). */
const limitOf = (input: Input) => (typeof input.timeoutMs === 'number' && input.timeoutMs > 0 ? input.timeoutMs : undefined);

// Inputs are the guest's and untrusted: sfmd's zod schemas judge them (hence the casts), sfld only routes.
const PROCEDURES: Record<string, Forward> = {
  'ticket.request': (c, input) => waitingCall((wait) => c.ticket.request.mutate({ ...input, ...wait } as never), limitOf(input)),
  'ticket.list': (c) => c.ticket.list.query(),
  'ticket.info': (c, input) => c.ticket.info.query(input as never),
  'ticket.dispose': (c, input) => c.ticket.dispose.mutate(input as never),
  'clone.master': (c, input) => c.clone.master.mutate(input as never),
  'clone.merge': (c, input) => c.clone.merge.mutate(input as never),
  'clone.join': (c, input) => waitingCall((wait) => c.clone.join.mutate({ ...input, ...wait } as never), limitOf(input)),
  'clone.exit': (c, input) => c.clone.exit.mutate(input as never),
  'cluster.shutdown': (c, input) => c.cluster.shutdown.mutate(input as never),
};

export const GUEST_PROCEDURES = Object.keys(PROCEDURES);

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export function errorAnswer(error: SfError): ApiAnswer {
  const status = httpStatusFor(error.code);
  return {
    status,
    body: { error: { message: error.message, data: { code: ERROR_TABLE[error.code].trpc, httpStatus: status, sfCode: error.code } } },
  };
}

/** Runs one guest procedure on sfmd; never throws. */
export async function forwardGuestCall(client: SfmdClient, url: string, procedure: string, input: unknown): Promise<ApiAnswer> {
  const forward = Object.hasOwn(PROCEDURES, procedure) ? PROCEDURES[procedure] : undefined;
  if (!forward) {
    return errorAnswer(
      new SfError(
        'BAD_INPUT',
        `no guest procedure '${procedure}': a VM may call ${GUEST_PROCEDURES.join(', ')} (POST /trpc/NAME with a JSON body)`,
      ),
    );
  }
  try {
    const value = await forward(client, (input ?? {}) as Input);
    return { status: 200, body: { result: { data: value ?? null } } };
  } catch (err) {
    return errorAnswer(clientError(err, url));
  }
}
