// Builds a request's ApiContext from its headers: admin token or host secret → caller, and the
// x-snowflock-domain header → the domain a guest call acts for.
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
  const domain = headers[DOMAIN_HEADER];
  return { svc, caller, domainHeader: typeof domain === 'string' ? domain : null };
}
