// Makes a link and marks it sfld's (the alias the start-up sweep looks for) in one `ip -batch` process:
// a SIGKILLed sfld's child ip still finishes both lines, so no unmarked link of ours outlives it.
import type { NetCommands } from './ip-commands.ts';
import { OWNER_ALIAS } from './names.ts';

/** `ip ADD…` then the alias on every link in `names`; names never hold whitespace (names.ts makes them). */
export async function addOwnedLink(cmd: NetCommands, add: string[], names: string[]): Promise<void> {
  const lines = [add.join(' '), ...names.map((name) => `link set dev ${name} alias ${OWNER_ALIAS}`)];
  await cmd.run('ip', ['-batch', '-'], `${lines.join('\n')}\n`);
}
