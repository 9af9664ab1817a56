// Which cluster_hosts entry this sfld is (seed §11): its sfld.cfg hostname names it exactly, or resolves to
// the same address as the entry's name. The entries this host can know of are the secrets sfmd wrote (one
// file per cluster_hosts name, copied here by the admin); the match gives the name sfmd knows it by.
import { existsSync, readdirSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { SfError } from '../common/errors.ts';
import { hostSecretPath, type SnowflockPaths } from '../common/paths.ts';

/** Every IPv4 address a name stands for (itself for an address); none when it does not resolve. */
export type ResolveAll = (name: string) => Promise<string[]>;

export const resolveAllIPv4: ResolveAll = async (name) =>
  (await lookup(name, { family: 4, all: true }).catch(() => [])).map((a) => a.address);

const SECRET = /^(.+)\.secret$/;

/**
 * The cluster_hosts name of the host sfld.cfg calls `hostname`: that name when its secret is here, else the
 * one name among the secrets here that resolves to an address `hostname` resolves to. When none does, the
 * configured name stands (and the missing secret is reported with it); two matches are a config error.
 */
export async function hostIdentity(hostname: string, paths: SnowflockPaths, resolve: ResolveAll = resolveAllIPv4): Promise<string> {
  if (existsSync(hostSecretPath(paths, hostname))) return hostname;
  const mine = new Set(await resolve(hostname));
  if (mine.size === 0 || !existsSync(paths.secretsDir)) return hostname;
  const names = readdirSync(paths.secretsDir)
    .map((f) => SECRET.exec(f)?.[1])
    .filter((n): n is string => n !== undefined);
  const matches: string[] = [];
  for (const name of names) if ((await resolve(name)).some((a) => mine.has(a))) matches.push(name);
  if (matches.length > 1) {
    throw new SfError(
      'BAD_CONFIG',
      `sfld.cfg hostname '${hostname}' resolves to the address of several cluster_hosts entries (${matches.join(', ')}): ` +
        'set hostname to the one this host is',
    );
  }
  return matches[0] ?? hostname;
}
