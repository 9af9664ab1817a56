// `npm run lint`: Biome's linter and format check over the TypeScript/JavaScript (biome.json), and clang-format's
// check over native/'s C and C++ (.clang-format). `npm run format` (this with --write) rewrites files into the
// style instead. A machine without clang-format skips the C/C++ half and says so.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { onPath } from './preflight.mjs';

const root = path.resolve(import.meta.dirname, '..');
const BIOME_PATHS = ['apps', 'native/lib', 'scripts', 'bench', 'prisma', 'clients'];
const CLANG_DIRS = ['native/src', 'native/test', 'native/guest'];
/** The clang-format release whose layout the tree is in (`.ci/run` installs Debian 12's). */
const CLANG_FORMAT_MAJOR = 14;
const CLANG_EXT = /\.(c|cc|cpp|cxx|h|hh|hpp|hxx)$/;
const SKIP_DIRS = new Set(['node_modules', 'build', 'build-cmake', '.git']);

function listFiles(dir, found = []) {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) listFiles(full, found);
    } else if (CLANG_EXT.test(entry.name)) {
      found.push(path.relative(root, full));
    }
  }
  return found;
}

/** Biome: lint (warnings count as failures, so findings cannot pile up) and format check, or format --write. */
function runBiome(write) {
  const biome = path.join(root, 'node_modules', '.bin', 'biome');
  if (!existsSync(biome)) {
    console.error('lint: Biome is not installed; run npm ci (npm test and npm start install it)');
    return 1;
  }
  const args = write ? ['format', '--write', ...BIOME_PATHS] : ['check', '--error-on-warnings', ...BIOME_PATHS];
  return spawnSync(biome, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
}

/**
 * clang-format over native/ in batches (argument lists stay short): -i to write; to check, --dry-run -Werror, with the
 * files that differ listed by name (its own report is one diagnostic per difference, thousands on a big change).
 */
function runClangFormat(write) {
  if (!onPath('clang-format')) {
    console.error('lint: SKIP the C/C++ format check: clang-format is not installed (apt-get install clang-format)');
    return 0;
  }
  // Each clang-format release lays out the same style a little differently: check and write only with the one the
  // tree is formatted with, or a machine with another would fail the check (or rewrite files) over nothing.
  const version = spawnSync('clang-format', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const major = Number(/version (\d+)\./.exec(version)?.[1]);
  if (major !== CLANG_FORMAT_MAJOR) {
    console.error(
      `lint: SKIP the C/C++ format check: the tree is formatted with clang-format ${CLANG_FORMAT_MAJOR} ` +
        `(Debian 12's), this machine has ${Number.isNaN(major) ? 'an unknown version' : major}`,
    );
    return 0;
  }
  const files = CLANG_DIRS.flatMap((d) => listFiles(path.join(root, d))).sort();
  const unformatted = new Set();
  let status = 0;
  for (let i = 0; i < files.length; i += 100) {
    const batch = files.slice(i, i + 100);
    const args = write ? ['-i', ...batch] : ['--dry-run', '-Werror', '--ferror-limit=1', ...batch];
    const r = spawnSync('clang-format', args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
    const before = unformatted.size;
    for (const m of (r.stderr ?? '').matchAll(/^(.+?):\d+:\d+: (?:error|warning): code should be clang-formatted/gm)) {
      unformatted.add(m[1]);
    }
    // Anything else (a bad .clang-format, a crash) is shown as it came.
    if (r.status !== 0 && unformatted.size === before) process.stderr.write(r.stderr ?? '');
    status ||= r.status ?? 1;
  }
  if (write) return status;
  if (unformatted.size > 0) {
    const names = [...unformatted];
    const shown = names.slice(0, 15).join(', ') + (names.length > 15 ? `, and ${names.length - 15} more` : '');
    console.error(
      `lint: ${names.length} of ${files.length} C/C++ files differ from .clang-format's style (clang-format --dry-run FILE shows where): ${shown}`,
    );
  } else {
    console.error(`lint: clang-format: ${files.length} C/C++ files ${status ? 'could not be checked' : 'are formatted'}`);
  }
  return status;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const write = process.argv.includes('--write');
  const biome = runBiome(write);
  const clang = runClangFormat(write);
  if (!write && (biome || clang)) {
    console.error('lint: FAILED; npm run format fixes formatting, npx biome check --write the safe lint fixes');
  }
  process.exit(biome || clang);
}
