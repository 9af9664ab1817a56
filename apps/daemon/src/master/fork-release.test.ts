// fork:release: sfmd tells the master's host to stop a fork's memserver once the last clone of that fork on
// another host ended (however it ended), and not before; clones beside the master or of other tickets do not count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';
import { releaseForksAsClonesEnd } from './fork-release.ts';

const hosts = [
  { name: 'alpha', cpus: 3, ram: 4 * GiB },
  { name: 'beta', cpus: 3, ram: 4 * GiB },
];

test("fork:release goes to the master's host once the fork's last clone on another host ended", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  releaseForksAsClonesEnd(f.svc);
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  const cluster = await admin.cluster.seed({ config: seedConfig(1, 256) });
  const home = cluster.domains[0]!.host;
  const master = await f.admin('1:0');
  const ticket = await master.ticket.request({ nclones: 4 });
  await master.clone.master({ ticket: ticket.ticket });
  const clones = await f.svc.db.domain.findMany({ where: { vmid: { gt: 0 } }, include: { host: true }, orderBy: { vmid: 'asc' } });
  const local = clones.filter((c) => c.host.name === home);
  const remote = clones.filter((c) => c.host.name !== home);
  assert.ok(local.length > 0 && remote.length > 1, JSON.stringify(clones.map((c) => [c.vmid, c.host.name])));
  const releases = async () => {
    await new Promise((r) => setTimeout(r, 100)); // the listener's look-ups run in the background
    return f.links.sent.filter((s) => s.command === 'fork:release');
  };
  f.links.sent.length = 0;

  // A clone beside the master, then all but one remote clone: the fork still has a client elsewhere.
  for (const c of [...local, ...remote.slice(1)]) await (await f.admin(`1:${c.vmid}`)).clone.exit({ status: 0 });
  assert.deepEqual(await releases(), []);
  // The last remote clone ends by the ticket's merge: its master's host hears it, once, for this ticket.
  await master.clone.merge({ ticket: ticket.ticket });
  assert.deepEqual(await releases(), [{ host: home, command: 'fork:release', payload: { clusterid: 1, ticket: ticket.ticket } }]);
  assert.equal((await f.svc.db.domain.findFirstOrThrow({ where: { vmid: 0 } })).state, 'running');
});
