// sfld.cfg's hostname matches a cluster_hosts entry by name or by address (seed §11), through real name
// resolution ('localhost' is 127.0.0.1 on every machine) and the secret files sfmd writes per entry.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { ensureDirs, hostSecretPath, snowflockPaths } from '../common/paths.ts';
import { tempHome } from '../../test/support.ts';
import { hostIdentity } from './host-identity.ts';

test("a hostname resolving to a cluster_hosts entry's address is that entry; an exact name wins; none leaves the name", async (t) => {
  const home = tempHome('sf-identity-');
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const paths = snowflockPaths(home);
  ensureDirs(paths);
  writeFileSync(hostSecretPath(paths, '127.0.0.1'), 'x'.repeat(64));
  writeFileSync(hostSecretPath(paths, '10.255.255.254'), 'y'.repeat(64));
  assert.equal(await hostIdentity('localhost', paths), '127.0.0.1');
  assert.equal(await hostIdentity('10.255.255.254', paths), '10.255.255.254');
  assert.equal(await hostIdentity('no-such-host.invalid', paths), 'no-such-host.invalid');
  assert.equal(await hostIdentity('10.1.2.3', paths), '10.1.2.3');
  // Two entries with the same address (a resolver that says so): ambiguous, refused with both named.
  writeFileSync(hostSecretPath(paths, 'ip6-or-alias'), 'w'.repeat(64));
  const aliasOf = async (name: string) => (name === 'ip6-or-alias' || name === '127.0.0.1' || name === 'me' ? ['127.0.0.1'] : []);
  await assert.rejects(hostIdentity('me', paths, aliasOf), /resolves to the address of several cluster_hosts entries \(.*127\.0\.0\.1.*\)/);
});
