// Guest calls that came over the cluster network (issue 20 item 3): the sfld running a cluster's router may act
// for that cluster's VMs on other hosts — only when it says the call came that way, and for no other cluster —
// and a clone so identified is still refused what only a master may do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRPCError } from '@trpc/server';
import { GiB, masterFixture, seedConfig, twoHostTicket } from '../../../test/support.ts';
import { SfError, type ErrorCode } from '../../common/errors.ts';
import { VIA_CLUSTER_NETWORK, VIA_HEADER } from './context.ts';

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TRPCError && err.cause instanceof SfError, `expected an SfError, got ${String(err)}`);
    assert.equal(err.cause.code, code, `expected ${code}, got ${err.cause.code}: ${err.message}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

test('the router host acts for its cluster over the network; nothing else widens', async (t) => {
  const f = await masterFixture([
    { name: 'alpha', cpus: 4, ram: 8 * GiB },
    { name: 'beta', cpus: 4, ram: 8 * GiB },
  ]);
  t.after(() => f.close());
  const { admin, master, ticket, masterHost, otherHost } = await twoHostTicket(f, 4);
  await master.clone.master({ ticket: ticket.ticket });
  const remote = ticket.allocations.find((a) => a.host === otherHost)!.vmid;
  const as = (host: string, domain: string, network: boolean) =>
    f.caller({
      authorization: `SfHost ${host}:${f.hostSecret(host)}`,
      'x-snowflock-domain': domain,
      ...(network ? { [VIA_HEADER]: VIA_CLUSTER_NETWORK } : {}),
    });

  // The router's host, for a clone on the other host: the call is the clone's, so a master's procedure is refused.
  const clone = await as(masterHost, `1:${remote}`, true);
  await rejectsWith(clone.ticket.request({ nclones: 1 }), 'NOT_MASTER');
  await rejectsWith(clone.clone.merge({ ticket: null }), 'NOT_MASTER');
  await rejectsWith(clone.cluster.shutdown(), 'NOT_MASTER');
  // …and the master's own calls through it work as the master's.
  const viaNet = await as(masterHost, '1:0', true);
  assert.deepEqual(await viaNet.ticket.list(), { unused: [], outstanding: [ticket.ticket] });

  // Without saying the call came over the network (the hypercall path) the host keeps to its own VMs.
  await rejectsWith((await as(masterHost, `1:${remote}`, false)).ticket.list(), 'FORBIDDEN', /may not act for domain/);
  // A host that does not run the router may not act for the master, whatever it says.
  await rejectsWith((await as(otherHost, '1:0', true)).ticket.list(), 'FORBIDDEN', /may not act for domain/);

  // A second cluster whose master runs on the other host (2 vcpus: the router host has 1 free, the master and
  // 2 clones on it): the first cluster's router host may not act for it.
  await admin.cluster.seed({ config: seedConfig(2, 256) });
  const second = (await admin.state.domains()).find((d) => d.domain === '2:0')!;
  assert.equal(second.host, otherHost, "the second cluster's master runs on the other host");
  await rejectsWith((await as(masterHost, '2:0', true)).ticket.list(), 'FORBIDDEN', /may not act for domain/);
  assert.deepEqual(await (await as(otherHost, '2:0', true)).ticket.list(), { unused: [], outstanding: [] });
});
