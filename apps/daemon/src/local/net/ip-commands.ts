// The kernel's own tools (ip, bridge, nft, tc, sysctl) run with argument arrays — never through a
// shell — in this network namespace or, for tests and the multi-host harness, in a named one.
import { execFile } from 'node:child_process';
import { SfError } from '../../common/errors.ts';

export interface NetCommands {
  /** Runs `tool args…`; its stdout, or an error carrying the command and its stderr. */
  run(tool: NetTool, args: string[], input?: string): Promise<string>;
  /** As run, but a failure is only reported (for objects that may be gone already). */
  quiet(tool: NetTool, args: string[], input?: string): Promise<boolean>;
  /** `ip -j …` parsed. */
  json<T>(args: string[]): Promise<T[]>;
}

export type NetTool = 'ip' | 'bridge' | 'nft' | 'tc' | 'sysctl';

const HINTS: Record<NetTool, string> = {
  ip: 'install iproute2',
  bridge: 'install iproute2',
  tc: 'install iproute2',
  nft: 'install nftables (apt-get install nftables)',
  sysctl: 'install procps',
};

/** Commands run here, or inside network namespace `netns` (through `ip netns exec`). */
export function netCommands(netns: string | null = null): NetCommands {
  const exec = (tool: NetTool, args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const [file, argv] = netns ? ['ip', ['netns', 'exec', netns, tool, ...args]] : [tool, args];
      const child = execFile(file, argv, { encoding: 'utf8', timeout: 15_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        const why = missing ? `${file} is not installed: ${HINTS[tool]}` : stderr.trim() || err.message;
        reject(new SfError(missing ? 'BAD_CONFIG' : 'INTERNAL', `${tool} ${args.join(' ')}${netns ? ` (in ${netns})` : ''}: ${why}`));
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  return {
    run: exec,
    quiet: (tool, args, input) =>
      exec(tool, args, input).then(
        () => true,
        () => false,
      ),
    async json<T>(args: string[]) {
      const text = (await exec('ip', ['-j', ...args])).trim();
      return text ? (JSON.parse(text) as T[]) : [];
    },
  };
}
