// Who may read sfmd's /metrics (sfmd.cfg `metrics`): anyone ('open'), a caller with an API token (any role,
// read is enough) as a bearer ('token', the default) or nobody ('off'). Scrapes pass the same edge limits as /trpc calls: per
// credential with the token, per address without one, and failed tokens count against their address.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsAccess } from '../common/config/index.ts';
import type { ErrorCode } from '../common/errors.ts';
import type { MetricsAnswer } from '../common/prometheus.ts';
import type { EdgeLimits, RateRefusal } from './edge-limits.ts';
import { masterMetrics } from './metrics.ts';
import type { MasterServices } from './services.ts';

export type MetricsReply = MetricsAnswer | { refusal: RateRefusal } | { code: ErrorCode; message: string };

/** Starts counting (operations, allocator decisions) as sfmd starts, unless sfmd.cfg turned /metrics off. */
export function watchMetrics(svc: MasterServices): void {
  if (svc.config.metrics !== 'off') masterMetrics(svc);
}

export function isMetricsPath(url: string): boolean {
  return url === '/metrics' || url.startsWith('/metrics?');
}

export async function answerMetrics(
  svc: MasterServices,
  limits: EdgeLimits,
  access: MetricsAccess,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<MetricsReply> {
  if (access === 'off') {
    return { code: 'FORBIDDEN', message: "/metrics is off on this sfmd: set metrics = 'token' (or 'open') in sfmd.cfg and restart sfmd" };
  }
  const admission = await limits.admitCall(req, res, 1);
  if ('refusal' in admission) return admission;
  if (access === 'token' && admission.caller.kind !== 'token') {
    const why = admission.caller.kind === 'anonymous' ? admission.caller.reason : 'a host secret does not open /metrics';
    return {
      code: 'UNAUTHORIZED',
      message:
        `/metrics needs an API token as a bearer (${why}): give Prometheus an authorization header ` +
        "'Bearer <token>' (a read token is enough: sf token create prometheus --role read), or set metrics = 'open' in sfmd.cfg",
    };
  }
  return masterMetrics(svc).get();
}
