// `sf config check FILE`: reads an sfmd.cfg, sfld.cfg or sfseed.cfg with the parser of the daemon (or
// command) that uses it and starts nothing; a problem is reported with its file, line and key, exit 3.
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { checkDiskImage, loadSfldConfig, loadSfmdConfig, loadSfseedConfig, parsePyLiteralFile } from '../../common/config/index.ts';
import { SfError } from '../../common/errors.ts';
import type { Command } from '../command.ts';
import { formatBytes } from '../output.ts';

export const CONFIG_KINDS = ['sfmd', 'sfld', 'sfseed'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

/** A setting only one kind of file has: how a file not named like its kind is recognised. */
const TELLING_KEYS: [string, ConfigKind][] = [
  ['cluster_hosts', 'sfmd'],
  ['master_listen_port', 'sfmd'],
  ['hostname', 'sfld'],
  ['master_host', 'sfld'],
  ['memory', 'sfseed'],
  ['kernel', 'sfseed'],
  ['disk_image', 'sfseed'],
];

/** Which config `file` is: its name first (sfmd.cfg, node2-sfld.cfg, align-seed.cfg), else its settings. */
export async function detectConfigKind(file: string): Promise<ConfigKind> {
  const name = path.basename(file).toLowerCase();
  if (name.includes('sfmd')) return 'sfmd';
  if (name.includes('sfld')) return 'sfld';
  if (name.includes('seed')) return 'sfseed';
  let keys: Set<string>;
  try {
    keys = new Set(parsePyLiteralFile(await readFile(file, 'utf8'), file).keys());
  } catch {
    keys = new Set(); // unreadable or not Python: the parser of whichever kind is asked for says so with a line
  }
  const found = TELLING_KEYS.find(([key]) => keys.has(key));
  if (!found) {
    throw new SfError(
      'BAD_INPUT',
      `cannot tell which config ${file} is (none of ${TELLING_KEYS.map(([k]) => k).join(', ')}): pass --kind sfmd|sfld|sfseed`,
    );
  }
  return found[1];
}

/** Parses `file` as `kind` exactly as its reader does; throws BAD_CONFIG naming file:line and key. */
async function checkConfig(file: string, kind: ConfigKind): Promise<{ config: unknown; summary: string }> {
  if (kind === 'sfmd') {
    const c = await loadSfmdConfig(file);
    const ram = c.clusterHosts.reduce((sum, h) => sum + h.ram, 0);
    const cpus = c.clusterHosts.reduce((sum, h) => sum + h.cpus, 0);
    return {
      config: c,
      summary: `${c.clusterHosts.length} host${c.clusterHosts.length === 1 ? '' : 's'} (${cpus} cpus, ${formatBytes(ram)}), port ${c.masterListenPort}, allocator ${c.allocator}`,
    };
  }
  if (kind === 'sfld') {
    const c = await loadSfldConfig(file);
    return { config: c, summary: `host ${c.hostname}, sfmd at ${c.masterHost}:${c.masterPort}` };
  }
  const c = await loadSfseedConfig(file);
  // What sfseed checks before it asks sfmd: a flat guest's data disk must be there and usable.
  if (c.kernel && c.diskImage) await checkDiskImage(c.diskImage, `${file}: disk_image`);
  return {
    config: c,
    summary: `${c.vcpus} vcpu${c.vcpus === 1 ? '' : 's'}, ${c.memoryMiB} MiB, ${c.kernel ? `kernel ${c.kernel}` : `disk ${c.diskImage}`}`,
  };
}

export const config: Command = {
  name: 'config',
  summary: 'Check a config file (sfmd.cfg, sfld.cfg or an sfseed.cfg) without starting anything.',
  usage: 'sf config check FILE [--kind sfmd|sfld|sfseed] [--json]',
  description:
    'Reads FILE with the parser its daemon (or sfseed) uses. Which kind it is comes from --kind, else its name, else ' +
    'its settings. Exit 0 when it is valid; otherwise the message names the file, line and key, exit 3 (BAD_CONFIG).',
  options: { kind: { type: 'string', value: 'KIND', choices: CONFIG_KINDS, description: 'which config FILE is (default: guessed)' } },
  args: [['check'], 'file'],
  examples: ['sf config check ~/.snowflock/sfmd.cfg', 'sf config check node2.cfg --kind sfld', 'sf config check align.cfg --json'],
  async run(ctx, args, values) {
    if (args[0] !== 'check') throw new SfError('BAD_INPUT', `unknown action '${args[0] ?? ''}': use sf config check FILE`);
    if (!args[1]) throw new SfError('BAD_INPUT', 'missing FILE: sf config check FILE (an sfmd.cfg, sfld.cfg or sfseed.cfg)');
    const file = args[1];
    let kind: ConfigKind;
    if (typeof values.kind === 'string') {
      if (!(CONFIG_KINDS as readonly string[]).includes(values.kind)) {
        throw new SfError('BAD_INPUT', `--kind must be one of ${CONFIG_KINDS.join(', ')}, got '${values.kind}'`);
      }
      kind = values.kind as ConfigKind;
    } else kind = await detectConfigKind(file);
    const { config: parsed, summary } = await checkConfig(file, kind);
    ctx.out.result({ ok: true, file: path.resolve(file), kind, config: parsed }, () => `${file}: a valid ${kind}.cfg: ${summary}`);
  },
};
