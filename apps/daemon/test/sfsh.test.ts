// The seed's Getting Started typed into sfsh, the guest shell, through the real daemons and the real console
// path (sfmd's console relay, as `sf console` and the dashboard use it): sfseed of examples/sfsh/sfsh.cfg,
// sfdotix + sfdoclone, a clone's own prompt, sfclone 2 beside it, sftickets, sfshutdown refusing, sfmerge
// each way, sfshutdown succeeding. The answers are the host tools' (and the seed's) words; the records follow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { json, runBin } from './cli-runner.ts';
import { domains } from './cluster-driver.ts';
import { ConsoleSession } from './console-session.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { vmCluster } from './vm-cluster.ts';
import { existsSync } from 'node:fs';

const SFSH_CFG = fileURLToPath(new URL('../../../native/guest/examples/sfsh/sfsh.cfg', import.meta.url));
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

test('sfsh: the Getting Started typed at the VM console, clones at prompts of their own, shutdown refused then done', {
  timeout: 240_000,
}, async (t) => {
  if (skipIf(t, cannotRunVms() ?? (existsSync(guestImage('sfsh')) ? null : 'sfsh.elf is not built: run npm run build'))) return;
  const c = await vmCluster(t, { cpus: 4, ramGiB: 4 });
  const consoles: ConsoleSession[] = [];
  t.after(() => {
    for (const s of consoles) s.close();
  });
  const open = async (name: string) => {
    const s = await ConsoleSession.open(c.env, name);
    consoles.push(s);
    return s;
  };
  const states = async (clusterid: number) =>
    (await domains(c.env)).filter((d) => d.domain.startsWith(`${clusterid}:`) && d.state === 'running').map((d) => [d.domain, d.ticket]);

  // The seed file as shipped (its kernel relative to it) seeds.
  const { clusterid } = await json<{ clusterid: number }>(runBin('sfseed', [SFSH_CFG, '--json'], c.env));
  const master = await open(`${clusterid}:0`);
  await master.waitFor(/\[vm 0\] \$ $/);
  assert.match(master.text, new RegExp(`sfsh on cluster ${clusterid}, vm 0`));

  // Line editing over the wire: a typo erased with DEL, a word wiped with Ctrl-U.
  assert.equal(await master.run('vmix\x7fd'), '0\n');
  assert.match(await master.run('nonsense\x15help'), /sfdotix N \[--procs\] \[--min M\] \[--block\]/);
  assert.equal(await master.run('sfmerge nope'), "sf: BAD_INPUT: 'nope' is not a ticket: tickets are 36-character ids from sfdotix\n");

  // Steps 6-7: sfdotix 1, sfdoclone with its ticket.
  const dotix = await master.run('sfdotix 1');
  const first = new RegExp(`^Requested 1 clones, 1 allocations received\\.\\nTicket is (${UUID})\\n`).exec(dotix)?.[1];
  assert.ok(first, dotix);
  assert.equal(await master.run(`sfdoclone ${first}`), 'I am the master with 1 clones (original VM).\n');
  assert.deepEqual(await states(clusterid), [
    [`${clusterid}:0`, null],
    [`${clusterid}:1`, first],
  ]);

  // The clone woke up inside the same command, as itself, at a prompt of its own; it answers there.
  const clone1 = await open(`${clusterid}:1`);
  await clone1.waitFor(new RegExp(`I am clone 1 of 1 \\(ticket ${first}\\)\\.\\n\\[vm 1\\] \\$ $`));
  assert.equal(await clone1.run('vmid'), '1\n');
  assert.match(await clone1.run('sftickets'), /^sf: NOT_MASTER: /);
  // History came along with the memory: the up arrow recalls the master's last command.
  assert.equal(await clone1.run('\x1b[A\x1b[A'), '1\n');

  // Step 9: sfclone 2 while the first clone is out; vmids go on from 2.
  const cloned = await master.run('sfclone 2');
  const second = new RegExp(
    `^Requested 2 clones, 2 allocations received\\.\\nTicket is (${UUID})\\nI am the master with 2 clones \\(original VM\\)\\.\\n$`,
  ).exec(cloned)?.[1];
  assert.ok(second, cloned);
  assert.deepEqual(await states(clusterid), [
    [`${clusterid}:0`, null],
    [`${clusterid}:1`, first],
    [`${clusterid}:2`, second],
    [`${clusterid}:3`, second],
  ]);
  const clone3 = await open(`${clusterid}:3`);
  await clone3.waitFor(new RegExp(`I am clone 3 of 2 \\(ticket ${second}\\)\\.\\n\\[vm 3\\] \\$ $`));
  assert.equal(await master.run('sftickets'), `${first}  outstanding\n${second}  outstanding\n`);

  // Step 12 too early: refused, naming what is out; nothing stops.
  const early = await master.run('sfshutdown');
  assert.match(
    early,
    new RegExp(
      `^sf: TICKET_STATE: cluster ${clusterid} was not shut down: clones still out: ${clusterid}:1, ${clusterid}:2, ${clusterid}:3`,
    ),
  );
  assert.equal((await states(clusterid)).length, 4);

  // Steps 10-11: merge the first ticket, then the rest with the seed's ''.
  assert.equal(await master.run(`sfmerge ${first}`), `Attempting to merge virtual cluster...\nSuccessful merge for ticket ${first}\n`);
  assert.deepEqual(await states(clusterid), [
    [`${clusterid}:0`, null],
    [`${clusterid}:2`, second],
    [`${clusterid}:3`, second],
  ]);
  assert.equal(await master.run("sfmerge ''"), 'Attempting to merge virtual cluster...\nSuccessful merge of 1 ticket(s), 2 clones\n');
  assert.deepEqual(await states(clusterid), [[`${clusterid}:0`, null]]);
  assert.equal(await master.run('sftickets'), 'no tickets\n');

  // Beyond the walkthrough: a clone that says it is done (sfexit at its own prompt), joined by the master.
  const third = new RegExp(`Ticket is (${UUID})\\n`).exec(await master.run('sfclone 1'))?.[1];
  assert.ok(third);
  const name = (await states(clusterid)).find(([, ticket]) => ticket === third)?.[0];
  assert.ok(name);
  const clone = await open(name);
  await clone.waitFor(/\$ $/);
  await clone.type('sfexit\r');
  assert.equal(await master.run(`sfjoin ${third}`), `all 1 clones of ${third} exited; merged\n`);
  assert.match(clone.text, new RegExp(`domain ${name} exits with status 0`));

  // Step 12: now sfshutdown proceeds: the master ends and so does the cluster.
  await master.type('sfshutdown\r');
  const ended = await c.ended(`${clusterid}:0`);
  assert.match(ended.endReason ?? '', new RegExp(`cluster ${clusterid} was shut down`), JSON.stringify(ended));
  assert.deepEqual(await states(clusterid), []);
});
