// Tests for the allocator registry: 'default' is built in, unknown names are BAD_CONFIG errors naming
// the known allocators, and new allocators can register without shadowing existing ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfError } from '../../common/errors.ts';
import { allocatorNames, defaultAllocator, getAllocator, registerAllocator, type Allocator } from './index.ts';

test('getAllocator returns the built-in default allocator', () => {
  assert.equal(getAllocator('default'), defaultAllocator);
});

test('an unknown allocator name is a BAD_CONFIG error listing the known ones', () => {
  assert.throws(
    () => getAllocator('nope'),
    (err: unknown) => err instanceof SfError && err.code === 'BAD_CONFIG' && /nope/.test(err.message) && /default/.test(err.message),
  );
});

test('registerAllocator adds a named allocator and refuses to shadow a different one', () => {
  const fake: Allocator = { name: 'test-sge', allocate: () => [] };
  registerAllocator(fake);
  registerAllocator(fake); // idempotent for the same object
  assert.equal(getAllocator('test-sge'), fake);
  assert.ok(allocatorNames().includes('test-sge'));
  assert.throws(() => registerAllocator({ name: 'default', allocate: () => [] }), { name: 'SfError' });
  assert.throws(() => registerAllocator({ name: '', allocate: () => [] }), { name: 'SfError' });
  assert.equal(getAllocator('default'), defaultAllocator);
});
