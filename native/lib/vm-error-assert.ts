// Test helper: asserts that a promise rejects with a VmError of the given code (and message), for the tests of
// the VM API's checks and of the VM itself. Not exported from index.ts.
import assert from 'node:assert/strict';
import { VmError } from './errors.ts';

export async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof VmError, `expected a VmError, got ${String(error)}`);
    assert.equal(error.code, code, `code of: ${error.message}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}
