// The operations panel's list: pages of sfmd's record (newest first, kept after they finish) updated by
// live operation:progress events and refreshed pages, and the words people read for kinds and targets. Pure.
import type { Operation, OperationPage, OperationProgressEvent } from './api-types.ts';

export interface OperationsUpdate {
  list: Operation[];
  /** The event named an operation the list did not have: fetch the list for its requester and start time. */
  unknown: boolean;
}

export function applyProgress(list: readonly Operation[], event: OperationProgressEvent, now = new Date()): OperationsUpdate {
  const index = list.findIndex((op) => op.id === event.id);
  const done = event.status !== 'running';
  if (index >= 0) {
    const before = list[index]!;
    const updated: Operation = {
      ...before,
      status: event.status,
      progress: event.progress,
      error: event.error,
      finishedAt: done ? (before.finishedAt ?? now.toISOString()) : null,
    };
    return { list: list.map((op, i) => (i === index ? updated : op)), unknown: false };
  }
  const added: Operation = {
    id: event.id,
    kind: event.kind,
    target: event.target,
    requester: '…',
    clusterid: clusterOf({ target: event.target, requester: '' }),
    status: event.status,
    progress: event.progress,
    error: event.error,
    detail: {},
    startedAt: now.toISOString(),
    finishedAt: done ? now.toISOString() : null,
  };
  return { list: [added, ...list], unknown: true };
}

const KIND_LABELS: Record<string, string> = {
  'cluster.seed': 'Seed cluster',
  'cluster.shutdown': 'Shut down cluster',
  'clone.master': 'Clone (fork)',
  'clone.merge': 'Merge clones',
  'clone.join': 'Join clones',
  'clone.exit': 'Clone exit',
  'ticket.request': 'Request ticket',
  'ticket.dispose': 'Dispose ticket',
  'domain.kill': 'Kill domain',
  'host.register': 'Host registered',
  'host.release': 'Host released',
  'token.create': 'Token made',
  'token.revoke': 'Token revoked',
  'doctor.repair': 'Record repaired',
};

/** The kinds the panel's filter offers (sfmd takes any kind; these are the ones it records). */
export const OPERATION_KINDS = Object.keys(KIND_LABELS);

export const OUTCOMES = ['running', 'succeeded', 'failed'] as const;

export interface OperationsQuery {
  clusterid?: number | undefined;
  kind: string;
  outcome: string;
  cursor?: string | undefined;
}

/** The dashboard route a page of operations comes from ("" kind or outcome: all). */
export function operationsUrl(q: OperationsQuery): string {
  const params = new URLSearchParams();
  if (q.clusterid !== undefined) params.set('clusterid', String(q.clusterid));
  if (q.kind) params.set('kind', q.kind);
  if (q.outcome) params.set('outcome', q.outcome);
  if (q.cursor) params.set('cursor', q.cursor);
  const text = params.toString();
  return `/api/operations${text ? `?${text}` : ''}`;
}

/**
 * A fresh newest page over what the panel shows. Older pages the viewer loaded stay (below the fresh
 * page, without repeats), and so does the cursor past them; without them the fresh page is the list.
 */
export function mergeNewest(shown: OperationPage, fresh: OperationPage, olderLoaded: boolean): OperationPage {
  if (!olderLoaded) return fresh;
  const ids = new Set(fresh.operations.map((o) => o.id));
  const last = fresh.operations.at(-1);
  const older = shown.operations.filter((o) => !ids.has(o.id) && (!last || o.startedAt <= last.startedAt));
  return { operations: [...fresh.operations, ...older], nextCursor: shown.nextCursor };
}

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}

/** "ticket:3f2a…-uuid" → "ticket 3f2a1b2c", "domain:1:2" → "domain 1:2", "cluster:1" → "cluster 1", "token:alice" → "token alice". */
export function targetLabel(target: string): string {
  const m = /^(ticket|domain|cluster|token):(.+)$/.exec(target);
  if (!m) return target;
  return `${m[1]} ${m[1] === 'ticket' ? m[2]!.slice(0, 8) : m[2]}`;
}

/** "token:alice" → "alice (token)", "domain:1:0" → "VM 1:0", "host:kvm1" → "sfld on kvm1", "sfmd" → "sfmd". */
export function requesterLabel(requester: string): string {
  const token = /^token:(.+)$/.exec(requester);
  if (token) return `${token[1]} (token)`;
  const domain = /^domain:(\d+:\d+)$/.exec(requester);
  if (domain) return `VM ${domain[1]}`;
  const host = /^host:(.+)$/.exec(requester);
  if (host) return `sfld on ${host[1]}`;
  return requester;
}

/** The cluster an operation belongs to, as sfmd recorded it or as its target or requester says (for links). */
export function clusterOf(op: Pick<Operation, 'target' | 'requester'> & { clusterid?: number | null }): number | null {
  if (op.clusterid !== undefined && op.clusterid !== null) return op.clusterid;
  for (const text of [op.target, op.requester]) {
    const m = /^(?:domain|cluster):(\d+)/.exec(text);
    if (m) return Number(m[1]);
  }
  return null;
}
