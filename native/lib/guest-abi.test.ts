// Checks the TypeScript mirror of the guest ABI against native/guest/include/snowflock/abi.h itself.
// Boundary: the constants only; no addon, no KVM.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { SfAbi, SfHypercall, SfStatus } from './guest-abi.ts';

const abiHeader = new URL('../guest/include/snowflock/abi.h', import.meta.url);

describe('guest ABI mirror', () => {
  const header = readFileSync(abiHeader, 'utf8');
  const enumValues = (prefix: string): Map<string, number> => {
    const out = new Map<string, number>();
    for (const m of header.matchAll(new RegExp(`^\\s*${prefix}([A-Z0-9_]+)\\s*=\\s*(\\d+)`, 'gm'))) {
      out.set(m[1]!, Number(m[2]));
    }
    return out;
  };
  const define = (name: string): number => {
    const m = header.match(new RegExp(`#define ${name}\\s+(0x[0-9A-Fa-f]+|\\d+)u?`));
    assert.ok(m, `${name} not found in abi.h`);
    return Number(m[1]);
  };

  test('SfHypercall matches enum sf_hypercall', () => {
    assert.deepEqual(Object.fromEntries(enumValues('SF_HC_')), SfHypercall);
  });
  test('SfStatus matches enum sf_status', () => {
    const fromHeader = Object.fromEntries([...enumValues('SF_')].filter(([k]) => k === 'OK' || k.startsWith('E')));
    assert.deepEqual(fromHeader, SfStatus);
  });
  test('SfAbi sizes and flags match the #defines', () => {
    assert.equal(SfAbi.ABI_VERSION, define('SF_ABI_VERSION'));
    assert.equal(SfAbi.HC_PORT, define('SF_HC_PORT'));
    assert.equal(SfAbi.SERIAL_PORT, define('SF_SERIAL_PORT'));
    assert.equal(SfAbi.MAX_VCPUS, define('SF_MAX_VCPUS'));
    assert.equal(SfAbi.CMDLINE_MAX, define('SF_CMDLINE_MAX'));
    assert.equal(SfAbi.CONSOLE_WRITE_MAX, define('SF_CONSOLE_WRITE_MAX'));
    assert.equal(SfAbi.WAIT_MAX_NS, define('SF_WAIT_MAX_NS'));
    assert.equal(SfAbi.TICKET_LEN, define('SF_TICKET_LEN'));
    assert.equal(SfAbi.MAX_TICKETS, define('SF_MAX_TICKETS'));
    assert.equal(SfAbi.MAX_ALLOC, define('SF_MAX_ALLOC'));
    assert.equal(SfAbi.ERRMSG_LEN, define('SF_ERRMSG_LEN'));
    assert.equal(SfAbi.REQ_PROCS, define('SF_REQ_PROCS'));
    assert.equal(SfAbi.REQ_BLOCK, define('SF_REQ_BLOCK'));
    assert.match(header, /#define SF_RAM_MAX \(64ull << 30\)/);
  });
});
