// sfmd tells a master's sfld when one of its tickets ends by any path but the master's own dispose, merge
// or join (which its sfld sees): the admin's calls, the dashboard's merge, a cluster's end, a lost host.
// That sfld then releases the ticket's clone shells at once instead of after their lifetime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfError } from '../common/errors.ts';
import { parseHostCommand } from '../common/wire.ts';
import { GiB, masterFixture, silenceHost, twoHostTicket, type MasterFixture } from '../../test/support.ts';

const hosts = [
  { name: 'alpha', cpus: 2, ram: 8 * GiB },
  { name: 'beta', cpus: 2, ram: 8 * GiB },
];

/** The ticket:ended commands sent so far, as [host, ticket]; each payload is one the sfld accepts. */
function ended(f: MasterFixture): [string, string][] {
  return f.links.sent.filter((c) => c.command === 'ticket:ended').map((c) => [c.host, parseHostCommand('ticket:ended', c.payload).ticket]);
}

/** The ticket:ended an unused ticket's other hosts get when it is disposed of (for their shells, remote-shells.ts). */
function elsewhere(ticket: { ticket: string; allocations: { host: string }[] }, masterHost: string): [string, string][] {
  return [...new Set(ticket.allocations.map((a) => a.host).filter((h) => h !== masterHost))].map((h) => [h, ticket.ticket]);
}

/** The master's own calls, as its sfld makes them: with the host's secret, acting for 1:0. */
function guestOf(f: MasterFixture, host: string) {
  return f.caller({ authorization: `SfHost ${host}:${f.hostSecret(host)}`, 'x-snowflock-domain': '1:0' });
}

/** Makes the clones of `ticket` and has each one exit by itself (as a clone's own clone.exit would). */
async function forkAndExit(f: MasterFixture, master: Awaited<ReturnType<typeof guestOf>>, ticket: string) {
  const { nclones } = await master.clone.master({ ticket });
  for (const d of await f.svc.db.domain.findMany({ where: { ticketId: ticket }, include: { host: true } })) {
    const clone = await f.caller({
      authorization: `SfHost ${d.host.name}:${f.hostSecret(d.host.name)}`,
      'x-snowflock-domain': `1:${d.vmid}`,
    });
    await clone.clone.exit({ status: 0 });
  }
  return nclones;
}

test("the master's own dispose, merge and join tell its host nothing (its sfld saw the call); an unused ticket's other hosts hear of it", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const { ticket, masterHost } = await twoHostTicket(f, 1);
  const guest = await guestOf(f, masterHost);
  await guest.ticket.dispose({ ticket: ticket.ticket });
  // Disposed unused: its clones' other hosts (if any) made shells for it when it was granted (remote-shells.ts).
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ended(f), elsewhere(ticket, masterHost));
  f.links.sent.length = 0;

  const joined = await guest.ticket.request({ nclones: 2 });
  await forkAndExit(f, guest, joined.ticket);
  await guest.clone.join({ ticket: joined.ticket, timeoutMs: 5000 });

  const merged = await guest.ticket.request({ nclones: 2 });
  await guest.clone.master({ ticket: merged.ticket });
  await guest.clone.merge({ ticket: merged.ticket });

  assert.deepEqual(ended(f), []);
});

test("the admin's dispose, merge and join for a master, and the dashboard's merge, tell the master's host", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const { admin, master, ticket, masterHost } = await twoHostTicket(f, 1); // master: the admin acting for 1:0
  await master.ticket.dispose({ ticket: ticket.ticket });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ended(f), [[masterHost, ticket.ticket], ...elsewhere(ticket, masterHost)]);

  const joined = await master.ticket.request({ nclones: 2 });
  await forkAndExit(f, master, joined.ticket);
  await master.clone.join({ ticket: joined.ticket, timeoutMs: 5000 });
  assert.deepEqual(ended(f).at(-1), [masterHost, joined.ticket]);

  const merged = await master.ticket.request({ nclones: 2 });
  await master.clone.master({ ticket: merged.ticket });
  await master.clone.merge({ ticket: merged.ticket });
  assert.deepEqual(ended(f).at(-1), [masterHost, merged.ticket]);

  const dashboard = await master.ticket.request({ nclones: 2 });
  await master.clone.master({ ticket: dashboard.ticket });
  await admin.dashboard.merge({ clusterid: 1, ticket: dashboard.ticket });
  assert.deepEqual(ended(f).at(-1), [masterHost, dashboard.ticket]);
  assert.equal(ended(f).length, 4 + elsewhere(ticket, masterHost).length, 'one command per ended ticket and host');
});

test("the master's merge of all its tickets tells its host which ones: the call names none", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const { ticket, masterHost } = await twoHostTicket(f, 2);
  const guest = await guestOf(f, masterHost);
  await guest.clone.master({ ticket: ticket.ticket });
  await guest.clone.merge({ ticket: null });
  assert.deepEqual(ended(f), [[masterHost, ticket.ticket]]);
});

test("a cluster's end tells the master's host of every ticket it ended, unused and outstanding, and an unused one's other hosts", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const { ticket: out, masterHost } = await twoHostTicket(f, 1);
  const guest = await guestOf(f, masterHost);
  await guest.clone.master({ ticket: out.ticket });
  const spare = await guest.ticket.request({ nclones: 1 });
  await guest.cluster.shutdown({ force: true });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ended(f).sort(), [[masterHost, out.ticket], [masterHost, spare.ticket], ...elsewhere(spare, masterHost)].sort());
});

test("a lost host's ticket disposed with it is told to the master's host; a ticket left partly placed is not", async (t) => {
  const f = await masterFixture(hosts, { offlineAfterMs: 200 });
  t.after(() => f.close());
  const { master, ticket: spread, masterHost, otherHost } = await twoHostTicket(f, 2); // one clone on each host
  // The master's host is full now (its master and one reserved clone): the next ticket lies on the other host only.
  const elsewhere = await master.ticket.request({ nclones: 1 });
  assert.deepEqual(
    elsewhere.allocations.map((a) => a.host),
    [otherHost],
  );
  await silenceHost(f, otherHost, masterHost);
  assert.equal((await master.ticket.info({ ticket: elsewhere.ticket })).state, 'disposed');
  assert.equal((await master.ticket.info({ ticket: spread.ticket })).state, 'unused');
  assert.deepEqual(ended(f), [[masterHost, elsewhere.ticket]]);
});

test('a master host that cannot be told fails nothing: the operation succeeds, the shells wait for their lifetime', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const { master, ticket, masterHost } = await twoHostTicket(f, 1);
  f.links.fail['ticket:ended'] = new SfError('HOST_LOST', `host ${masterHost} is not connected`);
  assert.equal((await master.ticket.dispose({ ticket: ticket.ticket })).state, 'disposed');
  await new Promise((r) => setImmediate(r)); // the failed send is handled, not an unhandled rejection
  assert.deepEqual(ended(f), [[masterHost, ticket.ticket], ...elsewhere(ticket, masterHost)]);
});
