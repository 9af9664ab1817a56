// Argument checks shared by the guest-side commands: counts, ticket ids and the --domain they need.
import { SfError } from '../../common/errors.ts';
import type { CommandContext } from '../context.ts';

export function requireDomain(ctx: CommandContext, command: string): string {
  if (!ctx.options.domain) {
    throw new SfError('BAD_INPUT', `${command} acts for a VM: outside one, name it with --domain CLUSTER:VMID (e.g. --domain 1:0)`);
  }
  return ctx.options.domain;
}

export function parseCount(text: string | undefined, what: string, min = 1): number {
  if (text === undefined) throw new SfError('BAD_INPUT', `missing ${what}`);
  if (!/^\d{1,7}$/.test(text) || Number(text) < min) {
    throw new SfError('BAD_INPUT', `${what} must be a whole number ≥ ${min}, got '${text}'`);
  }
  return Number(text);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseTicket(text: string | undefined): string {
  if (!text) throw new SfError('BAD_INPUT', 'missing TICKET (a 36-character id from sfdotix)');
  if (!UUID.test(text)) throw new SfError('BAD_INPUT', `'${text}' is not a ticket: tickets are 36-character ids from sfdotix`);
  return text.toLowerCase();
}

export function parseSeconds(text: string | boolean | undefined, what: string): number | undefined {
  if (text === undefined || typeof text === 'boolean') return undefined;
  if (!/^\d{1,5}$/.test(text)) throw new SfError('BAD_INPUT', `${what} must be whole seconds, got '${text}'`);
  return Number(text) * 1000;
}
