// `sf completion bash|zsh|fish`: prints the shell's completion script for sf and the classic tools,
// generated from the command table it is given (main.ts's, which lists this command too).
import type { Command } from '../command.ts';
import { completionScript, SHELLS } from '../completion.ts';

export function completionCommand(table: () => readonly Command[]): Command {
  return {
    name: 'completion',
    summary: 'Print a shell completion script for sf and the classic tools (bash, zsh or fish).',
    usage: 'sf completion bash|zsh|fish',
    description:
      'Completes commands, their options and the values of those (formats, files, domain and cluster ids: the ids are ' +
      'asked of sfmd with sf state/sf clusters while you complete).',
    args: [SHELLS],
    examples: [
      'source <(sf completion bash)        # in ~/.bashrc',
      'source <(sf completion zsh)         # in ~/.zshrc, after compinit',
      'sf completion fish > ~/.config/fish/completions/sf.fish',
    ],
    async run(_ctx, args) {
      process.stdout.write(completionScript(args[0] ?? '', table()));
    },
  };
}
