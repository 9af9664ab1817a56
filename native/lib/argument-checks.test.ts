// Tests the argument checks the wrappers share: what passes, and the VmError('BAD_INPUT') message for what does not.
// Boundary: argument-checks.ts only; the wrappers' own option tests are vm-options.test.ts and memserver.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  badInput,
  checkEndpoint,
  checkInterfaceAddress,
  checkTestFraction,
  describe as describeValue,
  intInRange,
  isMulticastAddress,
} from './argument-checks.ts';

const badInputWith = (message: RegExp) => ({ name: 'VmError', code: 'BAD_INPUT', message });

describe('argument checks', () => {
  test('badInput prefixes where the check ran, when given', () => {
    assert.throws(() => badInput('x is wrong.'), badInputWith(/^x is wrong\.$/));
    assert.throws(() => badInput('x is wrong.', 'startMemserver()'), badInputWith(/^startMemserver\(\): x is wrong\.$/));
  });

  test('describe shows strings quoted and objects by kind only', () => {
    assert.deepEqual(['a', 7, 3n, null, undefined, [1], { secret: 1 }].map(describeValue), [
      '"a"',
      '7',
      '3n',
      'null',
      'undefined',
      'an array',
      'an object',
    ]);
  });

  test('intInRange takes integers within the bounds only', () => {
    assert.equal(intInRange('n', 5, 0, 5), 5);
    for (const v of [-1, 6, 1.5, '3', Number.NaN]) {
      assert.throws(() => intInRange('n', v, 0, 5, ' (units)'), badInputWith(/^n must be an integer from 0 to 5 \(units\), got /));
    }
  });

  test('endpoints are a.b.c.d:port', () => {
    assert.equal(checkEndpoint('bind', '127.0.0.1:0'), '127.0.0.1:0');
    assert.equal(checkEndpoint('group', '239.1.2.3:65535'), '239.1.2.3:65535');
    for (const v of ['127.0.0.1', '300.0.0.1:1', '1.2.3.4:65536', 'host:80', 17, undefined]) {
      assert.throws(() => checkEndpoint('server', v, 'f()'), badInputWith(/^f\(\): server must be 'a\.b\.c\.d:port', got /));
    }
  });

  test('interfaces are unicast addresses without a port', () => {
    assert.equal(checkInterfaceAddress('interface', '10.0.0.1'), '10.0.0.1');
    for (const v of ['10.0.0.1:9', '0.0.0.0', '224.0.0.1', 'lo', null]) {
      assert.throws(() => checkInterfaceAddress('interface', v), badInputWith(/interface must be a unicast IPv4 address/));
    }
  });

  test('multicast is 224.0.0.0/4', () => {
    assert.deepEqual(['223.255.255.255', '224.0.0.0', '239.255.255.255', '240.0.0.0'].map(isMulticastAddress), [false, true, true, false]);
  });

  test('test fractions are 0 to 0.5', () => {
    assert.equal(checkTestFraction('lossForTest', 0.5), 0.5);
    for (const v of [-0.1, 0.6, Number.NaN, '0.1']) {
      assert.throws(() => checkTestFraction('lossForTest', v), badInputWith(/lossForTest must be a fraction from 0 to 0\.5/));
    }
  });
});
