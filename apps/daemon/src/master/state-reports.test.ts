// sflds' state reports end domains (and a cluster whose master ended); reports from a host that does
// not hold the domain, or about a record that already ended, change nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';
import { applyStateReport } from './state-reports.ts';

const hosts = [
  { name: 'alpha', cpus: 2, ram: 4 * GiB },
  { name: 'beta', cpus: 2, ram: 4 * GiB },
];

test("an sfld's report ends a domain; the master's end shuts its cluster down; other hosts are not believed", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  const cluster = await admin.cluster.seed({ config: seedConfig() });
  const home = cluster.domains[0]!.host;
  const stranger = home === 'alpha' ? 'beta' : 'alpha';
  const report = { clusterid: 1, vmid: 0, state: 'exited' as const, exitCode: 0, reason: null };
  assert.equal(await applyStateReport(f.svc, stranger, report), false);
  assert.equal((await admin.state.domains())[0]!.state, 'running');
  const ticket = await (await f.admin('1:0')).ticket.request({ nclones: 1 });
  assert.equal(await applyStateReport(f.svc, home, report), true);
  const after = await admin.cluster.get({ clusterid: 1 });
  assert.equal(after.state, 'shutdown');
  assert.equal(after.domains[0]!.state, 'exited');
  assert.deepEqual(
    after.tickets.map((x) => [x.ticket, x.state]),
    [[ticket.ticket, 'disposed']],
  );
  assert.ok((await admin.state.hosts()).every((h) => h.cpusUsed === 0));
  assert.equal(await applyStateReport(f.svc, home, { ...report, state: 'crashed' }), false, 'an ended record stays ended');
});
