// Builds everything through turbo (native addon, Prisma client, type checks, the dashboard).
// Turbo caches outputs, so a second run with nothing changed takes seconds.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { preflight } from './preflight.mjs';

const root = path.resolve(import.meta.dirname, '..');

export function build() {
  if (!preflight()) process.exit(1);
  console.error('snowflock: building (turbo run build)…');
  execFileSync(path.join(root, 'node_modules', '.bin', 'turbo'), ['run', 'build', '--output-logs=errors-only'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', NEXT_TELEMETRY_DISABLED: '1' },
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { ensureInstalled } = await import('./ensure-installed.mjs');
  ensureInstalled();
  build();
}
