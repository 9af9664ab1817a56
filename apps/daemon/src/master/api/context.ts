// Builds a request's ApiContext: its caller (from an API token or a host secret) and, from the
// x-snowflock-domain header, the domain a guest call acts for.
import type { IncomingHttpHeaders } from 'node:http';
import { parseAuthorization } from '../auth.ts';
import { authenticateHost } from '../hosts.ts';
import type { MasterServices } from '../services.ts';
import { type TokenIdentity, tokenRegistry } from '../tokens.ts';
import type { ApiContext, Caller } from './trpc.ts';

export const DOMAIN_HEADER = 'x-snowflock-domain';
/**
 * Set by the sfld running a cluster's router when a guest called over the cluster network (its source
 * address named the domain): such a call may act for a VM of that cluster on another host.
 */
export const VIA_HEADER = 'x-snowflock-via';
export const VIA_CLUSTER_NETWORK = 'cluster-network';

export async function contextFromHeaders(svc: MasterServices, headers: IncomingHttpHeaders): Promise<ApiContext> {
  const credentials = parseAuthorization(headers.authorization);
  let caller: Caller;
  if (credentials.kind === 'bearer') {
    const check = await tokenRegistry(svc).check(credentials.token);
    caller = 'token' in check ? tokenCaller(check.token) : { kind: 'anonymous', reason: check.reason };
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

export function tokenCaller(token: TokenIdentity): Caller {
  return { kind: 'token', id: token.id, name: token.name, role: token.role };
}

/** The context of a request whose caller is already known (sfmd's edge decides it, see edge-limits.ts). */
export function contextFor(svc: MasterServices, caller: Caller, headers: IncomingHttpHeaders): ApiContext {
  const domain = headers[DOMAIN_HEADER];
  return {
    svc,
    caller,
    domainHeader: typeof domain === 'string' ? domain : null,
    viaClusterNetwork: headers[VIA_HEADER] === VIA_CLUSTER_NETWORK,
  };
}
