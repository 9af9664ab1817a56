// The operations panel's list: operations from sfmd's record, updated by live operation:progress
// events (newest first, kept after they finish), and the words people read for kinds and targets. Pure.
import type { Operation, OperationProgressEvent } from './api-types.ts';

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
};

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}

/** "ticket:3f2a…-uuid" → "ticket 3f2a1b2c", "domain:1:2" → "domain 1:2", "cluster:1" → "cluster 1". */
export function targetLabel(target: string): string {
  const m = /^(ticket|domain|cluster):(.+)$/.exec(target);
  if (!m) return target;
  return `${m[1]} ${m[1] === 'ticket' ? m[2]!.slice(0, 8) : m[2]}`;
}

/** "admin" → "admin (token)", "domain:1:0" → "VM 1:0", "host:kvm1" → "sfld on kvm1", "sfmd" → "sfmd". */
export function requesterLabel(requester: string): string {
  if (requester === 'admin') return 'admin';
  const domain = /^domain:(\d+:\d+)$/.exec(requester);
  if (domain) return `VM ${domain[1]}`;
  const host = /^host:(.+)$/.exec(requester);
  if (host) return `sfld on ${host[1]}`;
  return requester;
}

/** The cluster an operation belongs to, when its target or requester says so (for links). */
export function clusterOf(op: Pick<Operation, 'target' | 'requester'>): number | null {
  for (const text of [op.target, op.requester]) {
    const m = /^(?:domain|cluster):(\d+)/.exec(text);
    if (m) return Number(m[1]);
  }
  return null;
}
