// `sf <command>` and the classic binaries (sfstate, sfseed, …): parse options, find the command,
// run it, map any error to its exit code. `sf help` lists everything.
import { parseArgs } from 'node:util';
import { SfError } from '../common/errors.ts';
import { SNOWFLOCK_VERSION } from '../common/version.ts';
import { GLOBAL_OPTIONS, commandHelp, type Command } from './command.ts';
import { adminCommands } from './commands/admin.ts';
import { daemonCommands } from './commands/daemons.ts';
import { guestCommands } from './commands/guest.ts';
import { guest } from './commands/guest-build.ts';
import { web } from './commands/web.ts';
import { consoleCommand } from './commands/console.ts';
import { doctor } from './commands/doctor.ts';
import { events } from './commands/events.ts';
import { completionCommand } from './commands/completion.ts';
import { config } from './commands/config.ts';
import { viewCommands } from './commands/views.ts';
import { fingerprint } from './commands/fingerprint.ts';
import { installUnits } from './commands/install-units.ts';
import { mpirun } from './commands/mpirun.ts';
import { token } from './commands/token.ts';
import { createCommandContext } from './context.ts';
import { resolveFormat } from './formats.ts';
import { reportError } from './output.ts';

export const COMMANDS: Command[] = [
  ...daemonCommands,
  web,
  installUnits,
  ...adminCommands,
  ...viewCommands,
  events,
  token,
  doctor,
  fingerprint,
  consoleCommand,
  ...guestCommands,
  guest,
  mpirun,
  config,
  completionCommand(() => COMMANDS),
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || c.classic === name);
}

function overview(): string {
  return [
    `Snowflock ${SNOWFLOCK_VERSION}: clone running VMs into impromptu clusters.`,
    '',
    'Usage: sf COMMAND [ARGS] [--json|--format json|yaml|table] [--help]   (each command also has its classic name)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${(c.classic && c.classic !== c.name ? c.classic : '').padEnd(11)} ${c.summary}`),
    '',
    'Start here: npm start (sfmd + sfld + dashboard), then sfstate.',
    'Help on one command: sf COMMAND --help',
    '',
  ].join('\n');
}

function machineFormatAsked(args: string[]): boolean {
  const at = args.findIndex((a) => a === '--format' || a.startsWith('--format='));
  if (at < 0) return false;
  const value = args[at] === '--format' ? args[at + 1] : args[at]!.slice('--format='.length);
  return value === 'json' || value === 'yaml';
}

/** Runs one command line; returns the exit code. `argv[0]` is the command (or classic binary) name. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' && rest[0] ? findCommand(rest[0]) : undefined;
    process.stdout.write(topic ? commandHelp(topic) : overview());
    return 0;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`${SNOWFLOCK_VERSION}\n`);
    return 0;
  }
  // Before parsing: an error while parsing is still reported in the form the caller asked for.
  const json = rest.includes('--json') || machineFormatAsked(rest);
  const command = findCommand(name);
  if (!command) return reportError(new SfError('BAD_INPUT', `unknown command '${name}': see sf help`), json);
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries({ ...GLOBAL_OPTIONS, ...command.options }).map(([key, spec]) => [
          key,
          { type: spec.type, ...(spec.short ? { short: spec.short } : {}) },
        ]),
      ),
    });
    if (values.help === true) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    const format = resolveFormat(values.format, values.json === true);
    const ctx = createCommandContext({
      json: format !== 'table',
      format,
      home: values.home as string | undefined,
      url: values.url as string | undefined,
      token: values.token as string | undefined,
      domain: values.domain as string | undefined,
    });
    return (await command.run(ctx, positionals, values as Record<string, string | boolean | undefined>)) ?? 0;
  } catch (err) {
    const error =
      err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')
        ? new SfError('BAD_INPUT', `${err.message} (see ${command.classic ?? `sf ${command.name}`} --help)`)
        : err;
    return reportError(error, json);
  }
}
