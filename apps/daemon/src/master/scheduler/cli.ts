// Runs a scheduler's command-line tool (sbatch, squeue, qsub, qstat, ...) with the configured environment and a
// time limit. A tool that is missing, hangs or fails is UNAVAILABLE with its own words and what to check.
import { execFile } from 'node:child_process';
import { SfError } from '../../common/errors.ts';

/** Long enough for a busy controller, short enough that a hung one does not hold a ticket request for long. */
export const CLI_TIMEOUT_MS = 15_000;

export interface CliOptions {
  env: Record<string, string>;
  /** What to check when the call fails, e.g. 'is slurmctld running and SLURM_CONF right?'. */
  hint: string;
  timeoutMs?: number;
}

export function runCli(command: string, args: readonly string[], opts: CliOptions): Promise<string> {
  const timeout = opts.timeoutMs ?? CLI_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: { ...process.env, ...opts.env }, timeout, maxBuffer: 32 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
        const said = `${stderr || stdout}`.trim().split('\n').slice(-3).join(' / ');
        const why =
          e.code === 'ENOENT'
            ? `${command} is not installed on the sfmd machine`
            : e.killed
              ? `${command} did not answer within ${timeout} ms`
              : `${command} ${args[0] ?? ''} failed${said ? `: ${said}` : ` (${e.message})`}`;
        reject(new SfError('UNAVAILABLE', `the batch scheduler cannot be used: ${why}; ${opts.hint}`));
      },
    );
  });
}
