// Tests the one table that turns a C++ status (errno + operation) into a VmError code, and the error it builds.
// Boundary: errors.ts only; no addon.
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { describe, test } from 'node:test';

import { makeVmErrorFromStatus, VmError, vmErrorCodeFor } from './errors.ts';

describe('C++ status -> VmError mapping', () => {
  const e = constants.errno;
  test('errno + operation pick the code', () => {
    assert.equal(vmErrorCodeFor(e.ENOENT, 'create'), 'KVM_UNAVAILABLE');
    assert.equal(vmErrorCodeFor(e.EACCES, 'create'), 'KVM_UNAVAILABLE');
    assert.equal(vmErrorCodeFor(e.EINVAL, 'create'), 'BAD_INPUT');
    assert.equal(vmErrorCodeFor(e.ENOMEM, 'create'), 'NO_RESOURCES');
    assert.equal(vmErrorCodeFor(e.ENOEXEC, 'load'), 'BAD_IMAGE');
    assert.equal(vmErrorCodeFor(e.ENOENT, 'load'), 'BAD_IMAGE');
    assert.equal(vmErrorCodeFor(e.EINVAL, 'pause'), 'BAD_STATE');
    assert.equal(vmErrorCodeFor(e.ECANCELED, 'pause'), 'BAD_STATE');
    assert.equal(vmErrorCodeFor(e.ENOENT, 'answerCall'), 'BAD_STATE');
    assert.equal(vmErrorCodeFor(e.EBUSY, 'boot'), 'BAD_STATE');
    assert.equal(vmErrorCodeFor(e.EIO, 'boot'), 'INTERNAL');
    assert.equal(vmErrorCodeFor(e.ENOTSUP, 'create'), 'KVM_UNAVAILABLE');
  });
  test('the error keeps the native facts', () => {
    const error = makeVmErrorFromStatus(e.ENOEXEC, 'invalid guest ELF image: bad magic', 'load');
    assert.ok(error instanceof VmError && error instanceof Error);
    assert.equal(error.code, 'BAD_IMAGE');
    assert.equal(error.statusCode, e.ENOEXEC);
    assert.equal(error.errno, 'ENOEXEC');
    assert.equal(error.operation, 'load');
    assert.equal(error.message, 'invalid guest ELF image: bad magic');
  });
});
