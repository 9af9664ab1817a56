// Guest calls between the VMM and JS: decodes a pending seed-API hypercall (struct sf_hc_request) and checks a
// handler's answer into the complete struct sf_hc_reply the binding takes. Boundary: conversion and checks, no policy.
import type { NativeGuestReply } from './addon.ts';
import { shapeError } from './addon-results.ts';
import { describe } from './argument-checks.ts';
import { SfAbi, SfExitHow, SfHypercall, SfStatus, type SfHypercallName } from './guest-abi.ts';

/** One clone.join record (`struct sf_hc_exit`). */
export interface GuestExitRecord {
  vmid: number;
  /** The clone's IC_EXIT status (int32) when it exited by itself, else 0. */
  status: number;
  /** SfExitHow. */
  how: number;
}

const hypercallNames = new Map<number, SfHypercallName>(Object.entries(SfHypercall).map(([name, nr]) => [nr, name as SfHypercallName]));
const statusNumbers = new Set<number>(Object.values(SfStatus));

/** The guest's `struct sf_hc_request`, decoded. Every field is guest-controlled: treat it as untrusted input. */
export interface GuestRequest {
  /** Repeats the hypercall number (the VMM has checked it matches). */
  nr: number;
  /** Raw SF_REQ_* bits. */
  flags: number;
  /** flags & SF_REQ_PROCS */
  procs: boolean;
  /** flags & SF_REQ_BLOCK */
  block: boolean;
  nclones: number;
  min: number;
  /** clone.exit's status. */
  status: number;
  /** 0 = default. */
  timeoutMs: number;
  /** Up to 36 characters; '' = none. */
  ticket: string;
}

/** One pending seed-API hypercall. The vCPU that made it waits until it is answered. */
export interface GuestCall {
  /** Native call id (unique per VM). */
  id: bigint;
  /** The hypercall number (SfHypercall.*). */
  nr: number;
  /** SfHypercall name, or `UNKNOWN_<nr>`. */
  name: SfHypercallName | `UNKNOWN_${number}`;
  /** The vCPU that is waiting. */
  vcpu: number;
  request: GuestRequest;
}

/** The answer to a guest call (`struct sf_hc_reply`); omitted fields are zero / empty. */
export interface GuestReply {
  /** SfStatus.OK (0) or a negated SfStatus code, e.g. `-SfStatus.ENORES`. */
  status: number;
  /** Granted clones/processors, nclones, tickets or allocations (uint32). */
  count?: number;
  /** clone.master: this VM's answer, 0 = master (int32). */
  vmid?: number;
  nunused?: number;
  noutstanding?: number;
  /** At most 36 bytes (UTF-8), no NUL. */
  ticket?: string;
  /** Human message for status < 0; truncated to 239 UTF-8 bytes. */
  errmsg?: string;
  /** ticket.list: at most 64 tickets of at most 36 bytes each. */
  tickets?: readonly string[];
  /** ticket.info: at most 256 allocations. */
  alloc?: readonly { vmid: number; processors: number }[];
  /** clone.join: at most 256 exit records, in vmid order. */
  exits?: readonly GuestExitRecord[];
}

/** Answers a guest call. May be async; the vCPU waits for the promise. */
export type GuestCallHandler = (call: GuestCall) => GuestReply | Promise<GuestReply>;

/** A checked GuestReply with every field present: what crosses into the binding (see normalizeGuestReply). */
export type NormalizedGuestReply = NativeGuestReply;

const utf8 = new TextEncoder();

function nameOf(nr: number): GuestCall['name'] {
  return hypercallNames.get(nr) ?? `UNKNOWN_${nr}`;
}

/** Decodes what the binding's onGuestCall hook receives; TypeError (a stale binary) if it has another shape. */
export function parseGuestCall(value: unknown): GuestCall {
  const o = value as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) shapeError('guest call', value);
  const r = o.request as Record<string, unknown> | null;
  if (typeof o.id !== 'bigint' || typeof o.nr !== 'number' || typeof o.vcpu !== 'number') {
    shapeError('guest call', value);
  }
  if (typeof r !== 'object' || r === null) shapeError('guest call request', r);
  const num = (key: string): number => {
    const v = r[key];
    if (typeof v !== 'number') shapeError(`guest call request.${key}`, v);
    return v;
  };
  const ticket = r.ticket;
  if (typeof ticket !== 'string') shapeError('guest call request.ticket', ticket);
  const flags = num('flags');
  return {
    id: o.id,
    nr: o.nr,
    name: nameOf(o.nr),
    vcpu: o.vcpu,
    request: {
      nr: num('nr'),
      flags,
      procs: (flags & SfAbi.REQ_PROCS) !== 0,
      block: (flags & SfAbi.REQ_BLOCK) !== 0,
      nclones: num('nclones'),
      min: num('min'),
      status: num('status'),
      timeoutMs: num('timeoutMs'),
      ticket,
    },
  };
}

/** Cuts a string to at most `maxBytes` UTF-8 bytes without splitting a character. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (utf8.encode(text).length <= maxBytes) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const n = utf8.encode(ch).length;
    if (used + n > maxBytes) break;
    out += ch;
    used += n;
  }
  return out;
}

function replyError(message: string): never {
  throw new TypeError(`invalid guest-call reply: ${message}`);
}

function uint32(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    replyError(`${name} must be a uint32, got ${describe(value)}`);
  }
  return value;
}

function ticketText(name: string, value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') replyError(`${name} must be a string, got ${describe(value)}`);
  if (value.includes('\0')) replyError(`${name} must not contain NUL`);
  if (utf8.encode(value).length > SfAbi.TICKET_LEN) {
    replyError(`${name} is longer than ${SfAbi.TICKET_LEN} bytes: ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a handler's reply and fills defaults. Throws TypeError (with a message fit for errmsg) when invalid. */
