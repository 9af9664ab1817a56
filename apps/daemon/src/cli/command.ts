// The shape of a CLI command: its names (sf NAME and the classic binary), help text with examples,
// its own options, and run(). Global options are shared by all and listed once here.
import type { CommandContext } from './context.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  value?: string;
  /** The values it takes, when they are a fixed few (shell completion offers them). */
  choices?: readonly string[];
}

/**
 * What a positional argument is, for shell completion: fixed words, a file, a domain (CLUSTER:VMID) or a
 * cluster id (the last two asked of sfmd when the completion runs).
 */
export type ArgKind = readonly string[] | 'file' | 'domain' | 'cluster';

export interface Command {
  name: string;
  /** The classic SnowFlock binary that runs this command, e.g. 'sfstate'. */
  classic?: string;
  summary: string;
  usage: string;
  description?: string;
  options?: Record<string, OptionSpec>;
  /** Its positional arguments in order, for shell completion. */
  args?: readonly ArgKind[];
  examples: string[];
  // biome-ignore lint/suspicious/noConfusingVoidType: a command may end without a value (exit 0); Promise<void> bodies must fit
  run(ctx: CommandContext, args: string[], values: Record<string, string | boolean | undefined>): Promise<number | void>;
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print one JSON document instead of text (the same as --format json)' },
  format: {
    type: 'string',
    value: 'FMT',
    choices: ['json', 'yaml', 'table'],
    description: 'json, yaml or table (the default: text for people)',
  },
  home: { type: 'string', value: 'DIR', description: 'data directory (default $SNOWFLOCK_HOME or ~/.snowflock)' },
  url: { type: 'string', value: 'URL', description: "sfmd's address (default from $SNOWFLOCK_URL or the configs)" },
  token: { type: 'string', value: 'TOKEN', description: 'API token (default $SNOWFLOCK_TOKEN or $SNOWFLOCK_HOME/admin.token)' },
  domain: { type: 'string', value: 'C:V', description: 'the domain a guest-side call acts for, e.g. 1:0 (outside a VM)' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

function optionLines(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    return `  ${flag.padEnd(26)} ${spec.description}`;
  });
}

export function commandHelp(command: Command): string {
  return [
    `${command.summary}`,
    '',
    `Usage: ${command.usage}`,
    ...(command.description ? ['', command.description] : []),
    ...(command.options ? ['', 'Options:', ...optionLines(command.options)] : []),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Examples:',
    ...command.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}
