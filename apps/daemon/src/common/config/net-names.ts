// Checks for host names, IP addresses and CIDR blocks in config files. Host names also become file
// names (secrets/NAME.secret), so nothing with '/', '..' or spaces may pass as one.
import { isIP } from 'node:net';
import type { PyValue } from './pyliteral.ts';
import { configError, describe, string, type Check, type Where } from './schema.ts';

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

export function isHostName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  // All digits and dots but not an address: a mistyped IPv4 address, not a name.
  if (/^[0-9.]+$/.test(s)) return false;
  return s.split('.').every((label) => LABEL.test(label));
}

export function isHostOrAddress(s: string): boolean {
  return isIP(s) !== 0 || isHostName(s);
}

export function isCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const family = isIP(m[1]!);
  const bits = Number(m[2]);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

const text = string({ maxLength: 253, what: 'a host name' });

/** A host name or an IP address. */
export const hostName: Check<string> = (value: PyValue, at: Where) => {
  const s = text(value, at);
  if (!isHostOrAddress(s)) throw configError(at, `expected a host name or IP address, got ${describe(value)}`);
  return s;
};

/** A host name, an IP address or a CIDR block such as '10.0.0.0/8'. */
export const networkAddress: Check<string> = (value: PyValue, at: Where) => {
  const s = string({ maxLength: 253, what: 'a host name, IP address or CIDR block' })(value, at);
  if (!isHostOrAddress(s) && !isCidr(s)) {
    throw configError(at, `expected a host name, an IP address or a CIDR block like '10.0.0.0/8', got ${describe(value)}`);
  }
  return s;
};
