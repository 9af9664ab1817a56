// The example guests the seed form offers: each native/guest/examples/NAME/NAME.cfg read with the same
// parser sfseed uses, its kernel resolved, whether it is built, and the first sentence of its source's
// header comment as a description. sfmd answers because its paths are the hosts' paths on one machine.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSfseedConfig } from '../common/config/index.ts';

export const EXAMPLES_DIR = fileURLToPath(new URL('../../../../native/guest/examples/', import.meta.url));

export interface ExampleGuest {
  name: string;
  description: string;
  kernel: string;
  built: boolean;
  vcpus: number;
  memoryMiB: number;
  args: string;
}

/** "hello — the smallest flat guest: greets …; with …" → "the smallest flat guest: greets …". */
export function describeFromSource(source: string): string {
  const comment = /^\s*\/\*([\s\S]*?)\*\//.exec(source)?.[1] ?? '';
  const text = comment
    .split('\n')
    .map((l) => l.replace(/^\s*\*?\s?/, ''))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  const afterName = text.replace(/^[\w-]+\s+—\s+/, '');
  const sentence = /^(.*?[.;])(\s|$)/.exec(afterName)?.[1] ?? afterName;
  return sentence.replace(/[.;]$/, '');
}

export async function listExampleGuests(dir = EXAMPLES_DIR): Promise<ExampleGuest[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return []; // an installation without the examples: the form still takes a kernel path
  }
  const guests: ExampleGuest[] = [];
  for (const name of names) {
    const cfg = path.join(dir, name, `${name}.cfg`);
    if (!existsSync(cfg)) continue; // common/ holds shared code, not a guest
    try {
      const seed = await loadSfseedConfig(cfg);
      if (!seed.kernel) continue;
      const source = await readFile(path.join(dir, name, 'main.c'), 'utf8').catch(() => '');
      guests.push({
        name: seed.name ?? name,
        description: describeFromSource(source),
        kernel: seed.kernel,
        built: existsSync(seed.kernel),
        vcpus: seed.vcpus,
        memoryMiB: seed.memoryMiB,
        args: seed.args ?? '',
      });
    } catch {
      // A broken example config must not hide the others; sfseed reports it with its line when used.
    }
  }
  return guests;
}
