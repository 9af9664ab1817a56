// The argument checks the wrappers share (integers in range, IPv4 endpoints and interfaces, test fractions) and the
// VmError('BAD_INPUT') they throw. Boundary: generic value checks only; what an option means stays with its wrapper.
import { VmError } from './errors.ts';

/** Throws VmError('BAD_INPUT'); `where` (e.g. 'startMemserver()') prefixes the message when given. */
export function badInput(message: string, where?: string): never {
  throw new VmError('BAD_INPUT', where === undefined ? message : `${where}: ${message}`);
}

/** A value as an error message shows it: strings quoted, objects and arrays by kind only. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

export function intInRange(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    badInput(`${name} must be an integer from ${min} to ${max}${unit}, got ${describe(value)}.`);
  }
  return value;
}

const ipv4Address = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** 224.0.0.0/4; `address` is a dotted quad already checked. */
export function isMulticastAddress(address: string): boolean {
  const first = Number(address.split('.')[0]);
  return first >= 224 && first <= 239;
}

/** 'a.b.c.d:port' (port 0 allowed: any). */
export function checkEndpoint(name: string, value: unknown, where?: string): string {
  const m = typeof value === 'string' ? /^([^:]+):(\d{1,5})$/.exec(value) : null;
  if (!m || !ipv4Address.test(m[1]!) || Number(m[2]) > 65535) {
    badInput(`${name} must be 'a.b.c.d:port', got ${describe(value)}.`, where);
  }
  return value as string;
}

/** A unicast IPv4 address of this host without a port: the interface multicast leaves by or is joined on. */
export function checkInterfaceAddress(name: string, value: unknown, where?: string): string {
  if (typeof value !== 'string' || !ipv4Address.test(value) || value === '0.0.0.0' || isMulticastAddress(value)) {
    badInput(`${name} must be a unicast IPv4 address of this host (no port), got ${describe(value)}.`, where);
  }
  return value;
}

/** The test-only knobs that lose datagrams on purpose: a fraction from 0 to 0.5. */
export function checkTestFraction(name: string, value: unknown, where?: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 0.5)) {
    badInput(`${name} must be a fraction from 0 to 0.5, got ${describe(value)}.`, where);
  }
  return value;
}
