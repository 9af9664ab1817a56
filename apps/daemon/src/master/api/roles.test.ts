// The role matrix: every procedure of the router, enumerated from the router itself, called by a read, an
// operate and an admin token, a host and nobody, expecting allowed or refused as the policy table below says.
// A procedure added without a declared role, or missing from the table, fails here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { type ApiCaller, GiB, masterFixture } from '../../../test/support.ts';
import type { TokenRole } from '../store/states.ts';
import { routerProcedures } from './openapi.ts';
import { sfCodeOf } from './trpc.ts';

type Need = TokenRole | 'public';

/** The policy: the least a token needs for each procedure. Reads → read, cluster actions → operate, tokens and repairs → admin. */
const POLICY: Record<string, Need> = {
  health: 'public',
  whoami: 'public',
  'ticket.list': 'read',
  'ticket.info': 'read',
  'cluster.list': 'read',
  'cluster.get': 'read',
  'state.hosts': 'read',
  'state.domains': 'read',
  'host.get': 'read',
  'domain.console': 'read',
  'operations.list': 'read',
  'operations.page': 'read',
  'operations.get': 'read',
  'operations.stats': 'read',
  'doctor.check': 'read',
  'dashboard.overview': 'read',
  'dashboard.hostMetrics': 'read',
  'dashboard.cluster': 'read',
  'dashboard.guests': 'read',
  'dashboard.checkSeed': 'read',
  'ticket.request': 'operate',
  'ticket.dispose': 'operate',
  'clone.master': 'operate',
  'clone.merge': 'operate',
  'clone.join': 'operate',
  'clone.exit': 'operate',
  'cluster.seed': 'operate',
  'cluster.shutdown': 'operate',
  'dashboard.merge': 'operate',
  'dashboard.kill': 'operate',
  'dashboard.shutdown': 'operate',
  'dashboard.consoleInput': 'operate',
  'doctor.repair': 'admin',
  'token.create': 'admin',
  'token.list': 'admin',
  'token.revoke': 'admin',
};

const ORDER: Need[] = ['public', 'read', 'operate', 'admin'];

/**
 * What a call with no input gets: 'allowed' when the guard let it through (it answered, or failed on its input,
 * a missing domain or anything else past the guard), otherwise the guard's code.
 */
async function outcome(caller: ApiCaller, path: string): Promise<'allowed' | 'FORBIDDEN' | 'UNAUTHORIZED'> {
  let fn: unknown = caller;
  for (const part of path.split('.')) fn = (fn as Record<string, unknown>)[part];
  try {
    await (fn as (input: unknown) => Promise<unknown>)(undefined);
    return 'allowed';
  } catch (err) {
    assert.ok(err instanceof TRPCError, `${path}: expected a TRPCError, got ${String(err)}`);
    const code = sfCodeOf(err);
    return code === 'FORBIDDEN' || code === 'UNAUTHORIZED' ? code : 'allowed';
  }
}

test('every procedure of the router declares the role it needs, and it is the policy', () => {
  const procedures = routerProcedures();
  const undeclared = procedures.filter((p) => p.role === null).map((p) => p.path);
  assert.deepEqual(undeclared, [], 'procedures without a declared role (build them with read/operate/adminProcedure or a domain builder)');
  const unlisted = procedures.filter((p) => !(p.path in POLICY)).map((p) => p.path);
  assert.deepEqual(unlisted, [], 'procedures missing from this test’s POLICY: decide the role each needs');
  const stale = Object.keys(POLICY).filter((path) => !procedures.some((p) => p.path === path));
  assert.deepEqual(stale, [], 'POLICY names procedures the router does not have');
  for (const p of procedures) assert.equal(p.role, POLICY[p.path], `${p.path} declares ${p.role}, the policy says ${POLICY[p.path]}`);
});

test('each role against every procedure: allowed at or above the declared role, FORBIDDEN below it, naming both roles', async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 4, ram: 8 * GiB }]);
  t.after(() => f.close());
  const admin = await f.admin();
  const callers: Record<string, ApiCaller> = {};
  for (const role of ['read', 'operate'] as const) {
    const made = await admin.token.create({ name: `matrix-${role}`, role });
    callers[role] = await f.caller({ authorization: `Bearer ${made.secret}` });
  }
  callers.admin = admin;
  const host = await f.caller({ authorization: `SfHost alpha:${f.hostSecret('alpha')}` });
  const anonymous = await f.caller({});

  const procedures = routerProcedures();
  const wrong: string[] = [];
  for (const p of procedures) {
    const needed = POLICY[p.path] ?? 'admin';
    for (const role of ['read', 'operate', 'admin'] as const) {
      const expected = ORDER.indexOf(role) >= ORDER.indexOf(needed) ? 'allowed' : 'FORBIDDEN';
      const got = await outcome(callers[role]!, p.path);
      if (got !== expected) wrong.push(`${role} → ${p.path}: ${got}, expected ${expected}`);
    }
    // Hosts make guest calls only; nobody without credentials gets past any guard.
    const hostExpected = needed === 'public' || p.kind === 'domain' ? 'allowed' : 'FORBIDDEN';
    const hostGot = await outcome(host, p.path);
    if (hostGot !== hostExpected) wrong.push(`host → ${p.path}: ${hostGot}, expected ${hostExpected}`);
    const anonExpected = needed === 'public' ? 'allowed' : 'UNAUTHORIZED';
    const anonGot = await outcome(anonymous, p.path);
    if (anonGot !== anonExpected) wrong.push(`anonymous → ${p.path}: ${anonGot}, expected ${anonExpected}`);
  }
  assert.deepEqual(wrong, []);
  // Every role was refused somewhere but admin: the matrix is not vacuous.
  assert.ok(procedures.some((p) => POLICY[p.path] === 'operate') && procedures.some((p) => POLICY[p.path] === 'admin'));

  await assert.rejects(callers.read!.cluster.seed({ config: {} as never }), (err: unknown) => {
    assert.ok(err instanceof TRPCError);
    assert.equal(sfCodeOf(err), 'FORBIDDEN');
    assert.match(err.message, /cluster\.seed needs a token with role operate or above; token 'matrix-read' has role read/);
    return true;
  });
  await assert.rejects(callers.operate!.token.list(), /needs a token with role admin or above; token 'matrix-operate' has role operate/);
});