export function normalizeGuestReply(reply: unknown): NormalizedGuestReply {
  if (typeof reply !== 'object' || reply === null) replyError(`expected an object, got ${describe(reply)}`);
  const r = reply as Record<string, unknown>;
  const status = r.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status > 0 || !statusNumbers.has(-status)) {
    replyError(`status must be 0 or a negated SfStatus code (-1..-${SfStatus.ECLONE}), got ${describe(status)}`);
  }
  const vmid = r.vmid ?? 0;
  if (typeof vmid !== 'number' || !Number.isInteger(vmid) || vmid < -0x8000_0000 || vmid > 0x7fff_ffff) {
    replyError(`vmid must be an int32, got ${describe(vmid)}`);
  }
  const errmsg = r.errmsg ?? '';
  if (typeof errmsg !== 'string') replyError(`errmsg must be a string, got ${describe(errmsg)}`);
  const tickets = r.tickets ?? [];
  if (!Array.isArray(tickets)) replyError(`tickets must be an array, got ${describe(tickets)}`);
  if (tickets.length > SfAbi.MAX_TICKETS) replyError(`at most ${SfAbi.MAX_TICKETS} tickets, got ${tickets.length}`);
  const alloc = r.alloc ?? [];
  if (!Array.isArray(alloc)) replyError(`alloc must be an array, got ${describe(alloc)}`);
  if (alloc.length > SfAbi.MAX_ALLOC) replyError(`at most ${SfAbi.MAX_ALLOC} allocations, got ${alloc.length}`);
  const exits = r.exits ?? [];
  if (!Array.isArray(exits)) replyError(`exits must be an array, got ${describe(exits)}`);
  if (exits.length > SfAbi.MAX_ALLOC) replyError(`at most ${SfAbi.MAX_ALLOC} exit records, got ${exits.length}`);
  return {
    status,
    count: uint32('count', r.count),
    vmid,
    nunused: uint32('nunused', r.nunused),
    noutstanding: uint32('noutstanding', r.noutstanding),
    ticket: ticketText('ticket', r.ticket),
    errmsg: truncateUtf8(errmsg.replaceAll('\0', ' '), SfAbi.ERRMSG_LEN - 1),
    tickets: tickets.map((t: unknown, i) => ticketText(`tickets[${i}]`, t)),
    alloc: alloc.map((a: unknown, i) => {
      if (typeof a !== 'object' || a === null) replyError(`alloc[${i}] must be an object, got ${describe(a)}`);
      const entry = a as Record<string, unknown>;
      return {
        vmid: uint32(`alloc[${i}].vmid`, entry.vmid),
        processors: uint32(`alloc[${i}].processors`, entry.processors),
      };
    }),
    exits: exits.map((e: unknown, i) => {
      if (typeof e !== 'object' || e === null) replyError(`exits[${i}] must be an object, got ${describe(e)}`);
      const entry = e as Record<string, unknown>;
      const status = entry.status ?? 0;
      if (typeof status !== 'number' || !Number.isInteger(status) || status < -0x8000_0000 || status > 0x7fff_ffff) {
        replyError(`exits[${i}].status must be an int32, got ${describe(status)}`);
      }
      const how = uint32(`exits[${i}].how`, entry.how);
      if (how > SfExitHow.KILLED) replyError(`exits[${i}].how must be an SfExitHow value, got ${how}`);
      return { vmid: uint32(`exits[${i}].vmid`, entry.vmid), status, how };
    }),
  };
}

/** The answer for a call that failed on the host: -`status` with `message` in errmsg. */
export function failureReply(status: number, message: string): NormalizedGuestReply {
  return normalizeGuestReply({ status: -status, errmsg: message });
}

/**
 * The clone.join answer for clones 1..n from the IC_EXIT statuses they sent (`exits`, by vmid): a clone that sent
 * none ended without exiting, so it counts as crashed. For hosts that run a cluster without sfmd (tests, benchmarks).
 */
export function joinReply(n: number, exits: ReadonlyMap<number, number>): GuestReply {
  return {
    status: 0,
    count: n,
    exits: [...Array(n).keys()].map((i) => ({
      vmid: i + 1,
      status: exits.get(i + 1) ?? 0,
      how: exits.has(i + 1) ? SfExitHow.EXITED : SfExitHow.CRASHED,
    })),
  };
}

/**
 * The rest of a cluster run without sfmd (tests, benchmarks), once a handler has answered its own calls: IC_EXIT's
 * status kept in `exits` under `vmid`, IC_JOIN answered (joinReply) once `clonesEnded` resolves, anything else ENOSYS.
 */
export async function exitOrJoinReply(
  call: GuestCall,
  vmid: number,
  n: number,
  exits: Map<number, number>,
  clonesEnded: () => Promise<unknown>,
): Promise<GuestReply> {
  switch (call.nr) {
    case SfHypercall.CLONE_EXIT:
      exits.set(vmid, call.request.status);
      return { status: 0 };
    case SfHypercall.CLONE_JOIN:
      await clonesEnded();
      return joinReply(n, exits);
    default:
      return { status: -SfStatus.ENOSYS };
  }
}
