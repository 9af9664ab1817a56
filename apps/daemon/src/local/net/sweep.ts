// Leftovers of an sfld that ended without cleaning up (kill -9, a crash): at start, every link it made
// (by name and alias) and its nftables tables go, since no VM of the previous run survives it.
import { NFT_TABLE, OWNER_ALIAS, parseNetName } from './names.ts';
import type { NetCommands } from './ip-commands.ts';

export interface SweepResult {
  links: string[];
  tables: number;
}

/** sfld's links here: its names, with its alias (a user's `sf1b` without the alias is left alone). */
export async function ownedLinks(cmd: NetCommands): Promise<Array<{ name: string; kind: string }>> {
  const links = await cmd.json<{ ifname: string; ifalias?: string; linkinfo?: { info_kind?: string } }>(['-d', 'link', 'show']);
  return links
    .filter((l) => l.ifalias === OWNER_ALIAS && parseNetName(l.ifname) !== null)
    .map((l) => ({ name: l.ifname, kind: parseNetName(l.ifname)!.kind }));
}

export async function sweep(cmd: NetCommands): Promise<SweepResult> {
  const links = await ownedLinks(cmd);
  // Taps and the VXLAN first: deleting a bridge releases its ports, but they would live on.
  const order = { tap: 0, vxlan: 1, router: 2, bridge: 3 } as Record<string, number>;
  links.sort((a, b) => order[a.kind]! - order[b.kind]!);
  for (const l of links) await cmd.quiet('ip', ['link', 'del', 'dev', l.name]);
  let tables = 0;
  for (const family of ['bridge', 'inet']) if (await cmd.quiet('nft', ['delete', 'table', family, NFT_TABLE])) tables++;
  return { links: links.map((l) => l.name), tables };
}
