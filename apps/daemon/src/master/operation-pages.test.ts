// A cluster's operations stay reachable however many others came after them: operations.page pages one
// cluster (or all) by keyset through its index, narrowed by kind and outcome; each operation knows its cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';
import { decodeCursor, encodeCursor } from './operation-pages.ts';

const oneHost = [{ name: 'alpha', cpus: 8, ram: 16 * GiB }];

test('each operation records its cluster, from its target, its requester, its ticket or (a seed) the cluster it made', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  const { clusterid } = await admin.cluster.seed({ config: seedConfig(1, 256) });
  const master = await f.admin(`${clusterid}:0`);
  const ticket = await master.ticket.request({ nclones: 1 });
  await master.clone.master({ ticket: ticket.ticket });
  await admin.dashboard.merge({ clusterid, ticket: ticket.ticket });

  const { operations } = await admin.operations.page({ clusterid });
  assert.deepEqual(
    operations.map((o) => [o.kind, o.target.replace(/[0-9a-f-]{36}/, 'T'), o.clusterid]),
    [
      ['clone.merge', 'ticket:T', clusterid], // the admin's: only the ticket names the cluster
      ['clone.master', 'ticket:T', clusterid],
      ['ticket.request', `cluster:${clusterid}`, clusterid],
      ['cluster.seed', 'new cluster', clusterid],
    ],
  );
  assert.equal((await admin.operations.page({ clusterid: clusterid + 1 })).operations.length, 0);
});

test('1200 operations over 3 clusters: the oldest cluster is paged through to its first operation; kind and outcome narrow it', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const base = Date.now() - 86_400_000;
  // Cluster 1 worked first (400 operations), then clusters 2 and 3 took turns (800): the old cluster page,
  // which searched the newest 500 of all, found none of cluster 1's. Every 4 rows share a millisecond, so
  // the id breaks ties and no row may be skipped or repeated at a page's edge.
  const rows = Array.from({ length: 1200 }, (_, i) => {
    const clusterid = i < 400 ? 1 : 2 + (i % 2);
    const kind = Math.floor(i / 2) % 10 === 0 ? 'clone.merge' : 'ticket.request';
    return {
      kind,
      target: `cluster:${clusterid}`,
      requester: `domain:${clusterid}:0`,
      clusterid,
      status: i % 7 === 0 ? ('failed' as const) : ('succeeded' as const),
      startedAt: new Date(base + Math.floor(i / 4)),
    };
  });
  await f.svc.db.operation.createMany({ data: rows });
  const admin = await f.admin();

  const seen: { id: string; startedAt: string }[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await admin.operations.page({ clusterid: 1, limit: 150, ...(cursor ? { cursor } : {}) });
    assert.ok(page.operations.every((o) => o.clusterid === 1));
    seen.push(...page.operations);
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.equal(seen.length, 400, "every one of cluster 1's operations is reached");
  assert.equal(new Set(seen.map((o) => o.id)).size, 400, 'none twice');
  const times = seen.map((o) => Date.parse(o.startedAt));
  assert.deepEqual(
    times,
    [...times].sort((a, b) => b - a),
    'newest first across pages',
  );
  assert.equal(times.at(-1), base, "down to the cluster's first operation");

  // Filters narrow on the server, and page too.
  const expect = (p: (r: (typeof rows)[number]) => boolean) => rows.filter(p).length;
  const failed1 = await admin.operations.page({ clusterid: 1, outcome: 'failed', limit: 200 });
  assert.equal(
    failed1.operations.length,
    expect((r) => r.clusterid === 1 && r.status === 'failed'),
  );
  assert.ok(failed1.operations.every((o) => o.status === 'failed'));
  assert.equal(failed1.nextCursor, null, 'all on one page');
  const merges3 = await admin.operations.page({ clusterid: 3, kind: 'clone.merge', outcome: 'succeeded', limit: 200 });
  assert.equal(
    merges3.operations.length,
    expect((r) => r.clusterid === 3 && r.kind === 'clone.merge' && r.status === 'succeeded'),
  );
  assert.ok(merges3.operations.length > 0);
  const allMerges = await admin.operations.page({ kind: 'clone.merge', limit: 200 });
  assert.equal(allMerges.operations.length, 120, 'without a cluster: all of them');
  const newest = await admin.operations.page({});
  assert.equal(newest.operations.length, 50, 'a page is 50 unless asked otherwise');
  assert.notEqual(newest.operations[0]!.clusterid, 1);

  // The Cluster View opens with the old cluster's newest operations and the cursor to the rest.
  await f.svc.db.cluster.create({ data: { clusterid: 1, seedConfig: JSON.stringify(seedConfig()), state: 'shutdown' } });
  const view = await admin.dashboard.cluster({ clusterid: 1 });
  assert.deepEqual(
    view.operations.map((o) => o.id),
    seen.slice(0, 50).map((o) => o.id),
  );
  assert.ok(view.operationsNext);

  // The query is served by the (clusterid, startedAt) index, not a scan of the whole log.
  const plan = (await f.svc.db.$queryRawUnsafe(
    'EXPLAIN QUERY PLAN SELECT id FROM "Operation" WHERE clusterid = 1 AND (startedAt < ? OR (startedAt = ? AND id < ?)) ORDER BY startedAt DESC, id DESC LIMIT 151',
    base,
    base,
    'x',
  )) as { detail: string }[];
  assert.match(plan.map((p) => p.detail).join('\n'), /USING INDEX Operation_clusterid_startedAt_idx/);
});

test('a cursor is handed back, never made up: one that was not given is refused with what to do', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const admin = await f.admin();
  const at = { startedAt: new Date(1_700_000_000_123), id: crypto.randomUUID() };
  assert.deepEqual(decodeCursor(encodeCursor(at)), at);
  await assert.rejects(admin.operations.page({ cursor: 'bm90IGEgY3Vyc29y' }), (err: Error & { cause?: { code?: string } }) => {
    assert.match(err.message, /not one operations\.page gave: start again without a cursor/);
    return true;
  });
  await assert.rejects(admin.operations.page({ outcome: 'maybe' as 'failed' }));
});
