// `npm test`: install and build what is needed, then run every test file of the repository in one
// node:test run (one summary for CI to count). Extra arguments filter test files by substring. A full run also
// checks the import graph for cycles and runs the linter and format checks first; a failed check fails the run at
// the end, after the tests.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ensureInstalled } from './ensure-installed.mjs';
import { build } from './build.mjs';

const root = path.resolve(import.meta.dirname, '..');
const SKIP_DIRS = new Set(['node_modules', '.next', '.turbo', 'build', 'generated', '.git']);

function findTests(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) findTests(path.join(dir, entry.name), found);
    } else if (/\.test\.(ts|mts|mjs)$/.test(entry.name)) {
      found.push(path.relative(root, path.join(dir, entry.name)));
    }
  }
  return found;
}

/** Whole-tree checks of a full run: [name, exit status]; they run before the tests, their verdict comes after. */
function runChecks() {
  const checks = [
    ['import cycles and core rooms', [path.join(root, 'scripts', 'import-cycles.mjs'), root]],
    ['lint and format', [path.join(root, 'scripts', 'lint.mjs')]],
  ];
  return checks.map(([name, argv]) => {
    console.error(`snowflock: checking ${name}`);
    const r = spawnSync(process.execPath, argv, { cwd: root, stdio: 'inherit' });
    return [name, r.status ?? 1];
  });
}

ensureInstalled();
if (!process.env.SNOWFLOCK_SKIP_BUILD) build();
const args = process.argv.slice(2);
const filters = args.filter((a) => a !== 'ctest');
const files = ['prisma', 'native', 'apps', 'scripts', 'clients']
  .flatMap((d) => findTests(path.join(root, d)))
  // No arguments: everything. `ctest` alone: only the C++ suite. Other words select node test files.
  .filter((f) => (filters.length === 0 ? !args.includes('ctest') : filters.some((flt) => f.includes(flt))))
  .sort();

/** The guest SDK's host-side checks (libc, malloc, libsf, the examples' algorithms). */
function runGuestChecks() {
  const r = spawnSync('make', ['-s', '-C', path.join(root, 'native', 'guest'), 'check'], { stdio: 'inherit' });
  return r.status ?? 1;
}

/** The C++ core's googletest suite, through CMake and ctest (skipped, with the reason, without cmake or googletest). */
function runCoreTests() {
  if (!existsSync(path.join(root, 'native', 'CMakeLists.txt'))) return 0;
  const cmake = spawnSync('cmake', ['--version'], { stdio: 'ignore' });
  if (cmake.status !== 0) {
    console.error('snowflock: SKIP C++ core tests: cmake is not installed (apt-get install cmake libgtest-dev)');
    return 0;
  }
  // native/CMakeLists.txt uses an installed GTest package or compiles Debian's source tree; without either, skip.
  if (!existsSync('/usr/include/gtest/gtest.h') && !existsSync('/usr/src/googletest')) {
    console.error('snowflock: SKIP C++ core tests: googletest is not installed (apt-get install libgtest-dev)');
    return 0;
  }
  const native = path.join(root, 'native');
  const steps = [
    ['cmake', ['-S', '.', '-B', 'build-cmake', '-DCMAKE_BUILD_TYPE=Release']],
    ['cmake', ['--build', 'build-cmake', '-j2']],
    ['ctest', ['--test-dir', 'build-cmake', '--output-on-failure']],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { cwd: native, stdio: cmd === 'ctest' ? 'inherit' : ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) return r.status ?? 1;
  }
  return 0;
}

const checks = args.length === 0 ? runChecks() : [];
const coreStatus = args.length === 0 || args.includes('ctest') ? runGuestChecks() || runCoreTests() : 0;
let testStatus = 0;
if (files.length > 0) {
  console.error(`snowflock: running ${files.length} test files`);
  // A whole test file counts as one test for this limit: files of several KVM cases need room on a busy 2-core machine.
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', ...files], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SNOWFLOCK_LOG_LEVEL: process.env.SNOWFLOCK_LOG_LEVEL ?? 'warn' },
  });
  testStatus = result.status ?? 1;
}
const failedChecks = checks.filter(([, status]) => status !== 0).map(([name]) => name);
if (failedChecks.length > 0) {
  console.error(
    `snowflock: FAILED check(s): ${failedChecks.join(', ')} (their output is above the tests'; ` +
      'node scripts/import-cycles.mjs and npm run lint rerun them)',
  );
}
process.exit(coreStatus || testStatus || (failedChecks.length > 0 ? 1 : 0));
