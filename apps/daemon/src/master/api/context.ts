// Builds a request's ApiContext: its caller (from the admin token or a host secret) and, from the
// x-snowflock-domain header, the domain a guest call acts for.
import type { IncomingHttpHeaders } from 'node:http';
import { parseAuthorization, tokenMatches } from '../auth.ts';
import { authenticateHost } from '../hosts.ts';
import type { MasterServices } from '../services.ts';
import type { ApiContext, Caller } from './trpc.ts';

export const DOMAIN_HEADER = 'x-snowflock-domain';

export async function contextFromHeaders(svc: MasterServices, adminToken: string, headers: IncomingHttpHeaders): Promise<ApiContext> {
  const credentials = parseAuthorization(headers.authorization);
  let caller: Caller;
  if (credentials.kind === 'admin') {
    caller = tokenMatches(credentials.token, adminToken) ? { kind: 'admin' } : { kind: 'anonymous', reason: 'the admin token is wrong' };
  } else if (credentials.kind === 'host') {
    try {
      const host = await authenticateHost(svc, credentials.name, credentials.secret);
      caller = { kind: 'host', hostId: host.id, name: host.name };
    } catch {
      caller = { kind: 'anonymous', reason: `host credentials for '${credentials.name}' were rejected` };
    }
  } else {
    caller = { kind: 'anonymous', reason: 'no Authorization header was sent' };
  }
  return contextFor(svc, caller, headers);
}

/** The context of a request whose caller is already known (sfmd's edge decides it, see edge-limits.ts). */
export function contextFor(svc: MasterServices, caller: Caller, headers: IncomingHttpHeaders): ApiContext {
  const domain = headers[DOMAIN_HEADER];
  return { svc, caller, domainHeader: typeof domain === 'string' ? domain : null };
}
