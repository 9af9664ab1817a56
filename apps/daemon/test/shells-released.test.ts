// A real sfld releases the clone shells of a ticket that ended elsewhere at once, not after their 120 s
// lifetime: a master (hello hold=1) keeps a ticket, whose shell its sfld prepared; the admin disposes of
// it, or shuts the cluster down, and sfmd's ticket:ended reaches the sfld.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSfmdClient } from '../src/common/sfmd-client.ts';
import { SHELL_LIFETIME_MS } from '../src/local/clone-shells.ts';
import { seedCluster } from '../src/master/clusters.ts';
import { waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { soloFetch, soloSnowflock } from './in-process.ts';

test('shells of a ticket the admin disposes of, or of a cluster shut down, are released within a second or two', {
  timeout: 90_000,
}, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const solo = await soloSnowflock(t, 'sf-shells-', { sfld: true });
  const { svc } = solo.sfmd;
  const shells = async () => {
    const health = (await (await soloFetch(`http://127.0.0.1:${solo.sfld!.localPort}/healthz`)).json()) as { shells: number };
    return health.shells;
  };
  /** A master that asked for a ticket for one clone and keeps it; its sfld has made the clone's shell. */
  const holdingMaster = async () => {
    const seed = { name: null, diskImage: null, kernel: guestImage('hello'), args: 'hold=1 interactive=1', vcpus: 1, memoryMiB: 64 };
    const { clusterid } = await seedCluster(svc, seed, 'test');
    const ticket = await waitUntil(`${clusterid}:0 to hold a ticket`, 15_000, async () => {
      const { data } = await svc.links.command('solo', 'domain:console-replay', { clusterid, vmid: 0 });
      return /holding ticket (\S+) \(1 of 1 clones\)/.exec(data.toString())?.[1];
    });
    await waitUntil('its shell', 10_000, async () => (await shells()) === 1);
    return { ticket, admin: createSfmdClient({ url: solo.url, token: solo.sfmd.adminToken, domain: `${clusterid}:0`, trust: solo.trust }) };
  };
  const releasedWithin = async (what: string) => {
    const started = Date.now();
    await waitUntil(`the shell released after ${what}`, 5_000, async () => (await shells()) === 0);
    const ms = Date.now() - started;
    console.log(`# shell released ${ms} ms after ${what} (its lifetime: ${SHELL_LIFETIME_MS} ms)`);
    return ms;
  };

  const first = await holdingMaster();
  assert.equal((await first.admin.ticket.dispose.mutate({ ticket: first.ticket })).state, 'disposed');
  assert.ok((await releasedWithin("the admin's dispose")) < 5_000);
  await first.admin.cluster.shutdown.mutate();

  const second = await holdingMaster();
  // Forced: a plain shutdown is refused while a ticket is unmerged; endCluster disposes of the unused ticket.
  await second.admin.cluster.shutdown.mutate({ force: true });
  assert.ok((await releasedWithin("the admin's shutdown")) < 5_000);
});
