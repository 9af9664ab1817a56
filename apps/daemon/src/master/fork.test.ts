// A fork whose sfld gives no usable answer: the clones are recorded as crashed with the reason, and sfmd asks the
// sfld to destroy them in case they run anyway (otherwise they would hold the host's resources unrecorded).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';
import { SfError } from '../common/errors.ts';

test('a fork answered with something the wire contract refuses crashes its clones and destroys any left running', async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 8, ram: 16 * GiB }]);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig(1, 256) });
  const master = await f.admin('1:0');
  const ticket = await master.ticket.request({ nclones: 2 });

  f.links.fail['domain:fork'] = new SfError('INTERNAL', 'host alpha: malformed answer to domain:fork: pauseMs: expected number');
  await assert.rejects(master.clone.master({ ticket: ticket.ticket }), (err: unknown) => {
    assert.ok(err instanceof TRPCError && err.cause instanceof SfError && err.cause.code === 'INTERNAL', String(err));
    assert.match(err.message, /^the fork of 1:0 failed: .*malformed answer.*; merge the ticket \(sfmerge\) and try again$/);
    return true;
  });
  const destroyed = f.links.sent.filter((s) => s.command === 'domain:destroy');
  assert.deepEqual(
    destroyed.map((s) => [s.host, s.payload]),
    [
      ['alpha', { clusterid: 1, vmid: 1 }],
      ['alpha', { clusterid: 1, vmid: 2 }],
    ],
  );
  const clones = (await admin.state.domains({ all: true })).filter((d) => d.domain !== '1:0');
  assert.deepEqual(
    clones.map((d) => [d.domain, d.state]),
    [
      ['1:1', 'crashed'],
      ['1:2', 'crashed'],
    ],
  );
});
