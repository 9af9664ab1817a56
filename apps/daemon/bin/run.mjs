// Shared by every bin: loads TypeScript through tsx, runs the CLI, exits with its code once
// stdout has drained (keep-alive sockets of the API client must not hold the process open).
import { register } from 'tsx/esm/api';

export async function run(argv) {
  register();
  const { main } = await import('../src/cli/main.ts');
  const code = await main(argv);
  process.stdout.write('', () => process.exit(code));
}
