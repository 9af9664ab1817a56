// sfclone gives back the ticket it made when the clone call fails (issue 15 item 5): the command runs against the
// real sfmd procedures in this process (the sflds' data plane is the fixture's recording stand-in), once with the
// fork failing on the host (the ticket is outstanding: merged) and once with the clone call lost on the way to sfmd
// (the ticket is still unused: disposed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { TRPCError } from '@trpc/server';
import { type ApiCaller, GiB, masterFixture, seedConfig, type MasterFixture } from '../../../test/support.ts';
import { SfError } from '../../common/errors.ts';
import type { SfmdClient } from '../../common/sfmd-client.ts';
import type { CommandContext } from '../context.ts';
import { createOutput } from '../output.ts';
import { clone } from './guest.ts';

/**
 * An SfmdClient whose `a.b.mutate(x)` / `.query(x)` is `caller.a.b(x)`, errors unwrapped as the HTTP client does;
 * `lost` names calls that never reach sfmd (the error the client would raise instead).
 */
function callerClient(caller: ApiCaller, lost: Record<string, SfError> = {}): SfmdClient {
  const at = (path: string[]): unknown =>
    new Proxy(() => {}, {
      get(_, key: string) {
        if (key !== 'mutate' && key !== 'query') return at([...path, key]);
        return async (input: unknown) => {
          const failure = lost[path.join('.')];
          if (failure) throw failure;
          const procedure = path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], caller) as (i: unknown) => Promise<unknown>;
          return procedure(input).catch((err: unknown) => {
            throw err instanceof TRPCError && err.cause instanceof SfError ? err.cause : err;
          });
        };
      },
    });
  return at([]) as SfmdClient;
}

async function runClone(f: MasterFixture, lost: Record<string, SfError> = {}) {
  let notes = '';
  const sink = new Writable({ write: (_c, _e, done) => done() });
  const err = new Writable({
    write(chunk, _e, done) {
      notes += String(chunk);
      done();
    },
  });
  const client = callerClient(await f.admin('1:0'), lost);
  const ctx: CommandContext = {
    options: { json: false, domain: '1:0' },
    paths: f.paths,
    out: createOutput(false, sink, err),
    url: 'in-process',
    trust: { fingerprint: null, source: 'in-process' },
    sfmdFetch: fetch,
    client: () => client,
  };
  const error = await clone.run(ctx, ['2'], {}).then(
    () => null,
    (e: unknown) => e,
  );
  return { error, notes };
}

test('a fork that fails after the ticket became outstanding: sfclone merges the ticket it made', async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 8, ram: 16 * GiB }]);
  t.after(() => f.close());
  await f.online('alpha');
  await (await f.admin()).cluster.seed({ config: seedConfig(1, 256) });
  f.links.fail['domain:fork'] = new SfError('INTERNAL', 'host alpha: the VMM refused the fork');

  const { error, notes } = await runClone(f);
  assert.ok(error instanceof SfError && /the fork of 1:0 failed/.test(error.message), String(error));
  assert.match(notes, /ticket [0-9a-f-]{36} merged/);
  const master = await f.admin('1:0');
  assert.deepEqual(await master.ticket.list(), { unused: [], outstanding: [] }, 'nothing is left reserved');
});

test('a clone call that never reached sfmd: sfclone disposes the ticket it made', async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 8, ram: 16 * GiB }]);
  t.after(() => f.close());
  await f.online('alpha');
  await (await f.admin()).cluster.seed({ config: seedConfig(1, 256) });

  const unreachable = new SfError('UNAVAILABLE', 'sfmd is not reachable at in-process: is it running?');
  const { error, notes } = await runClone(f, { 'clone.master': unreachable });
  assert.equal(error, unreachable, 'the user is told what failed, not what the clean-up did');
  assert.match(notes, /ticket [0-9a-f-]{36} disposed/);
  const master = await f.admin('1:0');
  assert.deepEqual(await master.ticket.list(), { unused: [], outstanding: [] }, 'nothing is left reserved');
  assert.equal(f.links.sent.filter((s) => s.command === 'domain:fork').length, 0, 'no fork was asked of the host');
});
