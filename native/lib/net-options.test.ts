// Tests the checks of the VM option `net` before any native code runs, and the shape netStats() answers with.
// Boundary: net-options.ts only; no addon (net.test.ts boots VMs with a NIC).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkNetOptions, parseNetStats } from './net-options.ts';

const good = { tap: 'sft1c2v3', mac: '02:00:00:01:00:03', ip: '10.1.0.4', prefixLength: 24, gateway: '10.1.0.254', dns: ['198.18.0.53'] };

test('a good net option passes through, MAC lower-cased; absent or null means no NIC', () => {
  assert.deepEqual(checkNetOptions({ ...good, mac: '02:AB:00:01:00:03' }), { ...good, mac: '02:ab:00:01:00:03' });
  assert.deepEqual(checkNetOptions({ ...good, gateway: null, dns: [] }), { ...good, gateway: null, dns: [] });
  assert.equal(checkNetOptions(undefined), null);
  assert.equal(checkNetOptions(null), null);
});

test('bad net options are refused with BAD_INPUT naming the field', () => {
  const cases: [unknown, RegExp][] = [
    ['sft1', /net must be an object/],
    [{ ...good, tap: '' }, /net\.tap/],
    [{ ...good, tap: 'a-name-of-16-chr' }, /net\.tap/],
    [{ ...good, tap: 'a/b' }, /net\.tap/],
    [{ ...good, tap: 7 }, /net\.tap/],
    [{ ...good, mac: '02:00:00:01:00' }, /net\.mac/],
    [{ ...good, mac: '02-00-00-01-00-03' }, /net\.mac/],
    [{ ...good, mac: '01:00:5e:00:00:01' }, /unicast/],
    [{ ...good, mac: '00:00:00:00:00:00' }, /unicast/],
    [{ ...good, ip: '10.1.0' }, /net\.ip/],
    [{ ...good, ip: '10.1.0.256' }, /net\.ip/],
    [{ ...good, ip: '10.1.0.0' }, /network or broadcast/],
    [{ ...good, ip: '10.1.0.255' }, /network or broadcast/],
    [{ ...good, prefixLength: 0 }, /prefixLength/],
    [{ ...good, prefixLength: 31 }, /prefixLength/],
    [{ ...good, prefixLength: '24' }, /prefixLength/],
    [{ ...good, gateway: '10.2.0.1' }, /net\.gateway/],
    [{ ...good, gateway: '10.1.0.4' }, /net\.gateway/],
    [{ ...good, gateway: 'router' }, /net\.gateway/],
    [{ ...good, gateway: null, ip: '10.1.0.1' }, /first host/],
    [{ ...good, dns: '1.1.1.1' }, /net\.dns/],
    [{ ...good, dns: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5'] }, /net\.dns/],
    [{ ...good, dns: ['one'] }, /net\.dns\[0\]/],
    [{ ...good, dns: ['0.0.0.0'] }, /net\.dns\[0\]/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(() => checkNetOptions(value), { name: 'VmError', code: 'BAD_INPUT', message: pattern }, String(pattern));
  }
});

test('netStats answers are parsed strictly', () => {
  assert.equal(parseNetStats(null), null);
  const stats = { rxPackets: 1, rxBytes: 60, txPackets: 2, txBytes: 120, rxDrops: 0, txDrops: 0, badChains: 0, dhcpAnswers: 2, wakeups: 9 };
  assert.deepEqual(parseNetStats(stats), stats);
  assert.throws(() => parseNetStats({ ...stats, rxBytes: -1 }), /netStats\.rxBytes/);
});
