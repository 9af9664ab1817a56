// The batched lastSeen writes: many due beats become one write with the earliest beat's time, a host no
// longer online is left alone, and a beat due through recordHeartbeat reaches the record after a flush.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GiB, masterFixture } from '../../test/support.ts';
import { recordHeartbeat, releaseHost } from './hosts.ts';
import { lastSeenWriter, LastSeenWriter } from './last-seen-writer.ts';

test('due beats are written together with the earliest time; an offline host keeps its record', async (t) => {
  const f = await masterFixture(['a', 'b', 'c'].map((name) => ({ name, cpus: 2, ram: GiB })));
  t.after(() => f.close());
  await f.online('a', 'b', 'c');
  const c = await f.svc.db.host.findUniqueOrThrow({ where: { name: 'c' } });
  await releaseHost(f.svc, c.id, 'offline', 'test');
  const cSeen = (await f.svc.db.host.findUniqueOrThrow({ where: { name: 'c' } })).lastSeen;

  const writer = new LastSeenWriter(f.svc, 60_000);
  const at = Date.now() + 5000;
  writer.note('a', at);
  writer.note('b', at + 300);
  writer.note('a', at + 600); // the first beat of a batch counts
  writer.note('c', at);
  await writer.flush();
  const rows = await f.svc.db.host.findMany({ orderBy: { name: 'asc' } });
  assert.deepEqual(
    rows.map((r) => r.lastSeen?.getTime()),
    [at, at, cSeen?.getTime()],
  );
  await writer.flush(); // nothing due: nothing happens
});

test('a beat due for the record through recordHeartbeat is written by the next flush', async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 2, ram: GiB }], { offlineAfterMs: 30 });
  t.after(() => f.close());
  await f.online('alpha');
  const before = (await f.svc.db.host.findUniqueOrThrow({ where: { name: 'alpha' } })).lastSeen!.getTime();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await recordHeartbeat(f.svc, 'alpha', { seq: 1, sentAt: Date.now() }), null);
  await lastSeenWriter(f.svc).flush();
  const after = (await f.svc.db.host.findUniqueOrThrow({ where: { name: 'alpha' } })).lastSeen!.getTime();
  assert.ok(after > before, `${after} > ${before}`);
});
