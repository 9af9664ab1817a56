// A typed tRPC client for sfmd, as the CLI (admin token) or an sfld (host secret) uses it. Errors
// come back as SfErrors with the server's code; an unreachable sfmd is UNAVAILABLE with advice.
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../master/api/client-types.ts';
import { SfError, isErrorCode } from '../common/errors.ts';

export interface ClientOptions {
  url: string;
  token?: string | null;
  host?: { name: string; secret: string } | null;
  /** CLUSTER:VMID that guest calls act for. */
  domain?: string | null;
}

export type SfmdClient = ReturnType<typeof createTRPCClient<AppRouter>>;

export function createSfmdClient(options: ClientOptions): SfmdClient {
  const base = options.url.replace(/\/+$/, '');
  return createTRPCClient<AppRouter>({
    links: [httpLink({
      url: `${base}/trpc`,
      headers() {
        const headers: Record<string, string> = {};
        if (options.token) headers.authorization = `Bearer ${options.token}`;
        else if (options.host) headers.authorization = `SfHost ${options.host.name}:${options.host.secret}`;
        if (options.domain) headers['x-snowflock-domain'] = options.domain;
        return headers;
      },
    })],
  });
}

/** Turns what a tRPC call threw into an SfError that says what to do. */
export function clientError(err: unknown, url: string): SfError {
  if (err instanceof SfError) return err;
  if (err instanceof TRPCClientError) {
    const data = err.data as { sfCode?: unknown } | undefined;
    if (data && isErrorCode(data.sfCode)) return new SfError(data.sfCode, err.message);
    const cause = err.cause as { code?: string; cause?: { code?: string } } | undefined;
    const netCode = cause?.code ?? cause?.cause?.code;
    if (err.message.includes('fetch failed') || netCode === 'ECONNREFUSED') {
      return new SfError('UNAVAILABLE', `sfmd is not reachable at ${url}: start it with 'sfmd start' (or npm start), or pass --url`);
    }
    return new SfError('INTERNAL', err.message);
  }
  return new SfError('INTERNAL', err instanceof Error ? err.message : String(err));
}

/** Runs one call and converts its failure. */
export async function call<T>(url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw clientError(err, url);
  }
}
